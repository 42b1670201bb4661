// tether/io/buffered.hpp
//
// Buffered reading and writing over any tether stream (TcpStream, UnixStream, PipeReader/Writer):
// fewer syscalls for small messages, and line reading with a bound on the line length.
//
//   AsyncReadStream / AsyncWriteStream   the concepts a stream satisfies
//   BufReader<S>    read, read_exact, read_line (bounded), from a fixed-size buffer
//   BufWriter<S>    write (buffers), flush; a full buffer is flushed first (backpressure)
//
// Both buffers have a fixed capacity chosen at construction: nothing here grows without bound.
// Each call takes a Deadline or uses the helper's IoTimeout (the runtime's io_timeout by default).
//
// When to use something else: large transfers go straight to the stream's read/write_all.
//
// Thread safety: confined to one task at a time.
// Lifetime: holds a reference to the stream, which must outlive it. A BufWriter destroyed with
//   unflushed bytes drops them: flush() first.
// Example: examples/io/echo_client.cpp
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/error.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

template <class S>
concept AsyncReadStream = requires(S& s, MutableBuffer b, Deadline d) {
  { s.read(b, d) } -> std::convertible_to<Task<std::size_t>>;
};

template <class S>
concept AsyncWriteStream = requires(S& s, ConstBuffer b, Deadline d) {
  { s.write_all(b, d) } -> std::convertible_to<Task<void>>;
};

template <AsyncReadStream S>
class BufReader {
 public:
  explicit BufReader(S& stream, std::size_t capacity = 8192) : s_(stream), buf_(std::max<std::size_t>(capacity, 16)) {}
  BufReader(const BufReader&) = delete;
  BufReader& operator=(const BufReader&) = delete;

  // Returns buffered bytes if any, else reads once from the stream (straight into `out` if it is
  // at least as large as the buffer). Returns: bytes, 0 at end of stream.
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] Task<std::size_t> read(MutableBuffer out, Deadline deadline) {
    if (pos_ == end_) {
      if (out.size >= buf_.size()) co_return co_await s_.read(out, deadline);
      if (!co_await fill(deadline)) co_return 0;
    }
    std::size_t n = std::min(out.size, end_ - pos_);
    std::memcpy(out.data, buf_.data() + pos_, n);
    pos_ += n;
    co_return n;
  }
  [[nodiscard]] Task<std::size_t> read(MutableBuffer out) { return read(out, timeout_.deadline()); }

  // Exactly out.size bytes. Throws io::Error kUnexpectedEof if the stream ends first.
  // Cancellation: Not cancel-safe: bytes already copied are lost.
  [[nodiscard]] Task<void> read_exact(MutableBuffer out, Deadline deadline) {
    auto* p = static_cast<char*>(out.data);
    std::size_t got = 0;
    while (got < out.size) {
      std::size_t n = co_await read(MutableBuffer(p + got, out.size - got), deadline);
      if (n == 0)
        throw Error(ErrorKind::kUnexpectedEof, "read_exact",
                    std::to_string(got) + " of " + std::to_string(out.size) + " bytes");
      got += n;
    }
  }

  // read_line()
  //
  // Reads up to and including '\n' and stores the line without it (and without a '\r' before it).
  // Returns: true with a line; false at end of stream with nothing pending (a last line without
  //   '\n' is returned as a line) | Throws: io::Error (kOther: longer than max_line), TimedOut,
  //   Cancelled.
  // Cancellation: Not cancel-safe: the part of the line already read is lost; to bound a line
  //   read, pass a deadline rather than cancelling.
  [[nodiscard]] Task<bool> read_line(std::string& line, Deadline deadline, std::size_t max_line = 64 << 10) {
    line.clear();
    for (;;) {
      const char* start = buf_.data() + pos_;
      const void* nl = std::memchr(start, '\n', end_ - pos_);
      if (nl) {
        std::size_t n = static_cast<const char*>(nl) - start;
        line.append(start, n);
        pos_ += n + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        co_return true;
      }
      line.append(start, end_ - pos_);
      pos_ = end_;
      if (line.size() > max_line)
        throw Error(ErrorKind::kOther, "read_line", "line longer than " + std::to_string(max_line) + " bytes");
      if (!co_await fill(deadline)) co_return !line.empty();
    }
  }
  [[nodiscard]] Task<bool> read_line(std::string& line) { return read_line(line, timeout_.deadline()); }

  std::size_t buffered() const noexcept { return end_ - pos_; }
  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  S& get() noexcept { return s_; }

 private:
  // Refills an empty buffer; false at end of stream.
  Task<bool> fill(Deadline deadline) {
    pos_ = end_ = 0;
    std::size_t n = co_await s_.read(MutableBuffer(buf_.data(), buf_.size()), deadline);
    end_ = n;
    co_return n != 0;
  }

  S& s_;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  IoTimeout timeout_;
};

template <AsyncWriteStream S>
class BufWriter {
 public:
  explicit BufWriter(S& stream, std::size_t capacity = 8192) : s_(stream) {
    buf_.reserve(std::max<std::size_t>(capacity, 16));
  }
  BufWriter(const BufWriter&) = delete;
  BufWriter& operator=(const BufWriter&) = delete;

  // Appends to the buffer; when it would overflow, flushes first (waiting for the stream: a slow
  // reader slows the writer down). A write larger than the buffer goes straight to the stream.
  // Cancellation: Not cancel-safe: a flush in progress may have sent part of the buffer.
  [[nodiscard]] Task<void> write(ConstBuffer in, Deadline deadline) {
    if (buf_.size() + in.size > buf_.capacity()) co_await flush(deadline);
    if (in.size >= buf_.capacity()) {
      co_await s_.write_all(in, deadline);
      co_return;
    }
    auto* p = static_cast<const char*>(in.data);
    buf_.insert(buf_.end(), p, p + in.size);
  }
  [[nodiscard]] Task<void> write(ConstBuffer in) { return write(in, timeout_.deadline()); }

  // Sends everything buffered. Cancellation: Not cancel-safe: part may have been sent.
  [[nodiscard]] Task<void> flush(Deadline deadline) {
    if (buf_.empty()) co_return;
    co_await s_.write_all(ConstBuffer(buf_.data(), buf_.size()), deadline);
    buf_.clear();
  }
  [[nodiscard]] Task<void> flush() { return flush(timeout_.deadline()); }

  std::size_t buffered() const noexcept { return buf_.size(); }
  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  S& get() noexcept { return s_; }

 private:
  S& s_;
  std::vector<char> buf_;
  IoTimeout timeout_;
};

}  // namespace tether::io
