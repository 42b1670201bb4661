// The readiness registration every I/O object is built on; see include/tether/io/detail/async_fd.hpp.
//
// Protocol (STYLE.md §8)
//
// State, per IoSlot (the EventSource the Driver delivers the fd's readiness to):
//   word_[d]   for each direction d (read, write): tick << 2 | closed << 1 | ready. Written under
//              mu_ (dispatch, register), or by a compare-and-swap from a snapshot (clear_ready,
//              step 3); read without mu_ (acquire) by operations taking a snapshot. `closed`
//              (hang-up, error) is sticky until the slot is reused.
//   waiting_[d] the one task waiting for direction d (its ReadyAwaiter), or null. Access: only
//              under mu_.
//   timer_[d]  direction d's deadline timer, an entry of the fd's runtime's timer wheel, and
//              armed_ms_[d], the deadline it is linked at (kNever: unlinked). armed_ms_ is written
//              holding both the wheel's lock and mu_ (in that order; mu_ is never held while taking
//              the wheel's lock), so either lock is enough to read it.
//   owner      whether an AsyncFd holds the slot. Access: only under the slab's lock.
//
// Steps:
//  1. Register: take a slot from the slab, set both words to "ready" (an optimistic first attempt),
//     start a new registration generation, then Driver::add() the fd once (edge-triggered read,
//     write and hang-up readiness; epoll or an io_uring multishot poll) with the slot as source.
//  2. Dispatch (on_events, on the thread holding the driver): under mu_, for each direction the
//     event covers, bump the tick, set ready (and closed on a hang-up), take waiting_[d] and claim
//     it (waiter.hpp rule 1: a cancelled or timed-out waiter refuses); after unlocking, wake the
//     claimed ones. The claim must not leave mu_: a waiter a canceller claimed first is resumed,
//     unpublishes itself under mu_ (step 5) and is gone once mu_ is released.
//  3. Operate: snapshot the word; if ready or closed, try the syscall; on EAGAIN, clear_ready()
//     swaps the word from the snapshot to snapshot & ~(ready|closed) (it fails if an event came
//     meanwhile, and no edge is lost). The swap takes no lock: a dispatch that loaded the word
//     before it stores over it afterwards, with a new tick and `ready` set, which undoes the clear
//     (one spurious retry) and never loses the edge. EAGAIN is authoritative: a `closed` bit it
//     contradicts came from a stale event (step 6) and must go, or the loop would spin. A short
//     read clears only `ready` (the socket is drained), never `closed`: after a hang-up no further
//     edge comes, so the end of stream must stay visible.
//  4. Wait (ReadyAwaiter::await_suspend): under mu_, if the word differs from the snapshot an event
//     came since: do not suspend, retry. Otherwise publish waiting_[d] and arm cancellation (last,
//     under mu_). The deadline needs no timer operation when the direction's timer is armed at or
//     before it (the usual case: the previous wait's deadline, one io_timeout earlier at most);
//     only a deadline earlier than armed_ms_[d] (or none armed) links the timer, under the wheel's
//     lock and mu_ (arm_timer; a deadline already passed claims the waiter there and times out
//     without suspending). When the timer fires (fire_timer, under both locks) it looks at the
//     current waiter: none, or one without a deadline, leaves it unlinked; one whose deadline is
//     later moves it on to that deadline; one whose deadline has come is taken and claimed. So a
//     stream of reads and writes that complete in time costs one wheel operation per io_timeout,
//     not two per wait, and no deadline is missed: while a waiter is suspended, the timer is linked
//     at or before its deadline. Whoever claims the waiter first (event, timer, canceller) wakes
//     the task; the timer's claim records timed_out_.
//  5. Resume: disarm cancellation; a waiter claimed by a canceller unpublishes itself under mu_
//     (the event and the timer take the waiter out of waiting_[d] before claiming it). The timer
//     stays armed for the next wait. (An IoOp resumes in its task's resume hook, on the worker
//     about to run the task, and resumes the task's coroutine only once the operation is over;
//     io_op.hpp.)
//  6. Close: under mu_, end the registration (live_ = false, and a new generation) and
//     Driver::remove() it, then unlink the timers (wheel's lock, then mu_); then close the fd and
//     return the slot to the slab. The slot's memory is never freed (type-stable), so a dispatch
//     already past epoll_wait when the fd was closed still touches a valid slot; if the slot was
//     reused meanwhile, that stale event only bumps a tick and makes the new owner retry a syscall
//     once, which step 3 absorbs. No operation may be in flight on an fd being closed (the owning
//     object's contract), so no waiter is published at close, and a firing racing with the close
//     finds none and leaves its timer unlinked.
//
//  7. io_uring only: a multishot poll that ends without remove() (on_poll_ended, on the driver
//     thread) is armed again, under mu_, if its generation is the live one; step 6 changes both
//     under mu_, so a closed fd is never re-armed, and a re-armed poll is the one remove() ends.
//     (Generations are 16 bits: a slot would have to be reused 65,536 times while one completion
//     is in flight to confuse them.)
//
// Invariants: a task suspended in ReadyAwaiter is woken exactly once (rule 1); an event that comes
// between a failed syscall and the wait is seen, because both step 2 and step 4 hold mu_ and step 4
// compares the whole word, tick included.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include <spdlog/spdlog.h>

