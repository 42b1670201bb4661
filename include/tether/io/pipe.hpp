// tether/io/pipe.hpp
//
// The two ends of an OS pipe as async streams, with deadlines: a child process's stdin, stdout and
// stderr (process.hpp), or a pipe of your own.
//
//   PipeReader   read, read_exact, read_to_end
//   PipeWriter   write, write_all, close (the reader then sees end of stream)
//   pipe()       a connected pair
//
// Writing to a pipe whose reader is gone is io::Error kConnectionReset (EPIPE): the I/O layer sets
// SIGPIPE to ignored when it first creates a pipe (if it was at its default), as Rust and Go do.
//
// Thread safety: confined to one task at a time.
// Lifetime: destroying an end closes it; REQUIRES no operation in flight.
// Example: examples/io/subprocess.cpp
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/io_op.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

class PipeReader {
 public:
  PipeReader() noexcept = default;
  // Adopts the read end `fd`; `label` names it in errors ("stdout of pid 42").
  PipeReader(int fd, std::string label) : io_(fd, ::tether::detail::FdKind::kPipe, std::move(label)) {}

  // Returns: bytes read, 0 at end of stream | Throws: io::Error, TimedOut, Cancelled
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] IoOp<std::size_t> read(MutableBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "read");
  }
  [[nodiscard]] IoOp<std::size_t> read(MutableBuffer buf) { return IoOp<std::size_t>(io_, buf, timeout_, "read"); }
  // Throws io::Error kUnexpectedEof if the pipe ends first.
  // Cancellation: Not cancel-safe: bytes already read are lost; use read().
  [[nodiscard]] IoOp<void> read_exact(MutableBuffer buf, Deadline deadline) {
    return IoOp<void>(io_, buf, deadline, "read");
  }
  // Everything until end of stream, at most `limit` bytes (io::Error beyond it).
  // Cancellation: Not cancel-safe: what was read so far is lost.
  [[nodiscard]] Task<std::string> read_to_end(Deadline deadline, std::size_t limit = 64u << 20);

  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  int native_handle() const noexcept { return io_.fd(); }
  void close() noexcept { io_.close(); }

 private:
  ::tether::detail::AsyncFd io_;
  IoTimeout timeout_;
};

class PipeWriter {
 public:
  PipeWriter() noexcept = default;
  PipeWriter(int fd, std::string label) : io_(fd, ::tether::detail::FdKind::kPipe, std::move(label)) {}

  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] IoOp<std::size_t> write(ConstBuffer buf, Deadline deadline) {
    return IoOp<std::size_t>(io_, buf, deadline, "write");
  }
  [[nodiscard]] IoOp<std::size_t> write(ConstBuffer buf) { return IoOp<std::size_t>(io_, buf, timeout_, "write"); }
  // Cancellation: Not cancel-safe: a prefix may have been written; use write().
  [[nodiscard]] IoOp<void> write_all(ConstBuffer buf, Deadline deadline) {
    return IoOp<void>(io_, buf, deadline, "write");
  }
  [[nodiscard]] IoOp<void> write_all(ConstBuffer buf) { return IoOp<void>(io_, buf, timeout_, "write"); }

  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  int native_handle() const noexcept { return io_.fd(); }
  // Closes the write end: the reader sees end of stream.
  void close() noexcept { io_.close(); }

 private:
  ::tether::detail::AsyncFd io_;
  IoTimeout timeout_;
};

// A connected pipe (both ends non-blocking, close-on-exec). Throws io::Error.
std::pair<PipeReader, PipeWriter> pipe();

namespace detail {
// Sets SIGPIPE to ignored if it is at its default (once per process).
void ignore_sigpipe_once() noexcept;
}  // namespace detail

}  // namespace tether::io
