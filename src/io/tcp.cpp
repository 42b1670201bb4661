// TcpStream, TcpListener and the connection limit; see include/tether/io/net/tcp_*.hpp.
//
// Connection limit protocol (ConnLimit):
//  1. `live` counts slots held: by accepted streams, and by an accept() between taking its slot and
//     returning its stream. Guarded by mu.
//  2. accept() takes a slot first (live < max: live++), else waits in `waiters` (FIFO).
//  3. Giving a slot back hands it straight to the first waiter that accepts the notification
//     (waiter.hpp rule 1: `live` unchanged); with no such waiter, live--.
//  4. So at most `max` connections are accepted and alive, and while at the limit the listener does
//     not call accept(): new connections wait in the kernel's backlog.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>

#include <spdlog/spdlog.h>

#include "connect.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

namespace tether::io {

using ::tether::detail::AsyncFd;
using ::tether::detail::FdKind;
using ::tether::detail::IoDir;

namespace detail {

struct ConnLimit {
  explicit ConnLimit(std::size_t m) : max(m) {}
  std::mutex mu;
  std::size_t live = 0;                // Guarded by mu
  ::tether::detail::WaitList waiters;  // Guarded by mu
  const std::size_t max;
  // relaxed: statistics only.
  ::tether::detail::Atomic<std::uint64_t> accepted{0};
  ::tether::detail::Atomic<std::uint64_t> backoffs{0};
  ::tether::detail::Atomic<std::uint64_t> limit_waits{0};

  bool try_take() {
    std::lock_guard g(mu);
    if (live >= max) return false;
    ++live;
    return true;
  }
};

void release_conn_slot(const std::shared_ptr<ConnLimit>& limit) noexcept {
  ::tether::detail::Waiter* w = nullptr;
  {
    std::lock_guard g(limit->mu);
    w = limit->waiters.pop_notify();  // step 3
    if (!w) --limit->live;
  }
  if (w) w->wake();
}

namespace {

// Waits for a slot handed over by release_conn_slot (step 3).
class SlotAwaiter {
 public:
  explicit SlotAwaiter(ConnLimit* l) noexcept : l_(l) {}
  SlotAwaiter(SlotAwaiter&& o) noexcept : l_(o.l_) {}
  SlotAwaiter(const SlotAwaiter&) = delete;
  ~SlotAwaiter() {
    if (waiter_.linked) {
      std::lock_guard g(l_->mu);
      l_->waiters.remove(&waiter_);
    }
    ::tether::detail::disarm(waiter_);
  }
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h) {
    std::lock_guard g(l_->mu);
    if (l_->live < l_->max && ::tether::detail::may_consume()) {
      ++l_->live;
      got_now_ = true;
      return false;
    }
    ::tether::detail::current_task()->waiting_on = "connection slot";
    l_->waiters.push_back(&waiter_);
    if (!::tether::detail::arm_current(waiter_, h)) {
      l_->waiters.remove(&waiter_);
      return false;
    }
    return true;
  }
  void await_resume() {
    if (got_now_) return;
    ::tether::detail::current_task()->waiting_on = nullptr;
    ::tether::detail::disarm(waiter_);
    {
      std::lock_guard g(l_->mu);
      l_->waiters.remove(&waiter_);
    }
    if (waiter_.state() != ::tether::detail::Waiter::kNotified) throw Cancelled();
  }

 private:
  ConnLimit* l_;
  ::tether::detail::Waiter waiter_;
  bool got_now_ = false;
};

}  // namespace
}  // namespace detail

namespace {

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

void set_flag(int fd, int level, int opt, bool on, const char* what) {
  int v = on ? 1 : 0;
  if (::setsockopt(fd, level, opt, &v, sizeof v) != 0) throw Error(errno, what);
}

}  // namespace

// ---- StreamSocket ----

StreamSocket& StreamSocket::operator=(StreamSocket&& o) noexcept {
  if (this != &o) {
    close();
    io_ = std::move(o.io_);
    timeout_ = o.timeout_;
    slot_ = std::move(o.slot_);
  }
  return *this;
}

