// tether/io/net/tcp_listener.hpp
//
// A listening TCP socket with a bound on concurrent connections and an accept loop that survives
// running out of file descriptors.
//
//   ListenOptions    backlog, SO_REUSEADDR / SO_REUSEPORT, max_connections
//   ListenerStats    accepted, EMFILE back-offs, waits at the connection limit
//   TcpListener      bind(); accept(); local_address()
//
// Bounded by construction: at `max_connections` live accepted streams the listener stops calling
// accept(), so a flood waits in the kernel's backlog (and beyond it, in the clients' SYN retries)
// instead of growing this process's memory. When accept() fails with EMFILE/ENFILE the listener
// logs once per episode and backs off (1 ms doubling to 100 ms) instead of spinning or failing.
//
// When to use something else: UnixListener for local IPC.
//
// Thread safety: confined to one task at a time (one accepting task); the streams it returns are
//   independent of it and may outlive it.
// Example: examples/io/echo_server.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tether/core/task.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/net/socket_address.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

struct ListenOptions {
  int backlog = 1024;
  bool reuse_address = true;  // SO_REUSEADDR: rebind at once after a restart
  bool reuse_port = false;    // SO_REUSEPORT: several listeners share the port
  // Live accepted streams at most; accept() waits for a stream to close beyond it.
  std::size_t max_connections = 10'000;
};

struct ListenerStats {
  std::uint64_t accepted = 0;
  std::uint64_t fd_exhaustion_backoffs = 0;  // accept() failed with EMFILE/ENFILE and backed off
  std::uint64_t limit_waits = 0;             // accept() waited at max_connections
  std::size_t live_connections = 0;
};

// The accept machinery shared by TcpListener and UnixListener.
class ListenerSocket {
 public:
  ListenerSocket() noexcept = default;
  ListenerSocket(ListenerSocket&&) noexcept = default;
  ListenerSocket& operator=(ListenerSocket&&) noexcept = default;

  SocketAddress local_address() const;
  ListenerStats stats() const noexcept;
  int native_handle() const noexcept { return io_.fd(); }
  void close() noexcept { io_.close(); }

 protected:
  ListenerSocket(int fd, const ListenOptions& opts);
  // Waits for a connection slot, then for a connection. Returns the accepted fd.
  Task<int> accept_fd(Deadline deadline, std::shared_ptr<detail::ConnLimit>& slot);

  ::tether::detail::AsyncFd io_;
  std::shared_ptr<detail::ConnLimit> limit_;
};

class TcpListener : public ListenerSocket {
 public:
  TcpListener() noexcept = default;

  // Binds and listens on `addr` (port 0 picks a free port; see local_address()). Throws io::Error
  // (kAddressInUse, kPermissionDenied, ...).
  static TcpListener bind(SocketAddress addr, ListenOptions opts = {});

  // accept()
  //
  // Waits for a connection slot (max_connections) and an incoming connection.
  // Returns: the connected stream (TCP_NODELAY off) | Throws: io::Error, TimedOut("accept on
  //   <addr>"), Cancelled. EMFILE/ENFILE never escape: the listener backs off until fds free up
  //   or the deadline passes.
  // Cancellation: Cancel-safe: nothing was consumed (a connection not yet accepted stays queued).
  // A server's accept loop usually waits without bound: accept(Deadline::never()).
  [[nodiscard]] Task<TcpStream> accept(Deadline deadline);
  [[nodiscard]] Task<TcpStream> accept();

 private:
  using ListenerSocket::ListenerSocket;
};

}  // namespace tether::io
