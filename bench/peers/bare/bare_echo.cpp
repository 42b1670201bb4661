// bare-echo: the echo workload's floor, with no runtime at all. One thread, one loop, written for
// this one job: what a server costs when nothing but the kernel's TCP work remains. The suite runs
// it beside the runtimes so that their echo figures can be read against what the machine allows
// (docs/benchmarks.md, "The echo ceiling").
//
// Usage: bare-echo echo-server port=P [uring=0|1]
// The suite builds it twice: bare-epoll (uring=0 by default) and bare-uring (-DBARE_ECHO_URING=1).
//   uring=0: edge-triggered epoll; per ready connection, recv up to 4096 bytes and send them
//            back until recv comes up short (the same two syscalls per round trip as every
//            readiness runtime).
//   uring=1: io_uring with completions instead of readiness: one multishot recv per
//            connection into a ring of provided buffers, one send per message, everything
//            submitted and reaped with one io_uring_enter per loop iteration.
// Follows bench/suite/PROTOCOL.md's server mode: prints a ready line, and on SIGTERM a result line,
// then exits 0. Not a benchmark of any library: the suite's other runtimes each do more (many
// threads, timers, deadlines, cancellation) than this loop.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#ifndef BARE_ECHO_URING
#define BARE_ECHO_URING 0
#endif

namespace {

std::map<std::string, long> g_params;

long param(const char* key, long def) {
  auto it = g_params.find(key);
  return it == g_params.end() ? def : it->second;
}

[[noreturn]] void fail(const char* what) {
  std::printf("{\"runtime\":\"bare\",\"workload\":\"echo-server\",\"ok\":false,\"error\":\"%s: %s\"}\n", what,
              std::strerror(errno));
  std::fflush(stdout);
  std::exit(1);
}

int listen_on(int port) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l < 0) fail("socket");
  int one = 1;
  ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("bind");
  if (::listen(l, 1024) != 0) fail("listen");
  std::printf("{\"ready\":true,\"runtime\":\"bare\",\"workload\":\"echo-server\",\"port\":%d}\n", port);
  std::fflush(stdout);
  return l;
}

// SIGTERM and SIGINT arrive on a signalfd, so the loop ends where it waits.
int signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) fail("signalfd");
  return fd;
}

void nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

long serve_epoll(int listener, int sig) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fail("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  ev.data.fd = sig;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, sig, &ev);
  long connections = 0;
  char buf[4096];
  epoll_event events[128];
  for (;;) {
    int n = ::epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == sig) return connections;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          nodelay(c);
          epoll_event ce{};
          ce.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
          ce.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
          ++connections;
        }
        continue;
      }
      for (;;) {
        ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r > 0) {
          // 64-byte messages into a fresh socket buffer: a short send does not happen here, and a
          // floor that handled it would measure the same.
          if (::send(fd, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL) < 0) {
            ::close(fd);
            break;
          }
          if (r < static_cast<ssize_t>(sizeof buf)) break;  // drained: wait for the next edge
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
        ::close(fd);  // end of stream or error
        break;
      }
    }
  }
}

long serve_uring(int listener, int sig) {
  enum Kind : std::uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kSignal = 4 };
  auto data = [](Kind k, int fd, unsigned buf = 0) {
    return std::uint64_t{k} << 56 | std::uint64_t{buf} << 32 | static_cast<std::uint32_t>(fd);
  };
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN;
  if (int rc = io_uring_queue_init_params(4096, &ring, &p); rc < 0) {
    errno = -rc;
    fail("io_uring_queue_init_params");
  }
  constexpr unsigned kBufs = 1024, kBufSize = 4096;
  static char bufs[kBufs][kBufSize];
  auto* br = static_cast<io_uring_buf_ring*>(std::aligned_alloc(4096, kBufs * sizeof(io_uring_buf)));
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
  reg.ring_entries = kBufs;
  reg.bgid = 0;
  if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
    errno = -rc;
    fail("io_uring_register_buf_ring");
  }
  for (unsigned i = 0; i < kBufs; ++i)
    io_uring_buf_ring_add(br, bufs[i], kBufSize, i, io_uring_buf_ring_mask(kBufs), i);
  io_uring_buf_ring_advance(br, kBufs);

  auto sqe = [&ring] {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (!s) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  };
  auto arm_recv = [&](int fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, data(kRecv, fd));
  };
  auto arm_accept = [&] {
    io_uring_sqe* s = sqe();
    io_uring_prep_multishot_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(s, data(kAccept, listener));
  };
  signalfd_siginfo si;
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, sig, &si, sizeof si, 0);
  io_uring_sqe_set_data64(s, data(kSignal, sig));
  arm_accept();

  long connections = 0;
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      std::uint64_t d = io_uring_cqe_get_data64(cqe);
      auto kind = static_cast<Kind>(d >> 56);
      int fd = static_cast<int>(d & 0xffffffffu);
      bool more = cqe->flags & IORING_CQE_F_MORE;
      int res = cqe->res;
      switch (kind) {
        case kSignal:
          return connections;
        case kAccept:
          if (res >= 0) {
            nodelay(res);
            arm_recv(res);
            ++connections;
          }
          if (!more) arm_accept();
          break;
        case kRecv:
          if (res > 0) {
            unsigned buf = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            io_uring_sqe* w = sqe();
            io_uring_prep_send(w, fd, bufs[buf], static_cast<std::size_t>(res), MSG_NOSIGNAL);
            io_uring_sqe_set_data64(w, data(kSend, fd, buf));
            if (!more) arm_recv(fd);
          } else if (res == -ENOBUFS) {
            if (!more) arm_recv(fd);  // every buffer in flight: try again
          } else if (!more) {
            ::close(fd);  // end of stream or error
          }
          break;
        case kSend: {
          unsigned buf = static_cast<unsigned>(d >> 32) & 0xffffffu;
          io_uring_buf_ring_add(br, bufs[buf], kBufSize, buf, io_uring_buf_ring_mask(kBufs), 0);
          io_uring_buf_ring_advance(br, 1);
          break;
        }
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "echo-server") {
    std::printf(
        "{\"runtime\":\"bare\",\"workload\":\"%s\",\"ok\":false,\"unsupported\":true,"
        "\"error\":\"bare-echo only runs echo-server\"}\n",
        argc < 2 ? "" : argv[1]);
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    std::string kv = argv[i];
    auto eq = kv.find('=');
    if (eq != std::string::npos) g_params[kv.substr(0, eq)] = std::strtol(kv.c_str() + eq + 1, nullptr, 10);
  }
  int sig = signal_fd();
  int listener = listen_on(static_cast<int>(param("port", 0)));
  long connections = param("uring", BARE_ECHO_URING) ? serve_uring(listener, sig) : serve_epoll(listener, sig);
  std::printf("{\"runtime\":\"bare\",\"workload\":\"echo-server\",\"ok\":true,\"connections\":%ld}\n", connections);
  std::fflush(stdout);
  return 0;
}
