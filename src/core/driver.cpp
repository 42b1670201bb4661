// The driver's two backends, epoll and io_uring; see include/tether/core/detail/driver.hpp.
#include "tether/core/detail/driver.hpp"

#include "tether/core/detail/sync_shim.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(TETHER_HAVE_URING)
#include <liburing.h>
#endif

namespace tether::detail {
namespace {

// Tokens that are never EventSource addresses: the wake-up eventfd (epoll), and completions to
// ignore (io_uring: cancels, wake-ups).
constexpr std::uint64_t kWakeToken = 1;
constexpr std::uint64_t kIgnoreToken = 2;

// io_uring user data: the source's address in the low 48 bits (user-space addresses fit), the
// registration's generation in the high 16.
constexpr int kGenShift = 48;
constexpr std::uint64_t kPtrMask = (std::uint64_t{1} << kGenShift) - 1;
[[maybe_unused]] std::uint64_t pack(EventSource* src, std::uint32_t gen) noexcept {
  return reinterpret_cast<std::uintptr_t>(src) | (std::uint64_t{gen & 0xffff} << kGenShift);
}

}  // namespace

#if defined(TETHER_HAVE_URING)
struct Driver::Ring {
  io_uring ring;
  std::uint32_t lane = 0;
  std::mutex sq_mu;  // guards the submission queue: add(), remove() and wake-ups come from any thread
  std::mutex cq_mu;  // guards reaping: the lane's owner and the thread in wait() both reap
  // Counts submissions. The kernel orders a request's submission before its completion, but not in
  // the C++ memory model (nor for ThreadSanitizer): the reaper's acquire load of this counter,
  // after it sees a completion, makes everything the submitter wrote before submitting (the source
  // it names, for one) visible to the thread that dispatches the completion.
  Atomic<std::uint64_t> submissions{0};

  // Queues one request (prepared by `prep`) and submits it. Returns 0 or an errno.
  template <class Prep>
  int submit(Prep&& prep) noexcept {
    std::lock_guard<std::mutex> g(sq_mu);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
      io_uring_submit(&ring);  // the queue is full of unsubmitted entries: flush, then retry
      sqe = io_uring_get_sqe(&ring);
      if (!sqe) return EBUSY;
    }
    prep(sqe);
    submissions.fetch_add(1, std::memory_order_release);  // release: see `submissions`
    int rc = io_uring_submit(&ring);
    return rc < 0 ? -rc : 0;
  }
  int arm_poll(int fd, std::uint64_t data) noexcept {
    return submit([&](io_uring_sqe* sqe) {
      io_uring_prep_poll_multishot(sqe, fd, POLLIN | POLLOUT | POLLRDHUP);
      io_uring_sqe_set_data64(sqe, data);
    });
  }
  // A no-op whose completion ends a sleep in this ring (and is ignored when reaped).
  void wake() noexcept {
    submit([](io_uring_sqe* sqe) {
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data64(sqe, kIgnoreToken);
    });
  }

  // Completions posted and not yet reaped. Any thread: atomic loads, because another thread may
  // be advancing the head (liburing's own peek reads it plainly).
  unsigned ready() const noexcept {
    return __atomic_load_n(ring.cq.ktail, __ATOMIC_ACQUIRE) - __atomic_load_n(ring.cq.khead, __ATOMIC_RELAXED);
  }

  // Sleeps until a completion is posted or timeout_ms passes (-1: no limit). Entering the kernel
  // also runs this thread's pending task work, which posts completions of the polls it armed. The
  // call only waits; reaping happens under cq_mu (reap()), so another thread may take the
  // completions that end the sleep.
  void sleep(int timeout_ms) noexcept {
    if (timeout_ms < 0) {
      ::syscall(__NR_io_uring_enter, ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, nullptr, _NSIG / 8);
      return;
    }
    __kernel_timespec ts{timeout_ms / 1000, static_cast<long long>(timeout_ms % 1000) * 1'000'000};
    io_uring_getevents_arg arg{};
    arg.sigmask_sz = _NSIG / 8;
    arg.ts = reinterpret_cast<std::uint64_t>(&ts);
    ::syscall(__NR_io_uring_enter, ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  }

  // Dispatches every completion posted so far; returns the number of I/O events dispatched.
  // Caller holds cq_mu.
  int reap() noexcept {
    int dispatched = 0;
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      // acquire: see `submissions`. Per completion, after seeing it: the loop also meets
      // completions of requests submitted after any earlier load.
      submissions.load(std::memory_order_acquire);
      std::uint64_t data = io_uring_cqe_get_data64(cqe);
      if (data == kIgnoreToken) continue;
      // SAFETY: the I/O layer keeps a source valid while it may deliver (see EventSource).
      auto* src = reinterpret_cast<EventSource*>(static_cast<std::uintptr_t>(data & kPtrMask));
      if (cqe->res > 0) {
        src->on_events(static_cast<std::uint32_t>(cqe->res));
        ++dispatched;
      }
      if (!(cqe->flags & IORING_CQE_F_MORE)) src->on_poll_ended(static_cast<std::uint32_t>(data >> kGenShift));
    }
    io_uring_cq_advance(&ring, seen);
    return dispatched;
  }
};

