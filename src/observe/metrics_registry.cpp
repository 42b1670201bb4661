#include "tether/observe/metrics_registry.hpp"

#include <algorithm>
#include <memory>

namespace tether::observe {

MetricsRegistry::Registration MetricsRegistry::add(Reader reader) {
  std::lock_guard<std::mutex> g(mu_);
  std::uint64_t id = next_id_++;
  entries_.push_back(Entry{id, std::move(reader)});
  return Registration(this, id);
}

void MetricsRegistry::remove(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
  if (it != entries_.end()) entries_.erase(it);
}

MetricsSnapshot MetricsRegistry::snapshot() const {
  MetricsSnapshot s;
  std::lock_guard<std::mutex> g(mu_);
  for (const Entry& e : entries_) e.read(s);
  return s;
}

std::size_t MetricsRegistry::size() const {
  std::lock_guard<std::mutex> g(mu_);
  return entries_.size();
}

MetricsRegistry::Registration MetricsRegistry::add_channel(std::string name, ChannelGauge gauge) {
  // std::function needs a copyable callable; the gauge is move-only.
  auto shared = std::make_shared<ChannelGauge>(std::move(gauge));
  return add([name = std::move(name), shared](MetricsSnapshot& s) {
    if (shared->valid()) s.channels.push_back({name, shared->read()});
  });
}

MetricsRegistry::Registration MetricsRegistry::add_semaphore(std::string name, const sync::Semaphore& semaphore) {
  return add([name = std::move(name), sem = &semaphore](MetricsSnapshot& s) {
    s.semaphores.push_back({name, sem->available_permits()});
  });
}

MetricsRegistry::Registration MetricsRegistry::add_circuit_breaker(CircuitBreaker& breaker) {
  return add([b = &breaker](MetricsSnapshot& s) { s.breakers.push_back({b->name(), b->metrics()}); });
}

MetricsRegistry::Registration MetricsRegistry::add_pipeline(std::string name, PipelineMonitor monitor) {
  return add([name = std::move(name), monitor = std::move(monitor)](MetricsSnapshot& s) {
    s.pipelines.push_back({name, monitor.snapshot()});
  });
}

MetricsRegistry::Registration MetricsRegistry::add_listener(std::string name, const io::ListenerSocket& listener) {
  return add([name = std::move(name), l = &listener](MetricsSnapshot& s) {
    s.listeners.push_back({name, l->stats()});
  });
}

MetricsRegistry::Registration MetricsRegistry::add_log_sink(std::string name, const AsyncLogSink& sink) {
  return add([name = std::move(name), l = &sink](MetricsSnapshot& s) {
    s.log_sinks.push_back({name, {l->written(), l->dropped()}});
  });
}

}  // namespace tether::observe
