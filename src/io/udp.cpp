// UdpSocket; see include/tether/io/net/udp_socket.hpp.
#include "tether/io/net/udp_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "tether/core/yield.hpp"
#include "tether/io/error.hpp"

namespace tether::io {

using ::tether::detail::AsyncFd;
using ::tether::detail::FdKind;
using ::tether::detail::IoDir;

UdpSocket UdpSocket::bind(SocketAddress addr) {
  std::string what = "bind " + addr.to_string();
  int fd = ::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(errno, what);
  if (::bind(fd, addr.get(), addr.size()) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(e, what);
  }
  return UdpSocket(AsyncFd(fd, FdKind::kDatagram));
}

void UdpSocket::connect(const SocketAddress& peer) {
  if (::connect(io_.fd(), peer.get(), peer.size()) != 0) throw Error(errno, "connect to " + peer.to_string());
}

SocketAddress UdpSocket::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(io_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) throw Error(errno, "getsockname");
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

Task<Datagram> UdpSocket::recv_from(MutableBuffer buf, Deadline deadline) {
  for (;;) {
    std::uint64_t snap = io_.snapshot(IoDir::kRead);
    if (AsyncFd::is_ready(snap) && ::tether::detail::may_consume()) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ssize_t r = ::recvfrom(io_.fd(), buf.data, buf.size, 0, reinterpret_cast<sockaddr*>(&ss), &len);
      if (r >= 0) {
        if (!::tether::detail::consume_budget()) co_await yield_now();
        co_return Datagram{static_cast<std::size_t>(r), SocketAddress(reinterpret_cast<sockaddr*>(&ss), len)};
      }
      int e = errno;
      if (e == EINTR) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) throw Error(e, io_.describe("recv"));
      io_.clear_ready(IoDir::kRead, snap);
      continue;
    }
    if (!co_await io_.wait(IoDir::kRead, snap, deadline)) throw TimedOut(io_.describe("recv"));
  }
}

Task<std::size_t> UdpSocket::send_to(ConstBuffer buf, SocketAddress to, Deadline deadline) {
  for (;;) {
    std::uint64_t snap = io_.snapshot(IoDir::kWrite);
    if (AsyncFd::is_ready(snap)) {
      ssize_t r = ::sendto(io_.fd(), buf.data, buf.size, MSG_NOSIGNAL, to.get(), to.size());
      if (r >= 0) {
        if (!::tether::detail::consume_budget()) co_await yield_now();
        co_return static_cast<std::size_t>(r);
      }
      int e = errno;
      if (e == EINTR) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) throw Error(e, "send to " + to.to_string());
      io_.clear_ready(IoDir::kWrite, snap);
      continue;
    }
    if (!co_await io_.wait(IoDir::kWrite, snap, deadline)) throw TimedOut("send to " + to.to_string());
  }
}

}  // namespace tether::io
