// tether/io/io_timeout.hpp
//
// IoTimeout: the default deadline an I/O object gives the operations that are not given their own.
// Every operation on a socket, pipe, file or process takes a Deadline, or uses its object's
// IoTimeout, which by default is the runtime's RuntimeOptions::io_timeout (30 s). An object that
// may genuinely wait forever says so by name: `stream.set_timeout(IoTimeout::never())`.
// A socket or pipe read or write turns its IoTimeout into a deadline when it first has to wait
// (one that completes at once never reads the clock); later waits of the same call share it.
// Deadlines cost no timer work per wait: each socket or pipe keeps one deadline timer per direction
// armed across its waits, so a busy stream pays about one timer operation per io_timeout.
//
//   IoTimeout   runtime_default(), after(d), never(); deadline()
//
// When to use something else: a single call with its own bound takes a Deadline argument.
//
// Thread safety: a plain value.
// Example: examples/io/echo_server.cpp
#pragma once

#include <chrono>

#include "tether/time/deadline.hpp"

namespace tether::io {

class IoTimeout {
 public:
  // The runtime's io_timeout, read when each operation starts (see above).
  static IoTimeout runtime_default() noexcept { return IoTimeout(Kind::kRuntime, {}); }
  template <class Rep, class Period>
  static IoTimeout after(std::chrono::duration<Rep, Period> d) noexcept {
    return IoTimeout(Kind::kAfter, std::chrono::ceil<std::chrono::milliseconds>(d));
  }
  // No default bound: operations without their own deadline may wait forever.
  static IoTimeout never() noexcept { return IoTimeout(Kind::kNever, {}); }

  IoTimeout() noexcept : IoTimeout(Kind::kRuntime, {}) {}

  // The deadline for an operation starting now.
  Deadline deadline() const noexcept;

 private:
  enum class Kind : unsigned char { kRuntime, kAfter, kNever };
  IoTimeout(Kind k, std::chrono::milliseconds d) noexcept : kind_(k), d_(d) {}
  Kind kind_;
  std::chrono::milliseconds d_;
};

}  // namespace tether::io
