// Writes the Prometheus text exposition format: per family one `# HELP` and one `# TYPE` line,
// then its samples `name{label="value",...} number`. Label values escape \, " and newline; HELP
// text escapes \ and newline (the format's rules).
#include "tether/observe/prometheus.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <iterator>

namespace tether::observe {
namespace {

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

struct Label {
  std::string_view name;
  std::string_view value;
};

class Writer {
 public:
  Writer(std::string& out, std::string_view runtime) : out_(out), runtime_(runtime) {}

  // Starts a family; its samples follow.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    append_escaped(out_, help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  template <class Number>
  void sample(Number value, std::initializer_list<Label> labels = {}) {
    out_ += name_;
    out_ += "{runtime=\"";
    append_escaped(out_, runtime_, true);
    out_ += '"';
    for (const Label& l : labels) {
      out_ += ',';
      out_ += l.name;
      out_ += "=\"";
      append_escaped(out_, l.value, true);
      out_ += '"';
    }
    out_ += "} ";
    fmt::format_to(std::back_inserter(out_), "{}", value);
    out_ += '\n';
  }

  // A family with one sample.
  template <class Number>
  void single(std::string_view name, std::string_view type, std::string_view help, Number value) {
    family(name, type, help);
    sample(value);
  }

 private:
  std::string& out_;
  std::string_view runtime_;
  std::string_view name_;
};

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

void write_runtime(Writer& w, const RuntimeMetrics& m) {
  w.single("tether_workers", "gauge", "Worker threads of the runtime.", m.workers);
  w.single("tether_tasks_spawned_total", "counter", "Tasks spawned.", m.tasks_spawned);
  w.single("tether_tasks_completed_total", "counter", "Tasks finished, including failed and cancelled ones.",
           m.tasks_completed);
  w.single("tether_tasks_failed_total", "counter", "Tasks that finished with an exception.", m.tasks_failed);
  w.single("tether_tasks_cancelled_total", "counter", "Tasks that finished cancelled.", m.tasks_cancelled);
  w.single("tether_tasks_alive", "gauge", "Tasks spawned and not yet finished.", m.tasks_alive);
  w.single("tether_task_polls_total", "counter", "Task resumptions by the scheduler.", m.polls);
  w.single("tether_task_steals_total", "counter", "Tasks taken from another worker's queue.", m.steals);
  w.single("tether_worker_parks_total", "counter", "Times a worker went to sleep for lack of work.", m.parks);
  w.single("tether_global_queue_depth", "gauge", "Tasks waiting in the global injection queue.", m.global_queue_depth);
  if (!m.local_queue_depths.empty()) {
    w.family("tether_local_queue_depth", "gauge", "Tasks waiting in each worker's local run queue.");
    for (std::size_t i = 0; i < m.local_queue_depths.size(); ++i) {
      std::string worker = std::to_string(i);
      w.sample(m.local_queue_depths[i], {{"worker", worker}});
    }
  }
  w.single("tether_timers", "gauge", "Armed timers.", m.timers);
  w.single("tether_blocking_pool_threads", "gauge", "Threads of the blocking pool (spawn_blocking).",
           m.blocking_threads);
  w.single("tether_blocking_pool_idle_threads", "gauge", "Idle threads of the blocking pool.", m.blocking_idle_threads);
  w.single("tether_blocking_pool_queue_depth", "gauge", "Jobs queued for the blocking pool.", m.blocking_queue_depth);
  w.single("tether_compute_pool_threads", "gauge", "Threads of the compute pool (spawn_compute).", m.compute_threads);
  w.single("tether_compute_pool_queue_depth", "gauge", "Jobs queued for the compute pool.", m.compute_queue_depth);
}

// One family per field, one sample per registered object of that kind.
template <class Items, class Value>
void per_object(Writer& w, const Items& items, std::string_view label, std::string_view name, std::string_view type,
                std::string_view help, Value value) {
  if (items.empty()) return;
  w.family(name, type, help);
  for (const auto& item : items) w.sample(value(item.stats), {{label, item.name}});
}

const char* state_name(CircuitState s) {
  switch (s) {
    case CircuitState::kClosed:
      return "closed";
    case CircuitState::kOpen:
      return "open";
    case CircuitState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

void write_registry(Writer& w, const MetricsSnapshot& s) {
  using C = ChannelStats;
  per_object(w, s.channels, "channel", "tether_channel_depth", "gauge", "Values queued in the channel.",
             [](const C& c) { return c.len; });
  per_object(w, s.channels, "channel", "tether_channel_capacity", "gauge", "Capacity of the channel.",
             [](const C& c) { return c.capacity; });
  per_object(w, s.channels, "channel", "tether_channel_waiting_senders", "gauge",
             "Tasks waiting for room to send (backpressure).", [](const C& c) { return c.waiting_senders; });
  per_object(w, s.channels, "channel", "tether_channel_waiting_receivers", "gauge",
             "Tasks waiting for a value to receive.", [](const C& c) { return c.waiting_receivers; });
  per_object(w, s.channels, "channel", "tether_channel_closed", "gauge", "1 once the channel is closed.",
             [](const C& c) { return c.closed ? 1 : 0; });

  using L = sync::LockStats;
  per_object(w, s.locks, "lock", "tether_lock_contended_acquisitions_total", "counter",
             "Acquisitions that had to wait for another holder.", [](const L& l) { return l.contended_acquisitions; });
  per_object(w, s.locks, "lock", "tether_lock_wait_seconds_total", "counter",
             "Time acquisitions spent waiting for the lock.", [](const L& l) { return seconds(l.wait_time); });

  per_object(w, s.semaphores, "semaphore", "tether_semaphore_available_permits", "gauge",
             "Permits that can be acquired without waiting.", [](std::size_t n) { return n; });

  using B = CircuitBreakerMetrics;
  if (!s.breakers.empty()) {
    w.family("tether_circuit_breaker_state", "gauge", "1 for the breaker's current state, 0 for the others.");
    for (const auto& b : s.breakers) {
      for (CircuitState st : {CircuitState::kClosed, CircuitState::kOpen, CircuitState::kHalfOpen}) {
        w.sample(b.stats.state == st ? 1 : 0, {{"breaker", b.name}, {"state", state_name(st)}});
      }
    }
    w.family("tether_circuit_breaker_calls_total", "counter", "Calls through the breaker, by outcome.");
    for (const auto& b : s.breakers) {
      w.sample(b.stats.successful_calls, {{"breaker", b.name}, {"outcome", "success"}});
      w.sample(b.stats.failed_calls, {{"breaker", b.name}, {"outcome", "failure"}});
      w.sample(b.stats.rejected_calls, {{"breaker", b.name}, {"outcome", "rejected"}});
    }
    per_object(w, s.breakers, "breaker", "tether_circuit_breaker_slow_calls_total", "counter",
               "Calls slower than the breaker's slow-call threshold.", [](const B& b) { return b.slow_calls; });
    w.family("tether_circuit_breaker_transitions_total", "counter", "State transitions, by the state entered.");
    for (const auto& b : s.breakers) {
      w.sample(b.stats.opened, {{"breaker", b.name}, {"to", "open"}});
      w.sample(b.stats.half_opened, {{"breaker", b.name}, {"to", "half_open"}});
      w.sample(b.stats.closed, {{"breaker", b.name}, {"to", "closed"}});
    }
    per_object(w, s.breakers, "breaker", "tether_circuit_breaker_failure_rate", "gauge",
               "Failure rate over the current window (0 to 1).", [](const B& b) { return b.failure_rate; });
  }

  if (!s.pipelines.empty()) {
    struct Field {
      std::string_view name, type, help;
      double (*value)(const StageMetrics&);
    };
    const Field fields[] = {
        {"tether_pipeline_stage_items_in_total", "counter", "Items a stage took from its input.",
         [](const StageMetrics& m) { return static_cast<double>(m.items_in); }},
        {"tether_pipeline_stage_items_out_total", "counter", "Items a stage handed on (the sink: consumed).",
         [](const StageMetrics& m) { return static_cast<double>(m.items_out); }},
        {"tether_pipeline_stage_queue_depth", "gauge", "Items waiting in a stage's input channel.",
         [](const StageMetrics& m) { return static_cast<double>(m.queue_depth); }},
        {"tether_pipeline_stage_busy_seconds_total", "counter", "Time a stage's workers spent in its function.",
         [](const StageMetrics& m) { return seconds(m.busy); }},
    };
    for (const Field& f : fields) {
      w.family(f.name, f.type, f.help);
      for (const auto& p : s.pipelines) {
        for (const StageMetrics& st : p.stats) w.sample(f.value(st), {{"pipeline", p.name}, {"stage", st.name}});
      }
    }
  }

  using S = io::ListenerStats;
  per_object(w, s.listeners, "listener", "tether_listener_accepted_total", "counter", "Connections accepted.",
             [](const S& l) { return l.accepted; });
  per_object(w, s.listeners, "listener", "tether_listener_live_connections", "gauge",
             "Accepted connections still open.", [](const S& l) { return l.live_connections; });
  per_object(w, s.listeners, "listener", "tether_listener_limit_waits_total", "counter",
             "Times accept waited at the connection limit.", [](const S& l) { return l.limit_waits; });
  per_object(w, s.listeners, "listener", "tether_listener_fd_exhaustion_backoffs_total", "counter",
             "Times accept backed off for lack of file descriptors.",
             [](const S& l) { return l.fd_exhaustion_backoffs; });

  using G = MetricsSnapshot::LogSinkStats;
  per_object(w, s.log_sinks, "sink", "tether_log_lines_written_total", "counter",
             "Lines an asynchronous log sink handed to its targets.", [](const G& g) { return g.written; });
  per_object(w, s.log_sinks, "sink", "tether_log_lines_dropped_total", "counter",
             "Lines an asynchronous log sink dropped because its queue was full.",
             [](const G& g) { return g.dropped; });
}

}  // namespace

std::string prometheus_text(const Runtime& rt) {
  std::string out;
  Writer w(out, rt.options().name);
  write_runtime(w, rt.metrics());
  return out;
}

std::string prometheus_text(const Runtime& rt, const MetricsRegistry& registry) {
  std::string out;
  Writer w(out, rt.options().name);
  write_runtime(w, rt.metrics());
  write_registry(w, registry.snapshot());
  return out;
}

std::string prometheus_text(const MetricsRegistry& registry, std::string_view runtime_name) {
  std::string out;
  Writer w(out, runtime_name);
  write_registry(w, registry.snapshot());
  return out;
}

}  // namespace tether::observe