#include "sys/backend.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/error.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/io/net/socket_address.hpp"

namespace tether::detail {

class IoSlot final : public EventSource {
 public:
  // Word layout (per direction): tick << 2 | closed << 1 | ready. `closed` (hang-up or error) is
  // sticky: clear_ready() never clears it, because after a hang-up no further edge will come, so a
  // short read that drained the data must not hide the end of stream that follows it.
  static constexpr std::uint64_t kReady = 1;
  static constexpr std::uint64_t kClosed = 2;
  static constexpr int kTickShift = 2;
  static constexpr std::uint64_t kNever = TimerWheel::kNever;

  IoSlot() noexcept {
    for (int d = 0; d < 2; ++d) {
      timer_[d].slot = this;
      timer_[d].dir = d;
      timer_[d].fire = &IoSlot::fire_timer;
    }
  }

  void on_events(std::uint32_t ev) noexcept override {
    std::uint64_t bits[2] = {0, 0};
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) bits[0] |= kReady;
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) bits[0] |= kClosed;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) bits[1] |= kReady;
    if (ev & (EPOLLHUP | EPOLLERR)) bits[1] |= kClosed;
    Waiter* wake[2] = {nullptr, nullptr};
    {
      std::lock_guard g(mu_);
      for (int d = 0; d < 2; ++d) {
        if (!bits[d]) continue;
        // relaxed: the other writers hold mu_, except clear_ready() (step 3 says why that is safe).
        std::uint64_t w = word_[d].load(std::memory_order_relaxed);
        // release: pairs with the acquire in AsyncFd::snapshot().
        word_[d].store(((((w >> kTickShift) + 1) << kTickShift) | (w & kClosed) | bits[d]), std::memory_order_release);
        // Claimed under mu_: a waiter that a canceller claimed first is resumed, takes mu_ to
        // unpublish itself and is destroyed, so after unlocking only a waiter claimed here (kept
        // alive until it is woken) may be touched.
        ReadyAwaiter* waiting = std::exchange(waiting_[d], nullptr);
        if (waiting && waiting->waiter_.claim_notify()) wake[d] = &waiting->waiter_;
      }
    }
    for (Waiter* w : wake) {
      if (w) w->wake();
    }
  }

  // Step 7.
  void on_poll_ended(std::uint32_t gen) noexcept override {
    std::lock_guard g(mu_);
    if (live_ && (gen_ & 0xffff) == gen) driver_->add(fd_, this, gen_ & 0xffff);
  }

  // Step 1. Returns 0 or an errno.
  int start(RuntimeCore& core, int fd) noexcept {
    reset();
    std::lock_guard g(mu_);
    core_ = &core;
    virtual_time_ = core.is_virtual_time();
    driver_ = &core.driver();
    fd_ = fd;
    ++gen_;
    int err = driver_->add(fd, this, gen_ & 0xffff);
    live_ = err == 0;
    return err;
  }
  // Step 6.
  void stop() noexcept {
    bool timer_linked;
    {
      std::lock_guard g(mu_);
      if (!live_) return;
      live_ = false;
      driver_->remove(fd_, this, gen_ & 0xffff);
      ++gen_;
      timer_linked = armed_ms_[0] != kNever || armed_ms_[1] != kNever;
    }
    if (!timer_linked) return;
    core_->with_timer_wheel([this](TimerWheel& wheel) {
      std::lock_guard g(mu_);
      for (int d = 0; d < 2; ++d) unlink_timer(wheel, d);
    });
  }

  void reset() noexcept {
    std::lock_guard g(mu_);
    for (int d = 0; d < 2; ++d) {
      std::uint64_t w = word_[d].load(std::memory_order_relaxed);  // relaxed: under mu_
      // A new tick, ready, not closed; release pairs with snapshot().
      word_[d].store((((w >> kTickShift) + 1) << kTickShift) | kReady, std::memory_order_release);
      waiting_[d] = nullptr;
    }
  }

  // Step 4, when the waiter's deadline is earlier than the one the direction's timer is armed for
  // (or it is not armed): links the timer at the waiter's deadline. Returns false if that deadline
  // has already passed and this call claimed the waiter for it (it must not suspend).
  bool arm_timer(int d, ReadyAwaiter* awaiter) noexcept {
    bool claimed = false;
    core_->with_timer_wheel([&](TimerWheel& wheel) {
      std::lock_guard g(mu_);
      // Woken meanwhile (an event took it), or a firing already moved the timer to its deadline.
      if (waiting_[d] != awaiter || awaiter->deadline_ms_ >= armed_ms_[d]) return;
      unlink_timer(wheel, d);
      timer_[d].deadline_ms = awaiter->deadline_ms_;
      if (wheel.insert(&timer_[d])) {
        armed_ms_[d] = timer_[d].deadline_ms;
        return;
      }
      waiting_[d] = nullptr;
      if (awaiter->waiter_.claim_notify()) {
        awaiter->timed_out_ = true;
        claimed = true;
      }
    });
    return !claimed;
  }

  // Virtual time only, when a wait has ended: unlinks the direction's timer if nobody waits, so that
  // a virtual clock, which jumps to the next timer when every task is blocked, never jumps to a
  // timer no task waits for. (Real time keeps it armed: that is what saves the wheel operations.)
  void release_timer(int d) noexcept {
    core_->with_timer_wheel([&](TimerWheel& wheel) {
      std::lock_guard g(mu_);
      if (!waiting_[d]) unlink_timer(wheel, d);
    });
  }

  SpinLock mu_;
  Atomic<std::uint64_t> word_[2] = {1, 1};
  ReadyAwaiter* waiting_[2] = {nullptr, nullptr};  // Access: only under mu_
  // Each direction's deadline timer (step 4) and the deadline it is linked at (kNever: not linked).
  // Access: armed_ms_ is written under the timer lock of core_ and mu_, both, and read under either.
  struct DeadlineTimer : TimerEntry {
    IoSlot* slot = nullptr;
    int dir = 0;
  };
  DeadlineTimer timer_[2];
  std::uint64_t armed_ms_[2] = {kNever, kNever};
  // The registration (steps 1, 6, 7). Access: only under mu_ (core_ is also read by the operations,
  // which follow the registration).
  RuntimeCore* core_ = nullptr;
  bool virtual_time_ = false;  // core_ runs on a virtual clock (release_timer())
  Driver* driver_ = nullptr;
  int fd_ = -1;
  std::uint32_t gen_ = 0;
  bool live_ = false;
  IoSlot* next_free = nullptr;  // Access: only under the slab's lock

 private:
  // Caller holds the wheel's lock and mu_. A no-op if the timer is not linked.
  void unlink_timer(TimerWheel& wheel, int d) noexcept {
    wheel.remove(&timer_[d]);
    armed_ms_[d] = kNever;
  }

  // Step 4, under the timer lock: the direction's timer came due. A waiter whose deadline is later
  // moves it on; a waiter whose deadline has come is claimed and woken as timed out; with no waiter
  // it stays unlinked until a wait needs it again.
  static bool fire_timer(TimerEntry* e, FiredBatch& batch) noexcept {
    auto* timer = static_cast<DeadlineTimer*>(e);
    IoSlot* self = timer->slot;
    const int d = timer->dir;
    std::lock_guard g(self->mu_);
    self->armed_ms_[d] = kNever;
    ReadyAwaiter* waiting = self->waiting_[d];
    if (!waiting || waiting->deadline_ms_ == kNever) return false;
    if (waiting->deadline_ms_ > batch.now_ms) {
      e->deadline_ms = std::min(waiting->deadline_ms_, batch.now_ms + TimerWheel::kSpan - 1);
      self->armed_ms_[d] = e->deadline_ms;
      return true;
    }
    self->waiting_[d] = nullptr;
    // As in on_events: claimed under mu_, so the waiter is alive until it is woken.
    if (waiting->waiter_.claim_notify()) {
      waiting->timed_out_ = true;
      batch.wake[batch.n_wake++] = &waiting->waiter_;
    }
    return false;
  }
};