namespace {
// The lane the calling thread owns, and the driver it owns it in (bind_thread()).
thread_local const Driver* tls_lane_driver = nullptr;
thread_local std::uint32_t tls_lane = 0;

// Sets a ring up: COOP_TASKRUN, and the EXT_ARG feature that Ring::sleep() relies on. Returns
// an empty string, or why the kernel refused.
std::string init_ring(io_uring& ring) {
  // Sized for bursts of completions; the kernel keeps overflowing ones (IORING_FEAT_NODROP).
  // COOP_TASKRUN: a poll's wake-up runs as task work of the thread that armed the poll. Without
  // the flag the kernel interrupts that thread (an IPI) on every wake-up while it runs; with it,
  // the work waits for the thread's next entry into the kernel (its next syscall, or the next
  // timer tick of a thread that makes none), while a sleeping thread is still woken at once.
  // Half the server's CPU per echo round trip (docs/io.md "Backends"). Kernels before 5.19
  // refuse the flag with EINVAL: those get the ring without it.
  int rc = io_uring_queue_init(1024, &ring, IORING_SETUP_COOP_TASKRUN);
  if (rc == -EINVAL) rc = io_uring_queue_init(1024, &ring, 0);
  if (rc != 0) return std::string("io_uring_queue_init: ") + std::strerror(-rc);
  if (!(ring.features & IORING_FEAT_EXT_ARG)) {
    io_uring_queue_exit(&ring);
    return "the kernel lacks IORING_FEAT_EXT_ARG (5.11)";
  }
  return {};
}
}  // namespace
#else
struct Driver::Ring {};
#endif

Driver::Driver(IoBackend requested, [[maybe_unused]] unsigned lanes) {
  if (requested == IoBackend::kIoUring) {
#if defined(TETHER_HAVE_URING)
    for (unsigned i = 0; i < std::max(lanes, 1u) && refusal_.empty(); ++i) {
      auto ring = std::make_unique<Ring>();
      refusal_ = init_ring(ring->ring);
      if (!refusal_.empty()) break;
      ring->lane = i;
      rings_.push_back(std::move(ring));
    }
    if (refusal_.empty()) return;
    for (auto& r : rings_) io_uring_queue_exit(&r->ring);
    rings_.clear();
#else
    refusal_ = "built without liburing";
#endif
  }
  eventfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (eventfd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) {
    ::close(eventfd_);
    throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;  // edge-triggered: one wake-up per unpark batch, drained in wait()
  ev.data.u64 = kWakeToken;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev);
}

Driver::~Driver() {
#if defined(TETHER_HAVE_URING)
  for (auto& r : rings_) io_uring_queue_exit(&r->ring);
#endif
  if (eventfd_ >= 0) ::close(eventfd_);
  if (epfd_ >= 0) ::close(epfd_);
}

void Driver::bind_thread(unsigned lane) noexcept {
#if defined(TETHER_HAVE_URING)
  tls_lane_driver = this;
  tls_lane = lane < rings_.size() ? lane : 0;
#else
  (void)lane;
#endif
}

void Driver::unbind_thread() noexcept {
#if defined(TETHER_HAVE_URING)
  if (tls_lane_driver == this) tls_lane_driver = nullptr;
#endif
}

Driver::Ring& Driver::own_ring() const noexcept {
#if defined(TETHER_HAVE_URING)
  return *rings_[tls_lane_driver == this ? tls_lane : 0];
#else
  std::abort();  // no rings without liburing
#endif
}

