// tether/io/net/unix_listener.hpp
//
// A listening Unix-domain socket, with TcpListener's connection bound and EMFILE back-off.
//
//   UnixListener   bind(path); accept()
//
// When to use something else: TcpListener for the network.
//
// Thread safety: confined to one accepting task.
// Lifetime: the socket file is removed when the listener is destroyed (if it created it).
// Example: tests/io/unix_stream_test.cpp
#pragma once

#include <string>

#include "tether/core/task.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/net/unix_stream.hpp"

namespace tether::io {

class UnixListener : public ListenerSocket {
 public:
  UnixListener() noexcept = default;
  UnixListener(UnixListener&& o) noexcept = default;
  UnixListener& operator=(UnixListener&& o) noexcept;
  ~UnixListener();

  // Binds `path` ('@name': abstract namespace). A stale socket file left by a dead process is
  // replaced when `remove_stale` is set. Throws io::Error (kAddressInUse, ...).
  static UnixListener bind(std::string path, ListenOptions opts = {}, bool remove_stale = true);

  // accept()
  //
  // As TcpListener::accept(). Throws: io::Error, TimedOut("accept on <path>"), Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] Task<UnixStream> accept(Deadline deadline);
  [[nodiscard]] Task<UnixStream> accept();

  const std::string& path() const noexcept { return path_; }

 private:
  UnixListener(int fd, const ListenOptions& opts, std::string path)
      : ListenerSocket(fd, opts), path_(std::move(path)) {}
  std::string path_;  // empty once moved from
};

}  // namespace tether::io
