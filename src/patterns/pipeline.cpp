// Pipeline: the parts that do not depend on the item types (see include/tether/patterns/pipeline.hpp).
#include "tether/patterns/pipeline.hpp"

#include <string>

namespace tether {

PipelineError::PipelineError(std::string stage, std::exception_ptr nested)
    : Error([&] {
        std::string what = "pipeline stage '" + stage + "' failed";
        try {
          if (nested) std::rethrow_exception(nested);
        } catch (const std::exception& e) {
          what += ": ";
          what += e.what();
        } catch (...) {
        }
        return what;
      }()),
      stage_(std::move(stage)),
      nested_(std::move(nested)) {}

const StageMetrics* PipelineReport::bottleneck() const noexcept {
  const StageMetrics* best = nullptr;
  double best_busy = -1;
  for (const auto& s : stages) {
    double per_worker = static_cast<double>(s.busy.count()) / static_cast<double>(s.parallelism ? s.parallelism : 1);
    if (per_worker > best_busy) {
      best_busy = per_worker;
      best = &s;
    }
  }
  return best;
}

namespace detail {

std::vector<StageMetrics> PipelineShared::snapshot() const {
  std::vector<StageMetrics> out;
  out.reserve(stages.size());
  std::uint64_t upstream_out = 0;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const StageCounters& c = stages[i];
    StageMetrics m;
    m.name = c.name;
    m.parallelism = c.parallelism;
    m.capacity = c.capacity;
    // relaxed: statistics; read `in` before the upstream's `out` would be stricter, but a snapshot
    // taken while items move is approximate either way (clamped at zero below).
    m.items_in = c.in.load(std::memory_order_relaxed);
    m.items_out = c.out.load(std::memory_order_relaxed);
    m.busy = std::chrono::nanoseconds(c.busy_ns.load(std::memory_order_relaxed));
    if (i > 0) m.queue_depth = upstream_out > m.items_in ? static_cast<std::size_t>(upstream_out - m.items_in) : 0;
    upstream_out = m.items_out;
    out.push_back(std::move(m));
  }
  return out;
}

StageCounters& add_stage(PipelineShared& shared, const StageOptions& opts, const char* default_name) {
  if (opts.parallelism == 0) throw Error("pipeline stage parallelism must be at least 1");
  if (opts.capacity == 0) throw Error("pipeline stage capacity must be at least 1");
  StageCounters& c = shared.stages.emplace_back();
  c.name = opts.name.empty() ? std::string(default_name) + " " + std::to_string(shared.stages.size() - 1)
                             : std::string(opts.name);
  c.parallelism = opts.parallelism;
  c.capacity = opts.capacity;
  return c;
}

Task<PipelineReport> run_pipeline(std::vector<std::unique_ptr<StageRunner>> runners,
                                  std::shared_ptr<PipelineShared> shared) {
  co_await scope([&](Scope& s) -> Task<void> {
    for (auto& r : runners) r->start(s);
    co_return;
  });
  co_return PipelineReport{shared->snapshot()};
}

}  // namespace detail
}  // namespace tether
