// Files on the blocking pool; see include/tether/io/file.hpp.
#include "tether/io/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "pool.hpp"
#include "tether/core/blocking.hpp"
#include "tether/io/error.hpp"
#include "tether/time/timeout.hpp"

namespace tether::io {

struct File::Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() { ::close(fd); }
  const int fd;
};

namespace {

Metadata from_stat(const struct stat& st) {
  Metadata m;
  m.size = static_cast<std::uint64_t>(st.st_size);
  m.is_file = S_ISREG(st.st_mode);
  m.is_directory = S_ISDIR(st.st_mode);
  m.mode = st.st_mode & 07777;
  m.modified = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  return m;
}

int open_flags(const OpenOptions& o) {
  int f = O_CLOEXEC;
  bool w = o.write || o.append;
  f |= (o.read && w) ? O_RDWR : w ? O_WRONLY : O_RDONLY;
  if (o.append) f |= O_APPEND;
  if (o.create) f |= O_CREAT;
  if (o.truncate) f |= O_TRUNC;
  if (o.exclusive) f |= O_EXCL;
  return f;
}

void write_fully(int fd, const char* p, std::size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(errno, what);
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

using detail::on_pool;

}  // namespace

Task<File> File::open(std::string path, OpenOptions options, Deadline deadline) {
  int flags = open_flags(options);
  mode_t mode = options.mode;
  auto job = [path, flags, mode] {
    int f = ::open(path.c_str(), flags, mode);
    if (f < 0) throw Error(errno, "open " + path);
    return std::make_shared<Fd>(f);
  };
  auto fd = co_await on_pool(deadline, "open " + path, std::move(job));
  File file;
  file.fd_ = std::move(fd);
  file.path_ = std::move(path);
  co_return file;
}

Task<File> File::open(std::string path, OpenOptions options) {
  return open(std::move(path), options, ::tether::io::IoTimeout().deadline());
}

Task<std::size_t> File::read(MutableBuffer buf, Deadline deadline) {
  std::shared_ptr<Fd> fd = fd_;
  std::string what = "read " + path_;
  std::size_t want = buf.size;
  auto job = [fd, want, what] {
    std::vector<char> out(want);
    for (;;) {
      ssize_t r = ::read(fd->fd, out.data(), want);
      if (r >= 0) {
        out.resize(static_cast<std::size_t>(r));
        return out;
      }
      if (errno != EINTR) throw Error(errno, what);
    }
  };
  std::vector<char> got = co_await on_pool(deadline, what, std::move(job));
  std::memcpy(buf.data, got.data(), got.size());
  co_return got.size();
}

Task<void> File::write_all(ConstBuffer buf, Deadline deadline) {
  std::shared_ptr<Fd> fd = fd_;
  std::string what = "write " + path_;
  std::string data(static_cast<const char*>(buf.data), buf.size);
  auto job = [fd, data = std::move(data), what] { write_fully(fd->fd, data.data(), data.size(), what); };
  co_await on_pool(deadline, what, std::move(job));
}

Task<void> File::sync(Deadline deadline) {
  std::shared_ptr<Fd> fd = fd_;
  std::string what = "fsync " + path_;
  auto job = [fd, what] {
    if (::fsync(fd->fd) != 0) throw Error(errno, what);
  };
  co_await on_pool(deadline, what, std::move(job));
}

Task<Metadata> File::metadata(Deadline deadline) {
  std::shared_ptr<Fd> fd = fd_;
  std::string what = "stat " + path_;
  auto job = [fd, what] {
    struct stat st {};
    if (::fstat(fd->fd, &st) != 0) throw Error(errno, what);
    return from_stat(st);
  };
  co_return co_await on_pool(deadline, what, std::move(job));
}

Task<std::string> read_file(std::string path, Deadline deadline, std::size_t limit) {
  std::string what = "read " + path;
  auto job = [path, limit, what] {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(errno, what);
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    std::string out;
    char buf[64 << 10];
    for (;;) {
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r == 0) return out;
      if (r < 0) {
        if (errno == EINTR) continue;
        throw Error(errno, what);
      }
      if (out.size() + static_cast<std::size_t>(r) > limit)
        throw Error(ErrorKind::kOther, what, "larger than the limit");
      out.append(buf, static_cast<std::size_t>(r));
    }
  };
  co_return co_await on_pool(deadline, what, std::move(job));
}

Task<void> write_file(std::string path, std::string data, Deadline deadline) {
  std::string what = "write " + path;
  auto job = [path, data = std::move(data), what] {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(errno, what);
    try {
      write_fully(fd, data.data(), data.size(), what);
      if (::fsync(fd) != 0) throw Error(errno, what);
    } catch (...) {
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      throw Error(e, what);
    }
  };
  co_await on_pool(deadline, what, std::move(job));
}

Task<void> append_file(std::string path, std::string data, Deadline deadline) {
  std::string what = "append " + path;
  auto job = [path, data = std::move(data), what] {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(errno, what);
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    write_fully(fd, data.data(), data.size(), what);
  };
  co_await on_pool(deadline, what, std::move(job));
}

Task<void> rename(std::string from, std::string to, Deadline deadline) {
  std::string what = "rename " + from + " to " + to;
  auto job = [from, to, what] {
    if (::rename(from.c_str(), to.c_str()) != 0) throw Error(errno, what);
  };
  co_await on_pool(deadline, what, std::move(job));
}

Task<Metadata> metadata(std::string path, Deadline deadline) {
  std::string what = "stat " + path;
  auto job = [path, what] {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw Error(errno, what);
    return from_stat(st);
  };
  co_return co_await on_pool(deadline, what, std::move(job));
}

Task<void> remove_file(std::string path, Deadline deadline) {
  std::string what = "remove " + path;
  auto job = [path, what] {
    if (::unlink(path.c_str()) != 0) throw Error(errno, what);
  };
  co_await on_pool(deadline, what, std::move(job));
}

}  // namespace tether::io