namespace {

// Type-stable slots (step 6): allocated in chunks, never freed, reused through a free list.
class Slab {
 public:
  IoSlot* take() {
    std::lock_guard g(mu_);
    if (!free_) {
      constexpr int kChunk = 256;
      auto* chunk = new IoSlot[kChunk];  // SAFETY: never freed, see step 6
      for (int i = kChunk - 1; i >= 0; --i) {
        chunk[i].next_free = free_;
        free_ = &chunk[i];
      }
    }
    IoSlot* s = free_;
    free_ = s->next_free;
    s->next_free = nullptr;
    return s;
  }
  void give_back(IoSlot* s) {
    std::lock_guard g(mu_);
    s->next_free = free_;
    free_ = s;
  }

 private:
  std::mutex mu_;
  IoSlot* free_ = nullptr;
};

Slab& slab() {
  static Slab* s = new Slab;  // SAFETY: leaked on purpose; slots must outlive every runtime
  return *s;
}

const char* preposition(const char* op) {
  auto starts = [op](const char* p) { return std::strncmp(op, p, std::strlen(p)) == 0; };
  if (starts("accept")) return " on ";
  if (starts("write") || starts("send") || starts("connect") || starts("shutdown") || starts("flush")) return " to ";
  return " from ";
}

}  // namespace

