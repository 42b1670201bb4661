// tether/io/file.hpp
//
// Files with deadlines. Regular files are always "ready" to epoll, so every file operation runs on
// the blocking pool (spawn_blocking), bounded by a deadline: a hung NFS mount or a dying disk makes
// the caller get TimedOut("read /path") instead of stalling it forever.
//
//   OpenOptions   read / write / append / create / truncate / exclusive, mode
//   Metadata      size, type, mode, modification time
//   File          open(); read, write, write_all, sync (fsync), metadata
//   read_file(), write_file(), append_file(), rename(), metadata(), remove_file()
//
// Each call copies the bytes between the caller's buffer and the pool thread's own, so that a call
// that times out never lets a pool thread touch the caller's memory afterwards. A call that timed
// out may still complete on its thread (a blocking syscall cannot be interrupted): a write may land
// after the TimedOut, and the file's offset may move.
//
// When to use something else: pipes and sockets are readiness-driven (pipe.hpp, net/).
//
// Thread safety: File is confined to one task at a time.
// Example: examples/io/files.cpp
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

struct OpenOptions {
  bool read = true;
  bool write = false;
  bool append = false;
  bool create = false;
  bool truncate = false;
  bool exclusive = false;  // with create: fail (kAlreadyExists) if it exists
  mode_t mode = 0644;
};

struct Metadata {
  std::uint64_t size = 0;
  bool is_file = false;
  bool is_directory = false;
  mode_t mode = 0;
  std::chrono::system_clock::time_point modified;
};

class File {
 public:
  File() noexcept = default;

  // open()
  //
  // Throws: io::Error (kNotFound, kPermissionDenied, kAlreadyExists, ...), TimedOut("open <path>"),
  //   Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed (a file opened after the cancellation is closed).
  static Task<File> open(std::string path, OpenOptions options, Deadline deadline);
  static Task<File> open(std::string path, OpenOptions options = {});

  // Reads up to buf.size bytes at the current offset. Returns: bytes read, 0 at end of file.
  // Cancellation: Not cancel-safe: bytes read after the cancellation are lost (the offset moved).
  [[nodiscard]] Task<std::size_t> read(MutableBuffer buf, Deadline deadline);
  [[nodiscard]] Task<std::size_t> read(MutableBuffer buf) { return read(buf, timeout_.deadline()); }
  // Writes all of buf. Cancellation: Not cancel-safe: the write may still land.
  [[nodiscard]] Task<void> write_all(ConstBuffer buf, Deadline deadline);
  [[nodiscard]] Task<void> write_all(ConstBuffer buf) { return write_all(buf, timeout_.deadline()); }
  // fsync(2). Cancellation: Not cancel-safe: the sync may still complete.
  [[nodiscard]] Task<void> sync(Deadline deadline);
  [[nodiscard]] Task<void> sync() { return sync(timeout_.deadline()); }
  [[nodiscard]] Task<Metadata> metadata(Deadline deadline);

  const std::string& path() const noexcept { return path_; }
  bool is_open() const noexcept { return fd_ != nullptr; }
  void set_timeout(IoTimeout t) noexcept { timeout_ = t; }
  // Closes now (the descriptor stays open until a pool job still using it ends).
  void close() noexcept { fd_.reset(); }

 private:
  struct Fd;
  std::shared_ptr<Fd> fd_;
  std::string path_;
  IoTimeout timeout_;
};

// The whole file as a string (at most `limit` bytes: io::Error beyond).
[[nodiscard]] Task<std::string> read_file(std::string path, Deadline deadline, std::size_t limit = 256u << 20);
// Replaces the file's content: written to "<path>.tmp", fsync'ed, then renamed over `path`, so a
// reader sees the old or the new content, never a mix.
[[nodiscard]] Task<void> write_file(std::string path, std::string data, Deadline deadline);
[[nodiscard]] Task<void> append_file(std::string path, std::string data, Deadline deadline);
[[nodiscard]] Task<void> rename(std::string from, std::string to, Deadline deadline);
[[nodiscard]] Task<Metadata> metadata(std::string path, Deadline deadline);
[[nodiscard]] Task<void> remove_file(std::string path, Deadline deadline);

}  // namespace tether::io
