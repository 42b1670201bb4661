// Micro benchmarks of tether/observe: what a log line costs the calling thread with the
// asynchronous sink (queued, and dropped under overload), and what one Prometheus scrape costs.
// Run: build with -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON, then
//   ./bench/tether_micro_bench --benchmark_filter=Observe
#include <benchmark/benchmark.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/observe/async_log_sink.hpp"
#include "tether/observe/metrics_registry.hpp"
#include "tether/observe/prometheus.hpp"
#include "tether/sync/mutex.hpp"

namespace {

namespace observe = tether::observe;

// The caller's cost of one line through an AsyncLogSink whose writer keeps up (a null target):
// the copy of the line and the queue's lock. Threads: callers at once.
void BM_ObserveAsyncLogLine(benchmark::State& state) {
  static std::shared_ptr<observe::AsyncLogSink> sink;
  static std::shared_ptr<spdlog::logger> logger;
  if (state.thread_index() == 0) {
    sink = std::make_shared<observe::AsyncLogSink>(
        std::vector<spdlog::sink_ptr>{std::make_shared<spdlog::sinks::null_sink_mt>()},
        observe::AsyncLogSinkOptions{.capacity = 1 << 16});
    logger = std::make_shared<spdlog::logger>("bench", sink);
  }
  long i = 0;
  for (auto _ : state) logger->info("request {} served in {} us", ++i, 42);
  if (state.thread_index() == 0) {
    state.counters["dropped"] = static_cast<double>(sink->dropped());
    logger.reset();
    sink.reset();
  }
}
BENCHMARK(BM_ObserveAsyncLogLine)->Threads(1)->Threads(2)->UseRealTime();

// The same under overload: a queue of 8 lines in front of a slow target, so almost every line is
// dropped. Shows that a dropped line costs the caller no more than a queued one.
class SlowSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg&) override {
    volatile long x = 0;
    for (int i = 0; i < 200'000; ++i) x = x + i;
  }
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}
};

void BM_ObserveAsyncLogLineOverloaded(benchmark::State& state) {
  auto sink = std::make_shared<observe::AsyncLogSink>(std::vector<spdlog::sink_ptr>{std::make_shared<SlowSink>()},
                                                      observe::AsyncLogSinkOptions{.capacity = 8});
  spdlog::logger logger("bench", sink);
  long i = 0;
  for (auto _ : state) logger.info("request {} served in {} us", ++i, 42);
  state.counters["dropped_fraction"] =
      static_cast<double>(sink->dropped()) / static_cast<double>(state.iterations() ? state.iterations() : 1);
}
BENCHMARK(BM_ObserveAsyncLogLineOverloaded)->UseRealTime();

// One scrape: a 2-worker runtime's series plus N registered channels and N registered mutexes.
void BM_ObservePrometheusScrape(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  observe::MetricsRegistry registry;
  const auto n = static_cast<int>(state.range(0));
  std::vector<tether::mpsc::Sender<int>> senders;
  std::vector<tether::mpsc::Receiver<int>> receivers;
  std::vector<std::unique_ptr<tether::sync::Mutex<int>>> mutexes;
  std::vector<observe::MetricsRegistry::Registration> regs;
  for (int i = 0; i < n; ++i) {
    auto [tx, rx] = tether::mpsc::channel<int>(64);
    regs.push_back(registry.add_channel("channel-" + std::to_string(i), tx.gauge()));
    senders.push_back(std::move(tx));
    receivers.push_back(std::move(rx));
    mutexes.push_back(std::make_unique<tether::sync::Mutex<int>>(0));
    regs.push_back(registry.add_mutex("lock-" + std::to_string(i), *mutexes.back()));
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = observe::prometheus_text(rt, registry);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ObservePrometheusScrape)->Arg(0)->Arg(16)->Arg(256)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