// ---- ReadyAwaiter (steps 4 and 5) ----

ReadyAwaiter::~ReadyAwaiter() {
  unpublish();
  disarm(waiter_);
}

void ReadyAwaiter::unpublish() noexcept {
  if (!published_) return;
  published_ = false;
  std::lock_guard g(slot_->mu_);
  auto& w = slot_->waiting_[static_cast<int>(dir_)];
  if (w == this) w = nullptr;
}

bool ReadyAwaiter::await_suspend(std::coroutine_handle<> h) {
  TaskHeader* self = current_task();
  if (!self) throw Error("I/O awaited outside a tether task");
  int d = static_cast<int>(dir_);
  deadline_ms_ = deadline_.is_never() ? TimerWheel::kNever : to_ms(deadline_.instant());
  bool arm_timer;
  {
    std::lock_guard g(slot_->mu_);
    // acquire: pairs with the dispatch's store (under mu_ anyway) and this task's clear_ready().
    if (slot_->word_[d].load(std::memory_order_acquire) != snapshot_) {
      resolved_now_ = true;  // an event came since the snapshot: retry the syscall
      return false;
    }
    self->waiting_on = dir_ == IoDir::kRead ? "io read" : "io write";
    slot_->waiting_[d] = this;
    published_ = true;
    if (!arm_current(waiter_, h)) {  // cancelled: await_resume throws
      slot_->waiting_[d] = nullptr;
      published_ = false;
      return false;
    }
    // Usually the timer is still armed for an earlier wait's deadline, which is not later than
    // this one: when it fires it moves on to this deadline, and nothing is done here.
    arm_timer = deadline_ms_ < slot_->armed_ms_[d];
  }
  // Until it suspends, the task cannot resume (a wake meanwhile is held for it), so this awaiter
  // outlives the call below even when an event claims it first.
  return !arm_timer || slot_->arm_timer(d, this);
}

