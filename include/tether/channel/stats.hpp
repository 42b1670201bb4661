// tether/channel/stats.hpp
//
// What a bounded channel (mpsc, mpmc) can tell a monitor about itself, without taking part in it.
//
//   ChannelStats   a snapshot: capacity, values queued, tasks waiting to send and to receive
//   ChannelGauge   a reference that reads a channel's stats and keeps its memory (not the channel
//                  itself) alive: holding one never keeps a channel open
//
// Get them with `sender.stats()` / `receiver.stats()`, or `sender.gauge()` to hand to a metrics
// registry (tether/observe/metrics_registry.hpp), which exports them in the Prometheus format.
// A channel that nobody watches pays nothing for this.
//
// Thread safety: ChannelStats is a plain value; ChannelGauge is thread-compatible (read() may be
//   called from any thread, concurrently with the channel's users; it takes the channel's lock for
//   a few loads).
// Example: examples/observe/metrics_server.cpp
#pragma once

#include <cstddef>
#include <utility>

namespace tether {

struct ChannelStats {
  std::size_t capacity = 0;
  std::size_t len = 0;                // values queued (reserved slots not included)
  std::size_t waiting_senders = 0;    // tasks parked in send() or reserve()
  std::size_t waiting_receivers = 0;  // tasks parked in recv()
  std::size_t senders = 0;            // live senders and permits
  std::size_t receivers = 0;          // live receivers
  bool closed = false;
};

class ChannelGauge {
 public:
  ChannelGauge() noexcept = default;
  // Adopts one memory reference of `ch` (the channel's own add_ref()).
  template <class Channel>
  static ChannelGauge adopt(Channel* ch) noexcept {
    ChannelGauge g;
    g.ch_ = ch;
    g.read_ = [](void* p) noexcept { return static_cast<Channel*>(p)->stats(); };
    g.release_ = [](void* p) noexcept { static_cast<Channel*>(p)->release(); };
    return g;
  }
  ChannelGauge(ChannelGauge&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)), read_(o.read_), release_(o.release_) {}
  ChannelGauge& operator=(ChannelGauge&& o) noexcept {
    if (this != &o) {
      reset();
      ch_ = std::exchange(o.ch_, nullptr);
      read_ = o.read_;
      release_ = o.release_;
    }
    return *this;
  }
  ChannelGauge(const ChannelGauge&) = delete;
  ChannelGauge& operator=(const ChannelGauge&) = delete;
  ~ChannelGauge() { reset(); }

  bool valid() const noexcept { return ch_ != nullptr; }
  // REQUIRES: valid().
  ChannelStats read() const noexcept { return read_(ch_); }

 private:
  void reset() noexcept {
    if (ch_) release_(std::exchange(ch_, nullptr));
  }
  void* ch_ = nullptr;
  ChannelStats (*read_)(void*) noexcept = nullptr;
  void (*release_)(void*) noexcept = nullptr;
};

}  // namespace tether
