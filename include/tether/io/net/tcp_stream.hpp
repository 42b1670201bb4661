// tether/io/net/tcp_stream.hpp
//
// A TCP connection: connect with a deadline, read and write with deadlines, half-close, options.
//
//   TcpStream   connect(); read, read_exact, write, write_all; shutdown; nodelay; addresses
//
// Every operation takes a Deadline, or uses the stream's IoTimeout (by default the runtime's
// io_timeout); TimedOut names the operation and the peer ("timed out: read from 127.0.0.1:5000").
// Faults are io::Error with a kind: kConnectionRefused, kConnectionReset, kUnexpectedEof, ...
//
// When to use something else: BufReader/BufWriter (buffered.hpp) for line or small-message
// protocols; UnixStream for local IPC; UdpSocket for datagrams.
//
// Thread safety: confined to one task at a time; one reading task and one writing task may use a
//   stream concurrently (the two directions are independent).
// Lifetime: destroying or close()-ing the stream closes the socket; REQUIRES no operation in flight.
//   A stream accepted from a TcpListener holds one of the listener's connection slots until then.
// Example: examples/io/echo_client.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/io_op.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/io/net/socket_address.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

namespace detail {
struct ConnLimit;
// Gives a listener's connection slot back (tcp_listener.cpp).
void release_conn_slot(const std::shared_ptr<ConnLimit>& limit) noexcept;
}  // namespace detail

enum class Shutdown { kRead, kWrite, kBoth };

// Stream operations shared by TcpStream and UnixStream.
class StreamSocket {
 public:
  StreamSocket() noexcept = default;
  StreamSocket(StreamSocket&& o) noexcept = default;
  StreamSocket& operator=(StreamSocket&& o) noexcept;
  ~StreamSocket() { close(); }

  // read()
  //
  // Reads what is available, up to buf.size bytes, waiting for at least one.
  // Returns: the byte count; 0 at end of stream | Throws: io::Error, TimedOut, Cancelled
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] IoOp<std::size_t> read(MutableBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "read");
  }
  [[nodiscard]] IoOp<std::size_t> read(MutableBuffer buf) { return IoOp<std::size_t>(io_, buf, timeout_, "read"); }

  // read_exact()
  //
  // Reads exactly buf.size bytes. Throws: io::Error (kUnexpectedEof if the stream ends first),
  //   TimedOut, Cancelled.
  // Cancellation: Not cancel-safe: bytes already read into `buf` are lost to the stream; use read().
  [[nodiscard]] IoOp<void> read_exact(MutableBuffer buf, Deadline deadline) {
    return IoOp<void>(io_, buf, deadline, "read");
  }
  [[nodiscard]] IoOp<void> read_exact(MutableBuffer buf) { return IoOp<void>(io_, buf, timeout_, "read"); }

  // write()
  //
  // Writes what the socket buffer takes, at least one byte; waits while it is full (backpressure:
  // a slow reader makes the writer wait, nothing is buffered in user space).
  // Returns: the byte count | Throws: io::Error (kConnectionReset), TimedOut, Cancelled
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] IoOp<std::size_t> write(ConstBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "write");
  }
  [[nodiscard]] IoOp<std::size_t> write(ConstBuffer buf) { return IoOp<std::size_t>(io_, buf, timeout_, "write"); }

  // write_all()
  //
  // Writes all of `buf`. Throws: io::Error, TimedOut, Cancelled
  // Cancellation: Not cancel-safe: a prefix of `buf` may have been sent; use write().
  [[nodiscard]] IoOp<void> write_all(ConstBuffer buf, Deadline deadline) {
    return IoOp<void>(io_, buf, deadline, "write");
  }
  [[nodiscard]] IoOp<void> write_all(ConstBuffer buf) { return IoOp<void>(io_, buf, timeout_, "write"); }

  // Half-closes one or both directions (the peer reads end of stream after kWrite).
  void shutdown(Shutdown how = Shutdown::kWrite);
  SocketAddress peer_address() const;
  SocketAddress local_address() const;
  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  IoTimeout timeout() const noexcept { return timeout_; }
  bool is_open() const noexcept { return io_.valid(); }
  int native_handle() const noexcept { return io_.fd(); }
  // Closes the socket and gives back the listener's connection slot, if any.
  void close() noexcept;

 protected:
  StreamSocket(::tether::detail::AsyncFd io, std::shared_ptr<detail::ConnLimit> slot) noexcept
      : io_(std::move(io)), slot_(std::move(slot)) {}

  ::tether::detail::AsyncFd io_;
  IoTimeout timeout_;
  std::shared_ptr<detail::ConnLimit> slot_;
};

class TcpStream : public StreamSocket {
 public:
  TcpStream() noexcept = default;

  // connect()
  //
  // Connects to `addr`. Returns: the stream | Throws: io::Error (kConnectionRefused, ...),
  //   TimedOut("connect to <addr>"), Cancelled
  // Cancellation: Cancel-safe: nothing was consumed (the half-open socket is closed).
  static Task<TcpStream> connect(SocketAddress addr, Deadline deadline);
  static Task<TcpStream> connect(SocketAddress addr);
  // Resolves `host` and tries each address in turn, all within `deadline`.
  static Task<TcpStream> connect(std::string host, std::uint16_t port, Deadline deadline);

  void set_nodelay(bool on);
  bool nodelay() const;

  // Adopts a connected socket (made non-blocking), e.g. one inherited from a parent process.
  static TcpStream from_fd(int fd);

 private:
  friend class TcpListener;
  TcpStream(::tether::detail::AsyncFd io, std::shared_ptr<detail::ConnLimit> slot) noexcept
      : StreamSocket(std::move(io), std::move(slot)) {}
};

}  // namespace tether::io
