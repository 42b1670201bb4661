// tether/io/io_op.hpp
//
// IoOp<T>: what the streams' read, read_exact, write and write_all return (TcpStream, UnixStream,
// PipeReader/PipeWriter, UdpSocket's send/recv): one I/O operation with its deadline, as an
// awaitable that needs no coroutine frame of its own. `co_await s.read(buf)` tries the syscall at
// once, so an operation that needs no wait (a write into a socket buffer with room, a read of bytes
// already queued) completes in the awaiting coroutine's frame. One that has to wait parks the task
// on the socket's readiness; when the task is woken, the worker finishes the operation before it
// resumes the task (TaskHeader::resume_hook): it tries the syscall again and, if the kernel has
// nothing after all, waits again without resuming it. An echo server's round trip so runs with no
// coroutine frame and no transfer between frames besides its own loop's.
//
//   IoOp<std::size_t>   read / write: the bytes moved (read: 0 at end of stream)
//   IoOp<void>          read_exact / write_all: every byte, or an error
//
// Like a Task, an IoOp is lazy: nothing happens until it is awaited. To keep it or hand it on (to
// timeout(), select(), spawn()), convert it: `Task<std::size_t> t = s.read(buf);` runs the same
// operation when t is awaited.
//
// When to use something else: nothing to choose between; this header names the calls' result type.
//
// Thread safety: a value owned by one task; await it once, in a tether task, while the stream is
//   alive and not moved.
// Cancellation: that of the call that returned it (read and write are cancel-safe; read_exact and
//   write_all are not). A completed operation is never turned into Cancelled by the cooperative
//   yield that may follow it: the bytes it moved are returned.
// Allocation: none.
// Example: examples/io/echo_server.cpp
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/detail/async_fd.hpp"

namespace tether::io {

template <class T>
class [[nodiscard]] IoOp final : private ::tether::detail::ResumeHook {
  static_assert(std::is_same_v<T, std::size_t> || std::is_void_v<T>, "IoOp<std::size_t> or IoOp<void>");
  static constexpr bool kAll = std::is_void_v<T>;  // read_exact / write_all: loop until every byte moved
  using Fd = ::tether::detail::AsyncFd;

 public:
  // A read into `buf` / a write of `buf`; `op` names it in errors ("read", "send").
  IoOp(Fd& fd, MutableBuffer buf, ::tether::detail::OpDeadline deadline, const char* op) noexcept
      : fd_(&fd),
        data_(static_cast<char*>(buf.data)),
        n_(buf.size),
        deadline_(deadline),
        op_(op),
        dir_(::tether::detail::IoDir::kRead) {}
  IoOp(Fd& fd, ConstBuffer buf, ::tether::detail::OpDeadline deadline, const char* op) noexcept
      : fd_(&fd),
        data_(const_cast<char*>(static_cast<const char*>(buf.data))),  // only read from
        n_(buf.size),
        deadline_(deadline),
        op_(op),
        dir_(::tether::detail::IoDir::kWrite) {}
  // Only before it is awaited (the conversion to Task moves it into the task's frame).
  IoOp(IoOp&& o) noexcept : fd_(o.fd_), data_(o.data_), n_(o.n_), deadline_(o.deadline_), op_(o.op_), dir_(o.dir_) {}
  IoOp& operator=(IoOp&&) = delete;
  ~IoOp() {
    // Destroyed while suspended (its frame torn down): the task must not run this hook any more.
    if (hooked_ && hooked_->resume_hook == this) hooked_->resume_hook = nullptr;
  }

  // The fast path: the syscall(s) now. Throws io::Error naming the operation and the peer.
  bool await_ready() { return (step_ = attempt()) == Step::kDone; }

  bool await_suspend(std::coroutine_handle<> caller) {
    caller_ = caller;
    return suspend();
  }

  T await_resume() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    if constexpr (!kAll) return done_;
  }

  // The same operation as a lazy Task, for code that stores operations or passes them on.
  operator Task<T>() && { return as_task(std::move(*this)); }  // NOLINT: implicit by design

 private:
  // What the last attempt left to do.
  enum class Step : std::uint8_t {
    kDone,          // finished
    kWait,          // the syscall would block: wait for the readiness word to leave snap_
    kYield,         // the budget is spent with bytes left (kAll): yield, then go on
    kDoneThenYield  // finished, and the budget is spent: yield, then return
  };

  static Task<T> as_task(IoOp op) { co_return co_await op; }

  // Syscalls until the operation is finished, would block, or spends the budget.
  Step attempt() {
    for (;;) {
      if constexpr (kAll) {
        if (done_ == n_) return Step::kDone;  // also an empty buffer: no syscall
      }
      std::ptrdiff_t r = fd_->try_io(dir_, data_ + done_, n_ - done_, &snap_, op_);
      if (r == Fd::kMustWait) return Step::kWait;
      if constexpr (kAll) {
        if (r == 0 && dir_ == ::tether::detail::IoDir::kRead) fd_->throw_unexpected_eof(op_, done_, n_);
      }
      done_ += static_cast<std::size_t>(r);
      const bool finished = !kAll || done_ == n_;
      if (!::tether::detail::consume_budget()) return finished ? Step::kDoneThenYield : Step::kYield;
      if (finished) return Step::kDone;
    }
  }

  // Suspends the task for step_: a wait on the readiness word, or a yield. Returns false if the
  // operation finished instead, without suspending. Throws as the operation does.
  bool suspend() {
    for (;;) {
      if (step_ == Step::kDone) return false;
      if (step_ != Step::kWait) {
        ::tether::detail::requeue_current(caller_);
        if (step_ == Step::kYield) hook();
        return true;
      }
      wait_.emplace(fd_->slot_, dir_, snap_, deadline_.get());
      if (wait_->await_suspend(caller_)) {
        hook();
        return true;
      }
      // Not suspended: an event came since the snapshot, the task is cancelled (throws here) or
      // the deadline has passed.
      end_wait();
      step_ = attempt();
    }
  }

  // Ends the wait this task was woken from (or never suspended in). Throws Cancelled or TimedOut.
  void end_wait() {
    const bool ready = wait_->await_resume();
    wait_.reset();
    if (!ready) throw TimedOut(fd_->describe(op_));
  }

  // ResumeHook: the worker is about to resume the task after the wait or the yield.
  bool before_resume() noexcept override {
    try {
      if (wait_) end_wait();
      step_ = attempt();
      return !suspend();
    } catch (...) {
      error_ = std::current_exception();  // await_resume rethrows it
      return true;
    }
  }

  void hook() noexcept {
    hooked_ = ::tether::detail::current_task();
    hooked_->resume_hook = this;
  }

  Fd* fd_;
  char* data_;
  std::size_t n_;
  std::size_t done_ = 0;
  ::tether::detail::OpDeadline deadline_;
  const char* op_;
  ::tether::detail::IoDir dir_;
  Step step_ = Step::kDone;
  std::uint64_t snap_ = 0;
  std::coroutine_handle<> caller_;
  std::optional<::tether::detail::ReadyAwaiter> wait_;
  ::tether::detail::TaskHeader* hooked_ = nullptr;
  std::exception_ptr error_;
};

}  // namespace tether::io
