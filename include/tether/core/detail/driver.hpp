// Internal; not part of the public API.
//
// Driver: the event source a parked worker sleeps in. At most one thread waits in wait() at a time
// (the runtime's driver lock), and that thread also fires timers, so no thread is dedicated to
// timers or I/O; on io_uring the other parked workers sleep in their own lanes (wait_lane()). The I/O layer registers
// file descriptors with add(), each with an EventSource that receives edge-triggered readiness (epoll's
// EPOLLIN/EPOLLOUT/EPOLLRDHUP/EPOLLHUP/EPOLLERR bits).
//
// Two backends behind the same interface (RuntimeOptions::io_backend):
//   epoll     one epoll instance (EPOLLET registrations) with an eventfd for wake-ups.
//   io_uring  one ring per lane (a lane per worker), each with one multishot poll request per fd
//             armed on it (edge-triggered, like EPOLLET). The kernel runs a poll's wake-ups as
//             task work of the thread that armed it, so each worker arms its registrations on its
//             own lane's ring and sleeps in that ring when parked (wait_lane()): the thread the
//             kernel wakes for an event is then the one that reaps it, never a thread that would
//             go back to sleep on a condvar with the completion left for someone else. The thread
//             in wait() also reaps the other lanes' rings without a syscall when their owners are
//             busy, so a worker stuck in a long task does not hold up its registrations' events.
//             Submissions (add, remove, wake-ups) may come from any thread, under the ring's lock.
//             A multishot poll that ends without being removed (the kernel ends them on overflow
//             or when the submitting thread exits) is re-armed through
//             EventSource::on_poll_ended(), which knows whether the registration is still live.
// A runtime that asks for io_uring where the kernel or the build refuses it gets epoll (backend()
// says which one runs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/runtime_options.hpp"

namespace tether::detail {

// Receives readiness for one registered file descriptor. Implemented by the I/O layer. A source
// must stay valid for as long as any registration of it may still deliver (the I/O layer's slots
// are never freed), and must tolerate stale events from an earlier registration.
class EventSource {
 public:
  virtual void on_events(std::uint32_t epoll_events) noexcept = 0;
  // io_uring only: the poll armed with generation `gen` ended without remove(); the source calls
  // Driver::add() again if that registration is still live.
  virtual void on_poll_ended(std::uint32_t gen) noexcept = 0;

 protected:
  ~EventSource() = default;

 private:
  friend class Driver;
  // io_uring: the lane whose ring holds this source's poll. Written by add(), read by remove();
  // the source never runs those two concurrently (the I/O layer calls them under its slot lock).
  std::uint32_t lane_ = 0;
};

class Driver {
 public:
  // `lanes`: io_uring rings to set up, one per worker thread (bind_thread()); epoll ignores it.
  explicit Driver(IoBackend requested = IoBackend::kEpoll, unsigned lanes = 1);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // The backend in use (io_uring only if it was asked for and the kernel accepted it).
  IoBackend backend() const noexcept { return rings_.empty() ? IoBackend::kEpoll : IoBackend::kIoUring; }
  // Why io_uring was refused, if it was asked for and refused; empty otherwise.
  const std::string& refusal() const noexcept { return refusal_; }

  // Makes the calling thread the owner of lane `lane` (below the constructor's `lanes`): its
  // registrations go to that lane's ring, and its waits sleep in it. A worker calls it when it
  // starts and unbind_thread() when it ends; an unbound thread uses lane 0.
  void bind_thread(unsigned lane) noexcept;
  void unbind_thread() noexcept;

  // Registers `fd` for edge-triggered readiness, delivered to `src`; `gen` (below 2^16) tells this
  // registration from earlier ones of the same source. Returns 0 or an errno. Any thread; on
  // io_uring the poll is armed on the calling thread's lane.
  int add(int fd, EventSource* src, std::uint32_t gen) noexcept;
  // Ends the registration before the fd is closed. Events already on their way may still arrive
  // (the source absorbs them). Any thread.
  void remove(int fd, EventSource* src, std::uint32_t gen) noexcept;

  // Waits up to timeout_ms (-1: until woken; 0: poll) and dispatches ready events. Returns the
  // number of I/O events dispatched. Only the holder of the runtime's driver lock calls it.
  // io_uring: sleeps in the caller's lane, then also reaps the other lanes' completions.
  int wait(int timeout_ms) noexcept;
  // Wakes a wait() in progress, or makes the next one return at once. Any thread.
  void unpark() noexcept;

  // io_uring only: how a worker that does not hold the driver lock parks. Sleeps in the caller's
  // lane for up to timeout_ms (-1: until woken) and dispatches what arrives there; returns the
  // number of I/O events dispatched. Only the thread bound to the lane calls it.
  int wait_lane(int timeout_ms) noexcept;
  // Ends a wait_lane() in progress on lane `lane`, or makes its next one return at once. Any
  // thread.
  void wake_lane(unsigned lane) noexcept;

 private:
  struct Ring;  // one lane's io_uring; defined in driver.cpp so this header needs no liburing
  int wait_epoll(int timeout_ms) noexcept;
  int wait_ring(int timeout_ms) noexcept;
  void drain_eventfd() noexcept;
  Ring& own_ring() const noexcept;  // the calling thread's lane (lane 0 if it is not bound)

  int epfd_ = -1;
  int eventfd_ = -1;                          // epoll only
  std::vector<std::unique_ptr<Ring>> rings_;  // io_uring: one per lane; empty on epoll
  std::string refusal_;
  // io_uring unpark(): the lane of the thread sleeping in wait() (kNoLane if none), and an unpark
  // that found nobody sleeping there, for the next wait(). Protocol in Driver::wait_ring().
  static constexpr std::uint32_t kNoLane = ~std::uint32_t{0};
  Atomic<std::uint32_t> waiter_lane_{kNoLane};
  Atomic<bool> unpark_pending_{false};
};

}  // namespace tether::detail
