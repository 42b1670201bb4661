// Internal; not part of the public API.
//
// Driver: the event source a parked worker sleeps in: an epoll instance with an eventfd for
// wake-ups. At most one thread waits in it at a time (the runtime's driver lock), and that thread
// also fires timers, so no thread is dedicated to timers or I/O. The I/O layer registers file
// descriptors with `epoll_fd()`, each with an EventSource as its epoll data.
#pragma once

#include <cstdint>

namespace tether::detail {

// Receives readiness for one registered file descriptor. Implemented by the I/O layer.
class EventSource {
 public:
  virtual void on_events(std::uint32_t epoll_events) noexcept = 0;

 protected:
  ~EventSource() = default;
};

class Driver {
 public:
  Driver();
  ~Driver();
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  int epoll_fd() const noexcept { return epfd_; }
  // Waits up to timeout_ms (-1: until woken; 0: poll) and dispatches ready events. Returns the
  // number of I/O events dispatched. Only the holder of the runtime's driver lock calls it.
  int wait(int timeout_ms) noexcept;
  // Wakes a wait() in progress, or makes the next one return at once. Any thread.
  void unpark() noexcept;

 private:
  int epfd_;
  int eventfd_;
};

}  // namespace tether::detail
