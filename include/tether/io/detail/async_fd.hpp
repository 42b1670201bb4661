// Internal; not part of the public API.
//
// AsyncFd: one non-blocking file descriptor registered with the runtime's event driver, which every
// socket, pipe and signal type is built from; their reads and writes are IoOps (io_op.hpp) that
// drive its syscall attempts and waits. The readiness protocol is written out in
// src/io/registration.cpp; in short:
//  - a descriptor is registered once, edge-triggered, for reading and writing, for its lifetime;
//  - each direction has a readiness word (event tick, a sticky closed bit, a ready bit) and one
//    waiter slot; the
//    driver's dispatch (IoSlot::on_events) bumps the tick, sets the bit and wakes that waiter;
//  - an operation tries its syscall while the bit is set; on EAGAIN it clears the bit only if the
//    word is unchanged (no event came meanwhile), then waits for the word to change;
//  - the slot (the epoll data) lives in type-stable memory that is never freed, so a dispatch racing
//    with close() touches a valid slot; a stale event reaching a slot that was reused only causes a
//    spurious retry, which the loop absorbs.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/detail/task_header.hpp"
#include "tether/core/task.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {
template <class T>
class IoOp;
}  // namespace tether::io

namespace tether::detail {

class IoSlot;

enum class IoDir : std::uint8_t { kRead = 0, kWrite = 1 };

// What an fd is, for naming it in errors ("read from 127.0.0.1:5000", "accept on [::1]:80").
enum class FdKind : std::uint8_t { kStream, kListener, kDatagram, kPipe, kSignal };

// Suspends until the direction's readiness word differs from `snapshot`, or the deadline passes.
// Returns true on readiness, false on timeout; throws Cancelled. The deadline is kept by the slot's
// own timer for that direction (registration.cpp, step 4), not by one timer per wait.
class ReadyAwaiter {
 public:
  ReadyAwaiter(IoSlot* slot, IoDir dir, std::uint64_t snapshot, Deadline deadline) noexcept
      : slot_(slot), dir_(dir), snapshot_(snapshot), deadline_(deadline) {}
  ReadyAwaiter(const ReadyAwaiter&) = delete;
  ReadyAwaiter& operator=(const ReadyAwaiter&) = delete;
  ~ReadyAwaiter();

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> h);
  bool await_resume();

 private:
  friend class IoSlot;
  void unpublish() noexcept;

  IoSlot* slot_;
  IoDir dir_;
  std::uint64_t snapshot_;
  Deadline deadline_;
  Waiter waiter_;
  std::uint64_t deadline_ms_ = 0;  // deadline_ on the timer wheel's scale (kNever: none)
  bool published_ = false;
  bool timed_out_ = false;     // Access: set under the slot's lock by whoever claimed the waiter for the deadline
  bool resolved_now_ = false;  // completed in await_suspend without waiting
};

// An operation's deadline: one the caller gave, or the object's IoTimeout, which is read only when
// the operation first has to wait. Most reads and writes complete at once and then never read the
// clock (two clock reads per echo round trip were ~2% of an echo server's CPU).
class OpDeadline {
 public:
  OpDeadline(Deadline d) noexcept : deadline_(d), resolved_(true) {}                   // NOLINT: implicit by design
  OpDeadline(io::IoTimeout t) noexcept : timeout_(t), deadline_(Deadline::never()) {}  // NOLINT
  Deadline get() noexcept {
    if (!resolved_) {
      deadline_ = timeout_.deadline();
      resolved_ = true;
    }
    return deadline_;
  }

 private:
  io::IoTimeout timeout_;
  Deadline deadline_;
  bool resolved_ = false;
};

class AsyncFd {
 public:
  AsyncFd() noexcept = default;
  // Takes ownership of `fd` (made non-blocking here) and registers it with the driver of the
  // calling thread's runtime. Throws Error outside a runtime. `label` names a pipe or a path.
  AsyncFd(int fd, FdKind kind, std::string label = {});
  AsyncFd(AsyncFd&& o) noexcept;
  AsyncFd& operator=(AsyncFd&& o) noexcept;
  AsyncFd(const AsyncFd&) = delete;
  AsyncFd& operator=(const AsyncFd&) = delete;
  ~AsyncFd() { close(); }

  int fd() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  FdKind kind() const noexcept { return kind_; }
  // Deregisters and closes. REQUIRES: no operation on this fd is in flight.
  void close() noexcept;

  // "read from 127.0.0.1:5000": the operation and this fd's peer, address or label.
  std::string describe(const char* op) const;

  // Waits until the direction is (probably) ready; the caller then tries its syscall. Used by
  // connect, accept and the datagram calls, whose syscalls differ.
  std::uint64_t snapshot(IoDir dir) const noexcept;
  static bool is_ready(std::uint64_t snapshot) noexcept { return (snapshot & 3) != 0; }  // ready or closed
  // Clears the ready bit, and with `would_block` (the syscall said EAGAIN) the closed bit too, if
  // no event came since `snapshot`. Without would_block: a short read or write.
  void clear_ready(IoDir dir, std::uint64_t snapshot, bool would_block = true) noexcept;
  [[nodiscard]] ReadyAwaiter wait(IoDir dir, std::uint64_t snapshot, Deadline deadline) noexcept {
    return ReadyAwaiter(slot_, dir, snapshot, deadline);
  }

 private:
  // The operations (io_op.hpp) drive try_io and the waits themselves.
  template <class T>
  friend class io::IoOp;
  static constexpr std::ptrdiff_t kMustWait = -1;
  // One attempt of the read or write syscall (registration.cpp, step 3).
  std::ptrdiff_t try_io(IoDir dir, void* data, std::size_t n, std::uint64_t* snap, const char* op);
  // read_exact's end of stream after `done` of `n` bytes.
  [[noreturn]] void throw_unexpected_eof(const char* op, std::size_t done, std::size_t n) const;

  int fd_ = -1;
  FdKind kind_ = FdKind::kStream;
  IoSlot* slot_ = nullptr;
  RuntimeCore* core_ = nullptr;
  std::string label_;
};

// The runtime's io_timeout as a deadline from now (30 s outside a runtime).
Deadline default_io_deadline() noexcept;

}  // namespace tether::detail