int Driver::add(int fd, EventSource* src, std::uint32_t gen) noexcept {
#if defined(TETHER_HAVE_URING)
  if (!rings_.empty()) {
    Ring& ring = own_ring();
    src->lane_ = ring.lane;
    return ring.arm_poll(fd, pack(src, gen));
  }
#endif
  (void)gen;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = src;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void Driver::remove(int fd, EventSource* src, std::uint32_t gen) noexcept {
#if defined(TETHER_HAVE_URING)
  if (!rings_.empty()) {
    // Cancel (IORING_OP_ASYNC_CANCEL), not IORING_OP_POLL_REMOVE. The kernel runs a poll's
    // wake-ups as task work of the thread that armed it, and a queued one owns the request until it
    // has run. POLL_REMOVE needs that ownership: without it, it fails with -EALREADY and leaves the
    // poll armed until the ring is torn down, holding its reference to the file, so close() no
    // longer releases the socket and the peer never sees the end of stream (a read on the other
    // end waits out its io_timeout). That happens whenever an fd is closed on one thread right
    // after an event for it, while the thread that armed its poll has not yet run its task work
    // (a sleeping thread takes microseconds to be scheduled). A cancel marks the
    // request cancelled whether or not it can take ownership; the task work, when it runs, ends
    // the poll.
    // The poll's final completion (-ECANCELED) reaches on_poll_ended() with the old generation,
    // which the source no longer re-arms; the cancel's own completion is ignored.
    rings_[src->lane_]->submit([&](io_uring_sqe* sqe) {
      io_uring_prep_cancel64(sqe, pack(src, gen), 0);
      io_uring_sqe_set_data64(sqe, kIgnoreToken);
    });
    return;
  }
#endif
  (void)src;
  (void)gen;
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

int Driver::wait(int timeout_ms) noexcept { return rings_.empty() ? wait_epoll(timeout_ms) : wait_ring(timeout_ms); }

void Driver::drain_eventfd() noexcept {
  std::uint64_t drained;
  while (::read(eventfd_, &drained, sizeof drained) > 0) {
  }
}

int Driver::wait_epoll(int timeout_ms) noexcept {
  epoll_event events[128];
  int n = ::epoll_wait(epfd_, events, 128, timeout_ms);
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kWakeToken) {
      drain_eventfd();
      continue;
    }
    // SAFETY: the I/O layer keeps a source valid while it may deliver (see EventSource).
    static_cast<EventSource*>(events[i].data.ptr)->on_events(events[i].events);
    ++dispatched;
  }
  return dispatched;
}

int Driver::wait_ring([[maybe_unused]] int timeout_ms) noexcept {
#if defined(TETHER_HAVE_URING)
  Ring& own = own_ring();
  if (timeout_ms != 0) {
    // unpark() protocol (Dekker, seq_cst): this stores the lane it sleeps in, then takes any unpark
    // that found nobody there; unpark() sets the flag, then reads the lane and wakes that ring.
    // At least one of them sees the other, so an unpark is never lost. A wake-up that arrives
    // after this thread stopped sleeping leaves a no-op completion that ends one later sleep of
    // this lane early: a spurious return, which every caller re-checks anyway.
    waiter_lane_.store(own.lane, std::memory_order_seq_cst);
    bool unparked = unpark_pending_.exchange(false, std::memory_order_seq_cst);
    if (!unparked && own.ready() == 0) own.sleep(timeout_ms);
    waiter_lane_.store(kNoLane, std::memory_order_seq_cst);
    // An unpark from while this thread slept has done its job; one that comes after this store
    // finds no lane and is kept for the next wait.
    unpark_pending_.store(false, std::memory_order_relaxed);
  }
  int dispatched = 0;
  {
    std::lock_guard<std::mutex> g(own.cq_mu);
    dispatched = own.reap();
  }
  // Help: completions of the other lanes whose owners are busy (or about to reap them
  // themselves: then the lock is taken, and they are left to them).
  for (auto& r : rings_) {
    if (r.get() == &own || r->ready() == 0 || !r->cq_mu.try_lock()) continue;
    dispatched += r->reap();
    r->cq_mu.unlock();
  }
  return dispatched;
#else
  return 0;
#endif
}

int Driver::wait_lane([[maybe_unused]] int timeout_ms) noexcept {
#if defined(TETHER_HAVE_URING)
  Ring& own = own_ring();
  if (timeout_ms != 0 && own.ready() == 0) own.sleep(timeout_ms);
  std::lock_guard<std::mutex> g(own.cq_mu);
  return own.reap();
#else
  return 0;
#endif
}

void Driver::wake_lane([[maybe_unused]] unsigned lane) noexcept {
#if defined(TETHER_HAVE_URING)
  if (lane < rings_.size()) rings_[lane]->wake();
#endif
}

void Driver::unpark() noexcept {
#if defined(TETHER_HAVE_URING)
  if (!rings_.empty()) {
    // seq_cst: the unpark() half of wait_ring()'s protocol.
    unpark_pending_.store(true, std::memory_order_seq_cst);
    std::uint32_t lane = waiter_lane_.load(std::memory_order_seq_cst);
    if (lane != kNoLane) rings_[lane]->wake();
    return;
  }
#endif
  std::uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up"; nothing else can fail here.
  [[maybe_unused]] ssize_t r = ::write(eventfd_, &one, sizeof one);
}

}  // namespace tether::detail
