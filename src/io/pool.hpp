// Internal; not part of the public API.
//
// on_pool(deadline, what, fn): runs blocking `fn` on the blocking pool within `deadline` (TimedOut
// names `what`). A failure inside `fn` does not travel as the thrown exception object: it is taken
// apart on the pool thread and a fresh io::Error is built on the task's side, so no exception
// object (or its reference-counted message) is shared between the two threads. (Sharing them is
// correct, but the synchronisation lives inside the uninstrumented libstdc++, so TSan reports it.)
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "tether/core/blocking.hpp"
#include "tether/core/task.hpp"
#include "tether/io/error.hpp"
#include "tether/time/timeout.hpp"

namespace tether::io::detail {

struct PoolFailure {
  ErrorKind kind = ErrorKind::kOther;
  int err = 0;
  std::string operation;
  std::string message;
};

template <class V>
struct PoolOutcome {
  std::optional<V> value;
  std::optional<PoolFailure> failure;
};

template <class Fn, class R = std::invoke_result_t<Fn&>>
Task<R> on_pool(Deadline deadline, std::string what, Fn fn) {
  using V = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  auto job = [fn = std::move(fn)]() mutable -> PoolOutcome<V> {
    PoolOutcome<V> o;
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        o.value.emplace();
      } else {
        o.value.emplace(fn());
      }
    } catch (const Error& e) {
      o.failure = PoolFailure{e.kind(), e.code().value(), std::string(e.operation()), std::string(e.what())};
    } catch (const std::exception& e) {
      o.failure = PoolFailure{ErrorKind::kOther, 0, "blocking call", std::string(e.what())};
    }
    return o;
  };
  PoolOutcome<V> o = co_await timeout_at(deadline, spawn_blocking(std::move(job)), std::move(what));
  if (o.failure)
    throw Error(o.failure->kind, o.failure->err, std::move(o.failure->operation), std::move(o.failure->message));
  if constexpr (!std::is_void_v<R>) co_return std::move(*o.value);
}

}  // namespace tether::io::detail
