// UnixStream and UnixListener; see include/tether/io/net/unix_*.hpp.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "connect.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/unix_listener.hpp"
#include "tether/io/net/unix_stream.hpp"

namespace tether::io {

using ::tether::detail::AsyncFd;
using ::tether::detail::FdKind;

Task<UnixStream> UnixStream::connect(std::string path, Deadline deadline) {
  SocketAddress addr = SocketAddress::unix_path(path);
  AsyncFd io = co_await connect_socket(addr, deadline);
  co_return UnixStream(std::move(io), nullptr);
}

Task<UnixStream> UnixStream::connect(std::string path) {
  return connect(std::move(path), ::tether::detail::default_io_deadline());
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) throw Error(errno, "socketpair");
  AsyncFd a;
  try {
    a = AsyncFd(fds[0], FdKind::kStream, "socketpair");
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  AsyncFd b(fds[1], FdKind::kStream, "socketpair");
  return {UnixStream(std::move(a), nullptr), UnixStream(std::move(b), nullptr)};
}

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
  if (this != &o) {
    if (!path_.empty() && path_.front() != '@') ::unlink(path_.c_str());
    ListenerSocket::operator=(std::move(o));
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

UnixListener::~UnixListener() {
  close();
  if (!path_.empty() && path_.front() != '@') ::unlink(path_.c_str());
}

UnixListener UnixListener::bind(std::string path, ListenOptions opts, bool remove_stale) {
  SocketAddress addr = SocketAddress::unix_path(path);
  std::string what = "bind " + path;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(errno, what);
  if (::bind(fd, addr.get(), addr.size()) != 0) {
    int e = errno;
    struct stat st {};
    if (e == EADDRINUSE && remove_stale && path.front() != '@' && ::stat(path.c_str(), &st) == 0 &&
        S_ISSOCK(st.st_mode)) {
      // A socket file nobody listens on any more (connect is refused) is stale: replace it.
      int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      bool stale = probe >= 0 && ::connect(probe, addr.get(), addr.size()) != 0 && errno == ECONNREFUSED;
      if (probe >= 0) ::close(probe);
      if (stale && ::unlink(path.c_str()) == 0 && ::bind(fd, addr.get(), addr.size()) == 0) e = 0;
    }
    if (e != 0) {
      ::close(fd);
      throw Error(e, what);
    }
  }
  if (::listen(fd, opts.backlog) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(e, "listen on " + path);
  }
  return UnixListener(fd, opts, std::move(path));
}

Task<UnixStream> UnixListener::accept(Deadline deadline) {
  std::shared_ptr<detail::ConnLimit> slot;
  int fd = co_await accept_fd(deadline, slot);
  AsyncFd io;
  try {
    io = AsyncFd(fd, FdKind::kStream, path_);
  } catch (...) {
    detail::release_conn_slot(slot);
    throw;
  }
  co_return UnixStream(std::move(io), std::move(slot));
}

Task<UnixStream> UnixListener::accept() { return accept(::tether::detail::default_io_deadline()); }

}  // namespace tether::io
