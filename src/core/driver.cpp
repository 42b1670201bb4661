// The driver's two backends, epoll and io_uring; see include/tether/core/detail/driver.hpp.
#include "tether/core/detail/driver.hpp"

#include "tether/core/detail/sync_shim.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(TETHER_HAVE_URING)
#include <liburing.h>
#endif

namespace tether::detail {
namespace {

// Tokens that are never EventSource addresses: the wake-up eventfd, and completions to ignore.
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
  std::mutex sq_mu;  // guards the submission queue: add() and remove() come from any thread
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
};
#else
struct Driver::Ring {};
#endif

Driver::Driver(IoBackend requested) {
  eventfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (eventfd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  if (requested == IoBackend::kIoUring) {
#if defined(TETHER_HAVE_URING)
    auto ring = std::make_unique<Ring>();
    // Sized for bursts of completions; the kernel keeps overflowing ones (IORING_FEAT_NODROP).
    // COOP_TASKRUN: a poll's wake-up runs as task work of the thread that armed the poll. Without
    // the flag the kernel interrupts that thread (an IPI) on every wake-up while it runs; with it,
    // the work waits for the thread's next entry into the kernel (its next syscall, or the next
    // timer tick of a thread that makes none), while a sleeping thread is still woken at once.
    // Half the server's CPU per echo round trip (docs/io.md "Backends"). Kernels before 5.19
    // refuse the flag with EINVAL: those get the ring without it.
    int rc = io_uring_queue_init(1024, &ring->ring, IORING_SETUP_COOP_TASKRUN);
    if (rc == -EINVAL) rc = io_uring_queue_init(1024, &ring->ring, 0);
    if (rc == 0) {
      ring_ = std::move(ring);
      rc = ring_->arm_poll(eventfd_, kWakeToken);
      if (rc != 0) {
        io_uring_queue_exit(&ring_->ring);
        ring_.reset();
        refusal_ = std::string("polling the wake-up eventfd: ") + std::strerror(rc);
      }
    } else {
      refusal_ = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    }
#else
    refusal_ = "built without liburing";
#endif
  }
  if (ring_) return;
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
  if (ring_) io_uring_queue_exit(&ring_->ring);
#endif
  ::close(eventfd_);
  if (epfd_ >= 0) ::close(epfd_);
}

int Driver::add(int fd, EventSource* src, std::uint32_t gen) noexcept {
#if defined(TETHER_HAVE_URING)
  if (ring_) return ring_->arm_poll(fd, pack(src, gen));
#endif
  (void)gen;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = src;
  return ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void Driver::remove(int fd, EventSource* src, std::uint32_t gen) noexcept {
#if defined(TETHER_HAVE_URING)
  if (ring_) {
    // Cancel (IORING_OP_ASYNC_CANCEL), not IORING_OP_POLL_REMOVE. The kernel runs a poll's
    // wake-ups as task work of the thread that armed it, and a queued one owns the request until it
    // has run. POLL_REMOVE needs that ownership: without it, it fails with -EALREADY and leaves the
    // poll armed until the ring is torn down, holding its reference to the file, so close() no
    // longer releases the socket and the peer never sees the end of stream (a read on the other
    // end waits out its io_timeout). That happens whenever an fd is closed on one thread right
    // after an event for it, while the thread that armed its poll has not yet run its task work
    // (a worker parked on its condvar takes microseconds to be scheduled). A cancel marks the
    // request cancelled whether or not it can take ownership; the task work, when it runs, ends
    // the poll.
    // The poll's final completion (-ECANCELED) reaches on_poll_ended() with the old generation,
    // which the source no longer re-arms; the cancel's own completion is ignored.
    ring_->submit([&](io_uring_sqe* sqe) {
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

int Driver::wait(int timeout_ms) noexcept { return ring_ ? wait_ring(timeout_ms) : wait_epoll(timeout_ms); }

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
  io_uring& ring = ring_->ring;
  io_uring_cqe* cqe = nullptr;
  if (io_uring_peek_cqe(&ring, &cqe) != 0 && timeout_ms != 0) {
    // Nothing there yet: sleep in the kernel. Only completions are waited for; nothing is
    // submitted here (submissions happen under sq_mu, inside add() and remove()).
    if (timeout_ms < 0) {
      io_uring_wait_cqe(&ring, &cqe);
    } else {
      __kernel_timespec ts{timeout_ms / 1000, static_cast<long long>(timeout_ms % 1000) * 1'000'000};
      io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
    }
  }
  int dispatched = 0;
  bool wake_rearm = false;
  unsigned head;
  unsigned seen = 0;
  io_uring_for_each_cqe(&ring, head, cqe) {
    ++seen;
    // acquire: see Ring::submissions. Per completion, after seeing it: the loop also meets
    // completions of requests submitted after any earlier load.
    ring_->submissions.load(std::memory_order_acquire);
    std::uint64_t data = io_uring_cqe_get_data64(cqe);
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (data == kIgnoreToken) continue;
    if (data == kWakeToken) {
      drain_eventfd();
      if (!more) wake_rearm = true;
      continue;
    }
    // SAFETY: the I/O layer keeps a source valid while it may deliver (see EventSource).
    auto* src = reinterpret_cast<EventSource*>(static_cast<std::uintptr_t>(data & kPtrMask));
    if (cqe->res > 0) {
      src->on_events(static_cast<std::uint32_t>(cqe->res));
      ++dispatched;
    }
    if (!more) src->on_poll_ended(static_cast<std::uint32_t>(data >> kGenShift));
  }
  io_uring_cq_advance(&ring, seen);
  if (wake_rearm) ring_->arm_poll(eventfd_, kWakeToken);
  return dispatched;
#else
  return 0;
#endif
}

void Driver::unpark() noexcept {
  std::uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up"; nothing else can fail here.
  [[maybe_unused]] ssize_t r = ::write(eventfd_, &one, sizeof one);
}

}  // namespace tether::detail