bool ReadyAwaiter::await_resume() {
  if (resolved_now_) return true;
  TaskHeader* self = current_task();
  self->waiting_on = nullptr;
  disarm(waiter_);
  const bool notified = waiter_.state() == Waiter::kNotified;
  if (notified) {
    // The event or the deadline that claimed the waiter took it out of the slot first (steps 2, 4).
    published_ = false;
  } else {
    unpublish();  // a canceller claimed it: still published
  }
  if (slot_->virtual_time_) slot_->release_timer(static_cast<int>(dir_));
  if (!notified) throw Cancelled();
  return !timed_out_;
}

// ---- AsyncFd ----

AsyncFd::AsyncFd(int fd, FdKind kind, std::string label) : fd_(fd), kind_(kind), label_(std::move(label)) {
  core_ = RuntimeCore::current();
  if (!core_) {
    ::close(fd);
    fd_ = -1;
    throw Error("tether I/O object created outside a runtime");
  }
  io_backend_check(*core_);
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0 && !(flags & O_NONBLOCK)) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  slot_ = slab().take();
  if (int err = slot_->start(*core_, fd); err != 0) {  // step 1
    slab().give_back(slot_);
    slot_ = nullptr;
    ::close(fd);
    fd_ = -1;
    throw io::Error(err, "register fd with the I/O driver");
  }
}

AsyncFd::AsyncFd(AsyncFd&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      kind_(o.kind_),
      slot_(std::exchange(o.slot_, nullptr)),
      core_(o.core_),
      label_(std::move(o.label_)) {}

AsyncFd& AsyncFd::operator=(AsyncFd&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    kind_ = o.kind_;
    slot_ = std::exchange(o.slot_, nullptr);
    core_ = o.core_;
    label_ = std::move(o.label_);
  }
  return *this;
}

void AsyncFd::close() noexcept {
  if (fd_ < 0) return;
  if (slot_) {
    slot_->stop();  // step 6
    slab().give_back(slot_);
    slot_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
}

std::uint64_t AsyncFd::snapshot(IoDir dir) const noexcept {
  // acquire: pairs with the release store in on_events().
  return slot_->word_[static_cast<int>(dir)].load(std::memory_order_acquire);
}

void AsyncFd::clear_ready(IoDir dir, std::uint64_t snap, bool would_block) noexcept {
  std::uint64_t clear = would_block ? (IoSlot::kReady | IoSlot::kClosed) : IoSlot::kReady;
  // Step 3, without mu_: release pairs with snapshot(); relaxed on failure (nothing is stored).
  slot_->word_[static_cast<int>(dir)].compare_exchange_strong(snap, snap & ~clear, std::memory_order_release,
                                                              std::memory_order_relaxed);
}

std::string AsyncFd::describe(const char* op) const {
  std::string target = label_;
  if (target.empty() && fd_ >= 0 && kind_ != FdKind::kPipe && kind_ != FdKind::kSignal) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int r = kind_ == FdKind::kListener ? ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len)
                                       : ::getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r != 0 && kind_ == FdKind::kDatagram) {  // unconnected: name the local end
      len = sizeof ss;
      r = ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    }
    if (r == 0) target = io::SocketAddress(reinterpret_cast<sockaddr*>(&ss), len).to_string();
  }
  if (target.empty()) target = "fd " + std::to_string(fd_);
  return std::string(op) + preposition(op) + target;
}

