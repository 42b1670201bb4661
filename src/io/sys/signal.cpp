// Signals through a self-pipe; see include/tether/io/signal.hpp.
//
// Protocol:
//  1. g_count[s] counts deliveries of signal s; the handler increments it (release) and then writes
//     one byte to the self-pipe (non-blocking; a full pipe already means "look").
//  2. A Signals object takes a readiness snapshot of its pipe duplicate, then compares the counts
//     with what it has seen (acquire); only if nothing is new does it wait for the snapshot to
//     change. A delivery after the comparison writes a byte after its increment, which is an event
//     after the snapshot: no delivery is missed.
//  3. Whoever wakes drains the pipe (the bytes carry no information; the counts do).
//  4. ShutdownOnSignal arms g_exit_on_next after the first signal; from then on the handler itself
//     _exit()s on SIGINT/SIGTERM.
#include "tether/io/signal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>

#include <spdlog/spdlog.h>

#include "tether/core/runtime.hpp"
#include "tether/io/error.hpp"

namespace tether::io {

namespace {

constexpr int kMaxSignal = 65;
std::atomic<std::uint64_t> g_count[kMaxSignal];
std::atomic<int> g_pipe_write{-1};
std::atomic<int> g_pipe_read{-1};
std::atomic<int> g_exit_code{0};  // 0: not armed (step 4)

void on_signal(int signo) {
  int saved = errno;
  if ((signo == SIGINT || signo == SIGTERM) && g_exit_code.load(std::memory_order_relaxed) != 0) {
    ::_exit(g_exit_code.load(std::memory_order_relaxed));  // relaxed: a flag; _exit is async-signal-safe
  }
  if (signo > 0 && signo < kMaxSignal) g_count[signo].fetch_add(1, std::memory_order_release);  // step 1
  int fd = g_pipe_write.load(std::memory_order_relaxed);  // relaxed: set before any handler is installed
  char b = static_cast<char>(signo);
  [[maybe_unused]] ssize_t r = ::write(fd, &b, 1);
  errno = saved;
}

void check_signal_number(int s) {
  if (s <= 0 || s >= kMaxSignal) throw Error(EINVAL, "listen for signal " + std::to_string(s));
}

void ensure_pipe_and_handlers(std::initializer_list<int> signos) {
  static std::mutex mu;
  std::lock_guard g(mu);
  if (g_pipe_write.load(std::memory_order_relaxed) < 0) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw Error(errno, "signal self-pipe");
    g_pipe_read.store(fds[0], std::memory_order_relaxed);
    g_pipe_write.store(fds[1], std::memory_order_release);  // before sigaction below
  }
  for (int s : signos) {
    check_signal_number(s);
    struct sigaction sa {};
    sa.sa_handler = &on_signal;
    ::sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (::sigaction(s, &sa, nullptr) != 0) throw Error(errno, "sigaction " + std::to_string(s));
  }
}

void drain(int fd) {
  char buf[256];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace

Signals::Signals(std::initializer_list<int> signos) : signos_(signos) {
  // The counts first, the handlers second: a signal in between is then counted as new. (The other
  // order swallowed it: counted by our handler into the baseline, never reported.)
  for (int s : signos_) {
    check_signal_number(s);  // before indexing the counts
    seen_.push_back(g_count[s].load(std::memory_order_acquire));
  }
  ensure_pipe_and_handlers(signos);
  int fd = ::fcntl(g_pipe_read.load(std::memory_order_relaxed), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw Error(errno, "dup signal pipe");
  io_ = ::tether::detail::AsyncFd(fd, ::tether::detail::FdKind::kSignal, "signal");
}

std::optional<int> Signals::take() {
  for (std::size_t i = 0; i < signos_.size(); ++i) {
    // acquire: pairs with the handler's release increment.
    if (g_count[signos_[i]].load(std::memory_order_acquire) > seen_[i]) {
      ++seen_[i];
      return signos_[i];
    }
  }
  return std::nullopt;
}

Task<int> Signals::recv(Deadline deadline) {
  for (;;) {
    std::uint64_t snap = io_.snapshot(::tether::detail::IoDir::kRead);  // step 2
    if (auto s = take()) co_return *s;
    if (!co_await io_.wait(::tether::detail::IoDir::kRead, snap, deadline)) throw TimedOut("wait for signal");
    drain(io_.fd());  // step 3
  }
}

// ---- ShutdownOnSignal ----

struct ShutdownOnSignal::State {
  Runtime* rt;
  ShutdownOnSignalOptions options;
  int stop_fd = -1;  // eventfd: the destructor wakes the thread
  int watch_fd = -1;
  std::uint64_t seen[2] = {0, 0};
  std::atomic<bool> triggered{false};
  std::atomic<bool> clean{true};
  sigset_t saved_mask{};  // the constructing thread's mask, restored by the destructor
};

ShutdownOnSignal::ShutdownOnSignal(Runtime& rt, ShutdownOnSignalOptions options) : state_(new State{&rt, options}) {
  // The counts before the handlers, as in Signals::Signals().
  state_->seen[0] = g_count[SIGINT].load(std::memory_order_acquire);
  state_->seen[1] = g_count[SIGTERM].load(std::memory_order_acquire);
  ensure_pipe_and_handlers({SIGINT, SIGTERM});
  state_->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  state_->watch_fd = ::fcntl(g_pipe_read.load(std::memory_order_relaxed), F_DUPFD_CLOEXEC, 0);
  if (state_->stop_fd < 0 || state_->watch_fd < 0) throw Error(errno, "ShutdownOnSignal");
  thread_ = std::thread([s = state_] {
    for (;;) {
      int signo = 0;
      if (g_count[SIGINT].load(std::memory_order_acquire) > s->seen[0]) signo = SIGINT;
      if (g_count[SIGTERM].load(std::memory_order_acquire) > s->seen[1]) signo = SIGTERM;
      if (signo != 0) {
        g_exit_code.store(s->options.exit_code_on_second, std::memory_order_relaxed);  // step 4
        s->triggered.store(true, std::memory_order_release);
        auto& log = s->rt->core().logger();
        log.info("received {}: shutting down (grace {} ms); a second signal exits at once",
                 signo == SIGINT ? "SIGINT" : "SIGTERM", s->options.grace.count());
        ShutdownReport report = s->rt->shutdown(s->options.grace);
        s->clean.store(report.clean(), std::memory_order_release);
        log.info("shutdown finished in {} ms, {} task(s) still alive", report.took.count(), report.still_alive.size());
        return;
      }
      pollfd p[2] = {{s->watch_fd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
      if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
      if (p[1].revents) return;
      drain(s->watch_fd);
    }
  });
  // The constructing thread (usually main, about to sit in block_on) stops taking SIGINT/SIGTERM,
  // so the kernel delivers them to a thread that waits in the reactor or in this helper's poll().
  // Needed under TSan, which defers a handler while its thread is inside a raw futex wait.
  sigset_t term;
  ::sigemptyset(&term);
  ::sigaddset(&term, SIGINT);
  ::sigaddset(&term, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &term, &state_->saved_mask);
}

ShutdownOnSignal::~ShutdownOnSignal() {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(state_->stop_fd, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  g_exit_code.store(0, std::memory_order_relaxed);
  ::pthread_sigmask(SIG_SETMASK, &state_->saved_mask, nullptr);
  ::close(state_->stop_fd);
  ::close(state_->watch_fd);
  delete state_;
}

bool ShutdownOnSignal::triggered() const noexcept { return state_->triggered.load(std::memory_order_acquire); }
bool ShutdownOnSignal::clean() const noexcept { return state_->clean.load(std::memory_order_acquire); }

}  // namespace tether::io
