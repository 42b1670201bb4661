// tether/io/io_op.hpp
//
// IoOp<T>: what the streams' read, read_exact, write and write_all return (TcpStream, UnixStream,
// PipeReader/PipeWriter, UdpSocket's send/recv): one I/O operation with its deadline, as an
// awaitable. `co_await s.read(buf)` tries the syscall at once, so an operation that needs no wait
// (a write into a socket buffer with room, a read of bytes already queued) completes in the
// awaiting coroutine's own frame, with no coroutine of its own; one that has to wait continues in a
// child coroutine started at that point. An echo server's write never waits, so each round trip
// saves a coroutine frame and two transfers.
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
// Allocation: none when the operation completes without waiting; one coroutine frame when it waits.
// Example: examples/io/echo_server.cpp
#pragma once

#include <coroutine>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "tether/core/task.hpp"
#include "tether/io/buffer.hpp"
#include "tether/io/detail/async_fd.hpp"

namespace tether::io {

template <class T>
class [[nodiscard]] IoOp {
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
    if (child_) child_.destroy();
  }

  // The fast path: the syscall(s) now. Throws io::Error naming the operation and the peer.
  bool await_ready() {
    for (;;) {
      std::ptrdiff_t r = fd_->try_io(dir_, data_ + done_, n_ - done_, &snap_, op_);
      if (r == Fd::kMustWait) return false;  // await_suspend starts the child at the wait
      if constexpr (kAll) {
        if (r == 0 && dir_ == ::tether::detail::IoDir::kRead) fd_->throw_unexpected_eof(op_, done_, n_);
      }
      done_ += static_cast<std::size_t>(r);
      const bool finished = !kAll || done_ == n_;
      if (!::tether::detail::consume_budget()) {
        // The budget is spent: yield before going on; a finished operation keeps its result.
        snap_ = finished ? kFinishedThenYield : Fd::kYieldFirst;
        return false;
      }
      if (finished) return true;
    }
  }

  template <class CallerPromise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<CallerPromise> caller) {
    if (snap_ == kFinishedThenYield) {
      ::tether::detail::requeue_current(caller);
      return std::noop_coroutine();
    }
    if constexpr (kAll) {
      child_ = fd_->finish_all(dir_, data_, n_, done_, deadline_, op_, snap_).release();
    } else {
      child_ = fd_->finish_some(dir_, data_, n_, deadline_, op_, snap_).release();
    }
    child_.promise().set_continuation(caller);
    // As when awaiting a Task: a task dump walks from the caller down to the child.
    if constexpr (std::is_base_of_v<::tether::detail::PromiseBase, CallerPromise>) {
      caller_ = &caller.promise();
      caller_->link_child(&child_.promise(), child_.address());
    }
    return ::tether::detail::transfer_to(child_);
  }

  T await_resume() {
    if (child_) {
      if (caller_) caller_->link_child(nullptr, nullptr);
      return child_.promise().result().take();
    }
    if constexpr (!kAll) return done_;
  }

  // The same operation as a lazy Task, for code that stores operations or passes them on.
  operator Task<T>() && { return as_task(std::move(*this)); }  // NOLINT: implicit by design

 private:
  // snap_ after a completed operation whose budget ran out (a word never reaches it: the tick
  // would have to count to 2^62).
  static constexpr std::uint64_t kFinishedThenYield = ~std::uint64_t{0} - 1;

  static Task<T> as_task(IoOp op) { co_return co_await op; }

  Fd* fd_;
  char* data_;
  std::size_t n_;
  std::size_t done_ = 0;
  ::tether::detail::OpDeadline deadline_;
  const char* op_;
  ::tether::detail::IoDir dir_;
  std::uint64_t snap_ = 0;
  typename Task<T>::Handle child_{};
  ::tether::detail::PromiseBase* caller_ = nullptr;
};

}  // namespace tether::io
