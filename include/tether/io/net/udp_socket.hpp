// tether/io/net/udp_socket.hpp
//
// A UDP socket: datagrams to and from any peer, or to one connected peer, each with a deadline.
//
//   Datagram    size received and the sender's address
//   UdpSocket   bind(); send_to, recv_from; connect, send, recv
//
// When to use something else: TcpStream for ordered, reliable bytes.
//
// Thread safety: confined to one task at a time (one receiving and one sending task may share it).
// Example: tests/io/udp_socket_test.cpp
#pragma once

#include <cstddef>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/io_op.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/io/net/socket_address.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

struct Datagram {
  std::size_t size = 0;  // bytes received (a longer datagram is truncated to the buffer)
  SocketAddress from;
};

class UdpSocket {
 public:
  UdpSocket() noexcept = default;

  // Binds to `addr` (port 0: any free port). Throws io::Error.
  static UdpSocket bind(SocketAddress addr);

  // Cancellation (all four): Cancel-safe: nothing was consumed.
  // Throws: io::Error, TimedOut("recv from <local addr>" / "send to <peer>"), Cancelled.
  [[nodiscard]] Task<Datagram> recv_from(MutableBuffer buf, Deadline deadline);
  [[nodiscard]] Task<Datagram> recv_from(MutableBuffer buf) { return recv_from(buf, timeout_.deadline()); }
  [[nodiscard]] Task<std::size_t> send_to(ConstBuffer buf, SocketAddress to, Deadline deadline);
  [[nodiscard]] Task<std::size_t> send_to(ConstBuffer buf, SocketAddress to) {
    return send_to(buf, std::move(to), timeout_.deadline());
  }

  // Fixes the peer: send() and recv() then talk to it only.
  void connect(const SocketAddress& peer);
  [[nodiscard]] IoOp<std::size_t> send(ConstBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "send");
  }
  [[nodiscard]] IoOp<std::size_t> recv(MutableBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "recv");
  }

  SocketAddress local_address() const;
  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  int native_handle() const noexcept { return io_.fd(); }

 private:
  explicit UdpSocket(::tether::detail::AsyncFd io) noexcept : io_(std::move(io)) {}
  ::tether::detail::AsyncFd io_;
  IoTimeout timeout_;
};

}  // namespace tether::io