namespace {

bool would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

// Socket reads and writes skip glibc's wrappers, which make every call a pthread cancellation point
// with two atomic read-modify-writes around it (~1% of an echo server's CPU); tether never uses
// pthread cancellation. Sanitizer builds keep the wrappers: their interceptors check the buffer
// (ASan) and model the happens-before a socket carries between threads (TSan).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TETHER_LIBC_SOCKET_CALLS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TETHER_LIBC_SOCKET_CALLS 1
#endif
#endif
#if defined(TETHER_LIBC_SOCKET_CALLS)
ssize_t socket_recv(int fd, void* data, std::size_t n) noexcept { return ::recv(fd, data, n, 0); }
ssize_t socket_send(int fd, const void* data, std::size_t n) noexcept { return ::send(fd, data, n, MSG_NOSIGNAL); }
#else
ssize_t socket_recv(int fd, void* data, std::size_t n) noexcept {
  return ::syscall(SYS_recvfrom, fd, data, n, 0, nullptr, nullptr);
}
ssize_t socket_send(int fd, const void* data, std::size_t n) noexcept {
  return ::syscall(SYS_sendto, fd, data, n, MSG_NOSIGNAL, nullptr, 0);
}
#endif

}  // namespace

// One attempt (step 3): the syscall, if the word says ready (and, for a read, this task may
// consume). Returns the bytes moved, or kMustWait with *snap the word to wait on; throws io::Error.
// `data` is only read from when `dir` is kWrite.
std::ptrdiff_t AsyncFd::try_io(IoDir dir, void* data, std::size_t n, std::uint64_t* snap, const char* op) {
  const bool read = dir == IoDir::kRead;
  const bool socket = kind_ != FdKind::kPipe && kind_ != FdKind::kSignal;
  for (;;) {
    *snap = snapshot(dir);
    // waiter.hpp rule 4: a read never consumes in a losing select branch.
    if (!is_ready(*snap) || (read && !may_consume())) return kMustWait;
    ssize_t r = read ? (socket ? socket_recv(fd_, data, n) : ::read(fd_, data, n))
                     : (socket ? socket_send(fd_, data, n) : ::write(fd_, data, n));
    if (r >= 0) {
      // Short: a read drained the byte stream, or a write filled the buffer; the next attempt
      // waits for an event instead of trying. (Not for datagram reads: a short datagram says
      // nothing about the ones queued behind it.)
      if (static_cast<std::size_t>(r) < n && (!read || (r > 0 && kind_ != FdKind::kDatagram)))
        clear_ready(dir, *snap, false);
      return r;
    }
    int e = errno;
    if (e == EINTR) continue;
    if (!would_block(e)) throw io::Error(e, describe(op));
    clear_ready(dir, *snap);
  }
}

void AsyncFd::throw_unexpected_eof(const char* op, std::size_t done, std::size_t n) const {
  throw io::Error(io::ErrorKind::kUnexpectedEof, describe(op),
                  "end of stream after " + std::to_string(done) + " of " + std::to_string(n) + " bytes");
}

Deadline default_io_deadline() noexcept {
  RuntimeCore* core = RuntimeCore::current();
  return Deadline::after(core ? core->options().io_timeout : std::chrono::milliseconds(30'000));
}

}  // namespace tether::detail

namespace tether::io {

Deadline IoTimeout::deadline() const noexcept {
  switch (kind_) {
    case Kind::kNever:
      return Deadline::never();
    case Kind::kAfter:
      return Deadline::after(d_);
    case Kind::kRuntime:
      break;
  }
  return detail::default_io_deadline();
}

}  // namespace tether::io
