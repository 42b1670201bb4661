// tether/io/net/unix_stream.hpp
//
// A Unix-domain stream connection (local IPC): the same operations and deadlines as TcpStream.
//
//   UnixStream   connect(path); read, read_exact, write, write_all, shutdown (from StreamSocket)
//
// When to use something else: TcpStream across machines; a pipe for a child's stdio.
//
// Thread safety: as TcpStream: one reading and one writing task at a time.
// Lifetime: as TcpStream.
// Example: tests/io/unix_stream_test.cpp
#pragma once

#include <string>

#include "tether/core/task.hpp"
#include "tether/io/net/tcp_stream.hpp"

namespace tether::io {

class UnixStream : public StreamSocket {
 public:
  UnixStream() noexcept = default;

  // connect()
  //
  // Connects to the socket at `path` ('@name' for the abstract namespace).
  // Returns: the stream | Throws: io::Error (kNotFound, kConnectionRefused), TimedOut("connect to
  //   <path>"), Cancelled
  // Cancellation: Cancel-safe: nothing was consumed.
  static Task<UnixStream> connect(std::string path, Deadline deadline);
  static Task<UnixStream> connect(std::string path);

  // A connected pair (socketpair), e.g. to talk to a child.
  static std::pair<UnixStream, UnixStream> pair();

 private:
  friend class UnixListener;
  UnixStream(::tether::detail::AsyncFd io, std::shared_ptr<detail::ConnLimit> slot) noexcept
      : StreamSocket(std::move(io), std::move(slot)) {}
};

}  // namespace tether::io