void StreamSocket::close() noexcept {
  io_.close();
  if (slot_) {
    detail::release_conn_slot(slot_);
    slot_.reset();
  }
}

void StreamSocket::shutdown(Shutdown how) {
  int h = how == Shutdown::kRead ? SHUT_RD : how == Shutdown::kWrite ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(io_.fd(), h) != 0 && errno != ENOTCONN) throw Error(errno, io_.describe("shutdown"));
}

SocketAddress StreamSocket::peer_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(io_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) throw Error(errno, "getpeername");
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

SocketAddress StreamSocket::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(io_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) throw Error(errno, "getsockname");
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

// ---- TcpStream ----

namespace {

// Waits for a non-blocking connect() on `io` to finish. Shared with UnixStream.
Task<void> finish_connect(AsyncFd& io, std::string target, Deadline deadline) {
  for (;;) {
    std::uint64_t snap = io.snapshot(IoDir::kWrite);
    if (AsyncFd::is_ready(snap)) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(io.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) throw Error(err, "connect to " + target);
      sockaddr_storage ss{};
      socklen_t sl = sizeof ss;
      if (::getpeername(io.fd(), reinterpret_cast<sockaddr*>(&ss), &sl) == 0) co_return;  // connected
      io.clear_ready(IoDir::kWrite, snap);                                                // still in progress
      continue;
    }
    if (!co_await io.wait(IoDir::kWrite, snap, deadline)) throw TimedOut("connect to " + target);
  }
}

}  // namespace

Task<AsyncFd> connect_socket(const SocketAddress& addr, Deadline deadline) {
  std::string target = addr.to_string();
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(errno, "connect to " + target);
  AsyncFd io(fd, FdKind::kStream, addr.family() == AF_UNIX ? target : std::string());
  if (::connect(fd, addr.get(), addr.size()) != 0) {
    int e = errno;
    if (e != EINPROGRESS && e != EINTR && e != EAGAIN) throw Error(e, "connect to " + target);
    co_await finish_connect(io, target, deadline);
  }
  co_return io;
}

Task<TcpStream> TcpStream::connect(SocketAddress addr, Deadline deadline) {
  if (addr.family() != AF_INET && addr.family() != AF_INET6) {
    throw Error(ErrorKind::kInvalidAddress, "connect to " + addr.to_string(), "not an IP address");
  }
  AsyncFd io = co_await connect_socket(addr, deadline);
  co_return TcpStream(std::move(io), nullptr);
}

Task<TcpStream> TcpStream::connect(SocketAddress addr) {
  return connect(std::move(addr), ::tether::detail::default_io_deadline());
}

Task<TcpStream> TcpStream::connect(std::string host, std::uint16_t port, Deadline deadline) {
  std::vector<SocketAddress> addrs = co_await resolve(host, port, deadline);
  std::exception_ptr last;
  for (const SocketAddress& a : addrs) {
    try {
      co_return co_await connect(a, deadline);
    } catch (const Error&) {
      last = std::current_exception();
    }
  }
  std::rethrow_exception(last);
}

TcpStream TcpStream::from_fd(int fd) { return TcpStream(AsyncFd(fd, FdKind::kStream), nullptr); }

void TcpStream::set_nodelay(bool on) { set_flag(io_.fd(), IPPROTO_TCP, TCP_NODELAY, on, "setsockopt TCP_NODELAY"); }

