// tether/observe/metrics_registry.hpp
//
// MetricsRegistry: the objects whose gauges a program wants exported, each under a name.
//
//   MetricsRegistry                 where channels, locks, semaphores, breakers, pipelines,
//                                   listeners and log sinks are registered by name
//   MetricsRegistry::Registration   keeps one entry registered; destroying it removes the entry
//   MetricsSnapshot                 one reading of every registered object
//
// Nothing is global and nothing is counted for an object that is not registered: a registry only
// reads, when asked, the statistics each object already keeps (ChannelStats, LockStats,
// CircuitBreakerMetrics, StageMetrics, ListenerStats). prometheus_text() (prometheus.hpp) turns a
// runtime's metrics and a registry's snapshot into the Prometheus text format; serve_metrics()
// (metrics_server.hpp) serves that over HTTP.
//
//   tether::observe::MetricsRegistry registry;
//   auto [tx, rx] = tether::mpsc::channel<Job>(64);
//   auto reg = registry.add_channel("jobs", tx.gauge());
//   std::string text = tether::observe::prometheus_text(rt, registry);
//
// When to use something else: a single number read once (a test, a log line) needs no registry:
// call the object's own stats() / metrics().
//
// Thread safety: thread-safe. Registering, unregistering and snapshot() may run concurrently from
//   any threads; snapshot() holds the registry's lock while it reads each object (each read is a
//   few loads under that object's own short lock), so a registration is never read after its
//   Registration is destroyed.
// Lifetime: the registry must outlive its Registrations. A registered lock, semaphore, breaker or
//   listener must outlive its Registration; a channel need not (the gauge keeps its memory, never
//   the channel itself, alive) and neither need a pipeline (the monitor shares its counters).
// Example: examples/observe/metrics_server.cpp
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tether/channel/stats.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/observe/async_log_sink.hpp"
#include "tether/patterns/circuit_breaker.hpp"
#include "tether/patterns/pipeline.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/sync/semaphore.hpp"

namespace tether::observe {

// One reading of every registered object, in registration order within each kind.
struct MetricsSnapshot {
  template <class Stats>
  struct Named {
    std::string name;
    Stats stats;
  };
  std::vector<Named<ChannelStats>> channels;
  std::vector<Named<sync::LockStats>> locks;
  std::vector<Named<std::size_t>> semaphores;  // available permits
  std::vector<Named<CircuitBreakerMetrics>> breakers;
  std::vector<Named<std::vector<StageMetrics>>> pipelines;
  std::vector<Named<io::ListenerStats>> listeners;
  struct LogSinkStats {
    std::uint64_t written = 0;
    std::uint64_t dropped = 0;
  };
  std::vector<Named<LogSinkStats>> log_sinks;
};

class MetricsRegistry {
 public:
  class Registration;

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each add_* registers one object under `name` (names need not be unique, but then their series
  // cannot be told apart) and returns the Registration that keeps it registered.
  [[nodiscard]] Registration add_channel(std::string name, ChannelGauge gauge);
  template <class T>
  [[nodiscard]] Registration add_mutex(std::string name, const sync::Mutex<T>& mutex);
  [[nodiscard]] Registration add_semaphore(std::string name, const sync::Semaphore& semaphore);
  // Registered under the breaker's own name (CircuitBreakerOptions::name).
  [[nodiscard]] Registration add_circuit_breaker(CircuitBreaker& breaker);
  [[nodiscard]] Registration add_pipeline(std::string name, PipelineMonitor monitor);
  [[nodiscard]] Registration add_listener(std::string name, const io::ListenerSocket& listener);
  [[nodiscard]] Registration add_log_sink(std::string name, const AsyncLogSink& sink);

  MetricsSnapshot snapshot() const;
  std::size_t size() const;

 private:
  using Reader = std::function<void(MetricsSnapshot&)>;
  Registration add(Reader reader);
  void remove(std::uint64_t id) noexcept;

  struct Entry {
    std::uint64_t id;
    Reader read;
  };
  mutable std::mutex mu_;
  // Guarded by mu_
  std::uint64_t next_id_ = 1;
  std::vector<Entry> entries_;
};

// MetricsRegistry::Registration
//
// Keeps one object registered; destroying it (or reset()) unregisters it, after which the registry
// never touches the object again. Move-only. Thread safety: thread-compatible.
class MetricsRegistry::Registration {
 public:
  Registration() noexcept = default;
  Registration(Registration&& o) noexcept : registry_(std::exchange(o.registry_, nullptr)), id_(o.id_) {}
  Registration& operator=(Registration&& o) noexcept {
    if (this != &o) {
      reset();
      registry_ = std::exchange(o.registry_, nullptr);
      id_ = o.id_;
    }
    return *this;
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { reset(); }

  void reset() noexcept {
    if (registry_) std::exchange(registry_, nullptr)->remove(id_);
  }
  bool active() const noexcept { return registry_ != nullptr; }

 private:
  friend class MetricsRegistry;
  Registration(MetricsRegistry* registry, std::uint64_t id) noexcept : registry_(registry), id_(id) {}
  MetricsRegistry* registry_ = nullptr;
  std::uint64_t id_ = 0;
};

template <class T>
MetricsRegistry::Registration MetricsRegistry::add_mutex(std::string name, const sync::Mutex<T>& mutex) {
  return add([name = std::move(name), m = &mutex](MetricsSnapshot& s) { s.locks.push_back({name, m->stats()}); });
}

}  // namespace tether::observe
