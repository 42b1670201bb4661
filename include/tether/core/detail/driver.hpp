// Internal; not part of the public API.
//
// Driver: the event source a parked worker sleeps in. At most one thread waits in it at a time (the
// runtime's driver lock), and that thread also fires timers, so no thread is dedicated to timers or
// I/O. The I/O layer registers file descriptors with add(), each with an EventSource that receives
// edge-triggered readiness (epoll's EPOLLIN/EPOLLOUT/EPOLLRDHUP/EPOLLHUP/EPOLLERR bits).
//
// Two backends behind the same interface (RuntimeOptions::io_backend):
//   epoll     an epoll instance (EPOLLET registrations) with an eventfd for wake-ups.
//   io_uring  a ring with one multishot poll request per fd (edge-triggered, like EPOLLET), the
//             eventfd polled the same way; wait() reaps completions without a syscall when some are
//             there. Submissions (add, remove) may come from any thread, under a lock; only the
//             waiting thread reaps. A multishot poll that ends without being removed (the kernel
//             ends them on overflow or when the submitting thread exits) is re-armed through
//             EventSource::on_poll_ended(), which knows whether the registration is still live.
// A runtime that asks for io_uring where the kernel or the build refuses it gets epoll (backend()
// says which one runs).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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
};

class Driver {
 public:
  explicit Driver(IoBackend requested = IoBackend::kEpoll);
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // The backend in use (io_uring only if it was asked for and the kernel accepted it).
  IoBackend backend() const noexcept { return ring_ ? IoBackend::kIoUring : IoBackend::kEpoll; }
  // Why io_uring was refused, if it was asked for and refused; empty otherwise.
  const std::string& refusal() const noexcept { return refusal_; }

  // Registers `fd` for edge-triggered readiness, delivered to `src`; `gen` (below 2^16) tells this
  // registration from earlier ones of the same source. Returns 0 or an errno. Any thread.
  int add(int fd, EventSource* src, std::uint32_t gen) noexcept;
  // Ends the registration before the fd is closed. Events already on their way may still arrive
  // (the source absorbs them). Any thread.
  void remove(int fd, EventSource* src, std::uint32_t gen) noexcept;

  // Waits up to timeout_ms (-1: until woken; 0: poll) and dispatches ready events. Returns the
  // number of I/O events dispatched. Only the holder of the runtime's driver lock calls it.
  int wait(int timeout_ms) noexcept;
  // Wakes a wait() in progress, or makes the next one return at once. Any thread.
  void unpark() noexcept;

 private:
  struct Ring;  // io_uring state; defined in driver.cpp so this header needs no liburing
  int wait_epoll(int timeout_ms) noexcept;
  int wait_ring(int timeout_ms) noexcept;
  void drain_eventfd() noexcept;

  int epfd_ = -1;
  int eventfd_ = -1;
  std::unique_ptr<Ring> ring_;
  std::string refusal_;
};

}  // namespace tether::detail
