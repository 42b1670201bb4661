// epoll + eventfd driver; see include/tether/core/detail/driver.hpp.
#include "tether/core/detail/driver.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace tether::detail {
namespace {

// epoll data of the wake-up eventfd; never a valid EventSource address.
constexpr std::uint64_t kWakeToken = 1;

}  // namespace

Driver::Driver() {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  eventfd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (eventfd_ < 0) {
    ::close(epfd_);
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;  // edge-triggered: one wake-up per unpark batch, drained in wait()
  ev.data.u64 = kWakeToken;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev);
}

Driver::~Driver() {
  ::close(eventfd_);
  ::close(epfd_);
}

int Driver::wait(int timeout_ms) noexcept {
  epoll_event events[128];
  int n = ::epoll_wait(epfd_, events, 128, timeout_ms);
  int dispatched = 0;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kWakeToken) {
      std::uint64_t drained;
      while (::read(eventfd_, &drained, sizeof drained) > 0) {
      }
      continue;
    }
    // SAFETY: the I/O layer keeps a source alive while it is registered with this epoll instance.
    static_cast<EventSource*>(events[i].data.ptr)->on_events(events[i].events);
    ++dispatched;
  }
  return dispatched;
}

void Driver::unpark() noexcept {
  std::uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up"; nothing else can fail here.
  [[maybe_unused]] ssize_t r = ::write(eventfd_, &one, sizeof one);
}

}  // namespace tether::detail