bool TcpStream::nodelay() const {
  int v = 0;
  socklen_t len = sizeof v;
  ::getsockopt(io_.fd(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
  return v != 0;
}

// ---- ListenerSocket ----

ListenerSocket::ListenerSocket(int fd, const ListenOptions& opts)
    : io_(fd, FdKind::kListener),
      limit_(std::make_shared<detail::ConnLimit>(std::max<std::size_t>(1, opts.max_connections))) {}

SocketAddress ListenerSocket::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(io_.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) throw Error(errno, "getsockname");
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

ListenerStats ListenerSocket::stats() const noexcept {
  ListenerStats s;
  if (!limit_) return s;
  s.accepted = limit_->accepted.load(std::memory_order_relaxed);  // relaxed: statistics
  s.fd_exhaustion_backoffs = limit_->backoffs.load(std::memory_order_relaxed);
  s.limit_waits = limit_->limit_waits.load(std::memory_order_relaxed);
  std::lock_guard g(limit_->mu);
  s.live_connections = limit_->live;
  return s;
}

Task<int> ListenerSocket::accept_fd(Deadline deadline, std::shared_ptr<detail::ConnLimit>& slot) {
  if (!limit_->try_take()) {  // step 2
    limit_->limit_waits.fetch_add(1, std::memory_order_relaxed);
    co_await timeout_at(deadline, detail::SlotAwaiter(limit_.get()), io_.describe("accept"));
  }
  struct SlotGuard {
    std::shared_ptr<detail::ConnLimit> l;
    bool held = true;
    ~SlotGuard() {
      if (held) detail::release_conn_slot(l);
    }
  } guard{limit_};
  auto backoff = std::chrono::milliseconds(1);
  bool logged = false;
  for (;;) {
    std::uint64_t snap = io_.snapshot(IoDir::kRead);
    if (AsyncFd::is_ready(snap) && ::tether::detail::may_consume()) {
      int fd = ::accept4(io_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        limit_->accepted.fetch_add(1, std::memory_order_relaxed);
        guard.held = false;
        slot = limit_;
        if (!::tether::detail::consume_budget()) co_await yield_now();
        co_return fd;
      }
      int e = errno;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;  // that connection is gone; next
      if (would_block(e)) {
        io_.clear_ready(IoDir::kRead, snap);
        continue;
      }
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        // Out of descriptors or memory: back off (the pending connection stays queued) and retry.
        limit_->backoffs.fetch_add(1, std::memory_order_relaxed);
        if (!logged) {
          logged = true;
          if (auto* core = ::tether::detail::RuntimeCore::current()) {
            core->logger().warn("{}: {}; backing off", io_.describe("accept"), std::strerror(e));
          }
        }
        if (deadline.expired()) throw TimedOut(io_.describe("accept"));
        auto pause = std::min<Clock::duration>(backoff, deadline.remaining());
        co_await sleep(pause);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(100));
        continue;
      }
      throw Error(e, io_.describe("accept"));
    }
    if (!co_await io_.wait(IoDir::kRead, snap, deadline)) throw TimedOut(io_.describe("accept"));
  }
}

// ---- TcpListener ----

TcpListener TcpListener::bind(SocketAddress addr, ListenOptions opts) {
  std::string what = "bind " + addr.to_string();
  if (addr.family() != AF_INET && addr.family() != AF_INET6) {
    throw Error(ErrorKind::kInvalidAddress, what, "not an IP address");
  }
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(errno, what);
  try {
    if (opts.reuse_address) set_flag(fd, SOL_SOCKET, SO_REUSEADDR, true, what.c_str());
    if (opts.reuse_port) set_flag(fd, SOL_SOCKET, SO_REUSEPORT, true, what.c_str());
    if (::bind(fd, addr.get(), addr.size()) != 0) throw Error(errno, what);
    if (::listen(fd, opts.backlog) != 0) throw Error(errno, "listen on " + addr.to_string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  return TcpListener(fd, opts);
}

Task<TcpStream> TcpListener::accept(Deadline deadline) {
  std::shared_ptr<detail::ConnLimit> slot;
  int fd = co_await accept_fd(deadline, slot);
  AsyncFd io;
  try {
    io = AsyncFd(fd, FdKind::kStream);
  } catch (...) {
    detail::release_conn_slot(slot);
    throw;
  }
  co_return TcpStream(std::move(io), std::move(slot));
}

Task<TcpStream> TcpListener::accept() { return accept(::tether::detail::default_io_deadline()); }

}  // namespace tether::io
