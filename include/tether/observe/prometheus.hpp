// tether/observe/prometheus.hpp
//
// prometheus_text(): a runtime's metrics, and optionally a MetricsRegistry's objects, in the
// Prometheus text exposition format (version 0.0.4), ready to be served at /metrics.
//
//   prometheus_text(rt)             runtime: tasks, polls, steals, parks, queues, timers, pools
//   prometheus_text(rt, registry)   plus every registered channel, lock, semaphore, breaker,
//                                   pipeline stage and listener
//   kPrometheusContentType          the Content-Type to serve it with
//
// Every series is named `tether_<what>[_<unit>][_total]` and carries a `runtime` label (the
// runtime's RuntimeOptions::name); registered objects add a label naming them (`channel`, `lock`,
// `semaphore`, `breaker`, `pipeline` + `stage`, `listener`). Counters end in `_total`; times are
// in seconds. The list of families is in docs/reference.md and docs/guide/observability.md.
//
// When to use something else: serve_metrics() (metrics_server.hpp) serves this text over HTTP;
// Runtime::metrics() and each object's stats() give the same numbers as plain structs.
//
// Thread safety: thread-safe; reads relaxed snapshots (counters may be a few events stale, and two
//   series in one scrape are not an atomic cut).
// Cost: only when called: one pass over the registry and the runtime's counters; allocates the text.
// Example: examples/observe/metrics_server.cpp
#pragma once

#include <string>
#include <string_view>

#include "tether/core/runtime.hpp"
#include "tether/observe/metrics_registry.hpp"

namespace tether::observe {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const Runtime& rt);
std::string prometheus_text(const Runtime& rt, const MetricsRegistry& registry);

// The registry's series alone, labelled with `runtime_name` (for a registry shared by no runtime).
std::string prometheus_text(const MetricsRegistry& registry, std::string_view runtime_name);

}  // namespace tether::observe
