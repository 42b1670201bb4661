// tether/patterns/pipeline.hpp
//
// Pipeline: stages joined by bounded channels. A source feeds the first stage, each stage runs
// `fn` on its items with one or more workers, a sink consumes the last stage's output.
//
//   pipeline(source, opts)       starts building: a range or a channel receiver as the source
//   Pipeline<T>::stage(fn, opts) appends a stage T -> U (fn returns U or an awaitable of U)
//   Pipeline<T>::sink(fn, opts)  appends the sink and returns the Task that runs the whole pipeline
//   Pipeline<T>::monitor()       a handle for watching the stages while it runs
//   StageOptions                 name, parallelism, capacity, ordered
//   StageMetrics                 a snapshot of one stage: items in/out, queue depth, busy time
//   PipelineReport               the metrics of every stage when the pipeline finished
//   PipelineError                a stage failed: stage() names it, nested() is what it threw
//
//   auto report = co_await tether::pipeline(lines, {.name = "read", .capacity = 64})
//       .stage(parse, {.name = "parse", .parallelism = 4, .capacity = 64})            // ordered
//       .stage(enrich, {.name = "enrich", .parallelism = 8, .capacity = 64, .ordered = false})
//       .sink(store, {.name = "store"});
//
// Semantics:
//   - Backpressure: every channel is bounded (`capacity` of the stage that writes it); a slow sink
//     fills the channels upstream one by one until the source waits. Items held in memory at once
//     are at most the sum of the capacities plus one per worker.
//   - Parallelism: a stage runs `parallelism` workers. With `ordered` (the default) its output
//     keeps the input order: at most `parallelism` items are in the stage, and a finished item waits
//     for the ones before it. With `.ordered = false` workers forward results as they finish. A
//     sink with parallelism above 1 must say `.ordered = false` (calls to it then overlap).
//   - Ending: when the source is exhausted (a receiver closed and drained, a range at its end),
//     every stage drains what it holds, in order, and the sink's task returns. Nothing is lost.
//   - Failure: an exception from any stage's fn (or the source or the sink) cancels every stage and
//     is rethrown, once all of them have unwound, as PipelineError naming the stage.
//   - Cancelling: cancelling the task that awaits sink() cancels every stage (items in flight
//     are dropped) and the await throws Cancelled.
//   - Metrics: the busy time of a stage is wall time spent inside fn, summed over its workers.
//     The bottleneck is the stage whose input queue is full while its workers are always busy.
//
// When to use something else: one step over many items: map_concurrent / for_each_concurrent
// (map_concurrent.hpp); a fixed set of operations: when_all; a hand-built topology (fan-in from
// several sources, routing): channels (tether/channel/) and a scope.
//
// Guidance enforced: CSP with bounded channels and backpressure (guidance §3.2, §6.2); structured
// lifecycle (every stage is a child of the awaiting task; none outlives the pipeline); errors are
// never dropped (the first failure surfaces with its stage's name).
//
// Thread safety: building (pipeline, stage, sink) is confined to the building task; the stages run
//   on any worker; PipelineMonitor is thread-safe.
// Cancellation: cancelling the caller cancels every stage; items in flight are dropped.
// Example: examples/patterns/file_pipeline.cpp
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tether/channel/mpmc.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"
#include "tether/patterns/map_concurrent.hpp"  // AsyncSource
#include "tether/sync/semaphore.hpp"
#include "tether/task/scope.hpp"

namespace tether {

// Trivially destructible on purpose (the name is a view, copied when the stage is added): GCC 12
// mishandles a temporary with a non-trivial destructor in a full-expression that co_awaits, which
// is exactly where `co_await pipeline(...).stage(fn, {.name = "x"}).sink(...)` puts it.
struct StageOptions {
  // Shown in metrics and in PipelineError. Default: "stage N" ("source", "sink").
  std::string_view name = {};
  // Workers of this stage. At least 1.
  std::size_t parallelism = 1;
  // Capacity of the channel this stage writes into (for the sink: unused). At least 1. Larger
  // absorbs bursts; smaller bounds memory and latency.
  std::size_t capacity = 16;
  // Keep the input order in the output (costs a reorder window of `parallelism` items).
  bool ordered = true;
};

// A snapshot of one stage.
struct StageMetrics {
  std::string name;
  std::size_t parallelism = 1;
  std::size_t capacity = 0;
  std::uint64_t items_in = 0;        // taken from its input
  std::uint64_t items_out = 0;       // handed to its output (for the sink: fully consumed)
  std::size_t queue_depth = 0;       // items waiting in its input channel
  std::chrono::nanoseconds busy{0};  // time inside fn, summed over workers
};

struct PipelineReport {
  std::vector<StageMetrics> stages;  // source first, sink last
  // The stage with the most busy time per worker (the one to scale first).
  const StageMetrics* bottleneck() const noexcept;
};

// tether::PipelineError
//
// A stage failed; the pipeline was cancelled. stage() names it; nested() is the exception it threw
// (rethrow_nested() rethrows it).
class PipelineError : public Error {
 public:
  PipelineError(std::string stage, std::exception_ptr nested);
  const std::string& stage() const noexcept { return stage_; }
  const std::exception_ptr& nested() const noexcept { return nested_; }
  [[noreturn]] void rethrow_nested() const { std::rethrow_exception(nested_); }

 private:
  std::string stage_;
  std::exception_ptr nested_;
};

namespace detail {

// Per-stage counters, shared with monitors. Atomic: statistics only, relaxed throughout (nothing
// is published through them; a snapshot may be a few items stale).
struct StageCounters {
  std::string name;
  std::size_t parallelism = 1;
  std::size_t capacity = 0;
  std::atomic<std::uint64_t> in{0};
  std::atomic<std::uint64_t> out{0};
  std::atomic<std::int64_t> busy_ns{0};
};

struct PipelineShared {
  std::deque<StageCounters> stages;  // deque: stable addresses while stages are appended
  std::vector<StageMetrics> snapshot() const;
};

class StageRunner {
 public:
  virtual ~StageRunner() = default;
  // Spawns the stage's tasks into `s`, handing them its channel ends.
  virtual void start(Scope& s) = 0;
};

// What a stage function yields: the value of its awaitable, or its plain return value.
template <class R, bool = Awaitable<R>>
struct Unwrap {
  using type = R;
};
template <class R>
struct Unwrap<R, true> {
  using type = await_result_t<R>;
};
template <class Fn, class In>
using StageOut = typename Unwrap<std::invoke_result_t<Fn&, In&&>>::type;

// Calls fn(item) and awaits it if it returns an awaitable; wraps a failure in PipelineError.
// A static member of a class template rather than a function template: GCC gives the coroutine
// frame of a function template external linkage, and warns (-Wsubobject-linkage, on by default)
// in every program whose stage function or item type is local to a file, as in examples/patterns.
template <class Fn, class In>
struct StageCall {
  static Task<StageOut<Fn, In>> invoke(Fn& fn, In& item, const StageCounters& c) {
    using Ret = std::invoke_result_t<Fn&, In&&>;
    std::exception_ptr error;
    try {
      if constexpr (Awaitable<Ret>) {
        co_return co_await std::invoke(fn, std::move(item));
      } else if constexpr (std::is_void_v<Ret>) {
        std::invoke(fn, std::move(item));
        co_return;
      } else {
        co_return std::invoke(fn, std::move(item));
      }
    } catch (const Cancelled&) {
      throw;
    } catch (...) {
      error = std::current_exception();
    }
    throw PipelineError(c.name, error);
  }
};

template <class Fn, class In>
Task<StageOut<Fn, In>> invoke_stage(Fn& fn, In& item, const StageCounters& c) {
  return StageCall<Fn, In>::invoke(fn, item, c);
}

class BusyTimer {
 public:
  explicit BusyTimer(StageCounters& c) noexcept : c_(c), t0_(std::chrono::steady_clock::now()) {}
  ~BusyTimer() {
    auto d = std::chrono::steady_clock::now() - t0_;
    c_.busy_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                         std::memory_order_relaxed);  // relaxed: a statistic
  }
  BusyTimer(const BusyTimer&) = delete;
  BusyTimer& operator=(const BusyTimer&) = delete;

 private:
  StageCounters& c_;
  std::chrono::steady_clock::time_point t0_;
};

// The source: pulls from a range or a receiver and sends into the first channel.
template <class Src, class T>
class SourceRunner final : public StageRunner {
 public:
  SourceRunner(Src src, mpmc::Sender<T> out, StageCounters* c) : src_(std::move(src)), out_(std::move(out)), c_(c) {}
  void start(Scope& s) override { s.spawn(run(&src_, std::move(out_), c_), {.name = "pipeline source"}); }

 private:
  static Task<void> run(Src* src, mpmc::Sender<T> out, StageCounters* c) {
    for (;;) {
      std::optional<T> item;
      if constexpr (AsyncSource<Src>) {
        std::exception_ptr error;
        try {
          item = co_await src->recv();
        } catch (const Cancelled&) {
          throw;
        } catch (...) {
          error = std::current_exception();
        }
        if (error) throw PipelineError(c->name, error);
        if (!item) co_return;
        c->in.fetch_add(1, std::memory_order_relaxed);
        if (!co_await out.send(std::move(*item))) co_return;  // downstream gone: being cancelled
        c->out.fetch_add(1, std::memory_order_relaxed);
      } else {
        for (auto&& v : *src) {
          c->in.fetch_add(1, std::memory_order_relaxed);
          if (!co_await out.send(T(std::forward<decltype(v)>(v)))) co_return;
          c->out.fetch_add(1, std::memory_order_relaxed);
        }
        co_return;
      }
    }
  }
  Src src_;
  mpmc::Sender<T> out_;
  StageCounters* c_;
};

// A stage. Unordered (or one worker): `parallelism` workers share the input channel. Ordered with
// several workers: a dispatcher takes a slot (semaphore of `parallelism`), pulls an item, starts a
// task for it and queues the task's reply channel; an emitter forwards the replies in queue order.
// The slot travels with the reply and is freed once the result is forwarded, so at most
// `parallelism` items are in the stage, finished or not.
template <class In, class Out, class Fn>
class StageRunnerImpl final : public StageRunner {
 public:
  StageRunnerImpl(mpmc::Receiver<In> in, std::optional<mpmc::Sender<Out>> out, Fn fn, StageCounters* c, bool ordered)
      : in_(std::move(in)), out_(std::move(out)), fn_(std::move(fn)), c_(c), ordered_(ordered) {}

  void start(Scope& s) override {
    if (ordered_ && c_->parallelism > 1) {
      auto [ptx, prx] = mpsc::channel<oneshot::Receiver<Reply>>(c_->parallelism);
      auto sem = std::make_shared<sync::Semaphore>(c_->parallelism);
      s.spawn(dispatch(std::move(in_), std::move(ptx), std::move(sem), &fn_, c_, &s), {.name = "pipeline stage"});
      s.spawn(emit(std::move(prx), std::move(out_), c_), {.name = "pipeline stage"});
      return;
    }
    for (std::size_t i = 0; i < c_->parallelism; ++i) {
      s.spawn(work(in_, out_, &fn_, c_), {.name = "pipeline stage"});
    }
    { auto dropped = std::move(in_); }
    out_.reset();  // the workers hold the only senders: when they end, the next stage sees the end
  }

 private:
  using Value = std::conditional_t<std::is_void_v<Out>, bool, Out>;
  struct Reply {
    Value value;
    Lease lease;  // the stage slot, freed after the value is forwarded
  };

  static Task<void> work(mpmc::Receiver<In> in, std::optional<mpmc::Sender<Out>> out, Fn* fn, StageCounters* c) {
    while (auto item = co_await in.recv()) {
      c->in.fetch_add(1, std::memory_order_relaxed);
      if constexpr (std::is_void_v<Out>) {
        {
          BusyTimer t(*c);
          co_await invoke_stage(*fn, *item, *c);
        }
      } else {
        std::optional<Out> r;
        {
          BusyTimer t(*c);
          r.emplace(co_await invoke_stage(*fn, *item, *c));
        }
        item.reset();
        if (!co_await out->send(std::move(*r))) co_return;  // downstream gone: being cancelled
      }
      c->out.fetch_add(1, std::memory_order_relaxed);
    }
  }

  static Task<void> process(In item, oneshot::Sender<Reply> reply, Lease lease, Fn* fn, StageCounters* c) {
    std::optional<Value> r;
    {
      BusyTimer t(*c);
      r.emplace(co_await invoke_stage(*fn, item, *c));
    }
    (void)reply.send(Reply{std::move(*r), std::move(lease)});
  }

  static Task<void> dispatch(mpmc::Receiver<In> in, mpsc::Sender<oneshot::Receiver<Reply>> pending,
                             std::shared_ptr<sync::Semaphore> sem, Fn* fn, StageCounters* c, Scope* s) {
    for (;;) {
      auto permit = co_await sem->acquire();
      auto item = co_await in.recv();
      if (!item) co_return;
      c->in.fetch_add(1, std::memory_order_relaxed);
      auto [tx, rx] = oneshot::channel<Reply>();
      s->spawn(process(std::move(*item), std::move(tx), Lease(sem, std::move(permit)), fn, c),
               {.name = "pipeline stage item"});
      if (!co_await pending.send(std::move(rx))) co_return;
    }
  }

  static Task<void> emit(mpsc::Receiver<oneshot::Receiver<Reply>> pending, std::optional<mpmc::Sender<Out>> out,
                         StageCounters* c) {
    while (auto rx = co_await pending.recv()) {
      auto reply = co_await *rx;
      if (!reply) co_return;  // its task failed or was cancelled: the scope is going down
      if (!co_await out->send(std::move(reply->value))) co_return;
      c->out.fetch_add(1, std::memory_order_relaxed);
    }
  }

  mpmc::Receiver<In> in_;
  std::optional<mpmc::Sender<Out>> out_;
  Fn fn_;
  StageCounters* c_;
  bool ordered_;
};

// The sink: a stage without an output channel.
template <class In, class Fn>
class SinkRunner final : public StageRunner {
 public:
  SinkRunner(mpmc::Receiver<In> in, Fn fn, StageCounters* c) : in_(std::move(in)), fn_(std::move(fn)), c_(c) {}
  void start(Scope& s) override {
    for (std::size_t i = 0; i < c_->parallelism; ++i) s.spawn(work(in_, &fn_, c_), {.name = "pipeline sink"});
    { auto dropped = std::move(in_); }
  }

 private:
  static Task<void> work(mpmc::Receiver<In> in, Fn* fn, StageCounters* c) {
    while (auto item = co_await in.recv()) {
      c->in.fetch_add(1, std::memory_order_relaxed);
      {
        BusyTimer t(*c);
        co_await invoke_stage(*fn, *item, *c);
      }
      c->out.fetch_add(1, std::memory_order_relaxed);
    }
  }
  mpmc::Receiver<In> in_;
  Fn fn_;
  StageCounters* c_;
};

Task<PipelineReport> run_pipeline(std::vector<std::unique_ptr<StageRunner>> runners,
                                  std::shared_ptr<PipelineShared> shared);

StageCounters& add_stage(PipelineShared& shared, const StageOptions& opts, const char* default_name);

template <class S>
using SourceItem = std::remove_cvref_t<typename SourceTraits<std::remove_reference_t<S>>::Item>;

}  // namespace detail

// tether::PipelineMonitor
//
// Watches a pipeline's stages from any task or thread, while it runs and after.
// Thread safety: thread-safe.
class PipelineMonitor {
 public:
  explicit PipelineMonitor(std::shared_ptr<const detail::PipelineShared> s) noexcept : s_(std::move(s)) {}
  std::vector<StageMetrics> snapshot() const { return s_->snapshot(); }

 private:
  std::shared_ptr<const detail::PipelineShared> s_;
};

// tether::Pipeline<T>
//
// A pipeline under construction whose last stage yields T. Move-only; each stage() consumes it and
// returns the longer pipeline; sink() consumes it and returns the Task that runs everything.
//
// Thread safety: confined to the building task.
//
// Pipeline::sink(fn, opts)
//
// Appends the sink and returns the Task that runs the pipeline. Nothing runs before it is awaited.
// Returns: PipelineReport once the source is exhausted and every item has reached the sink.
// Throws: PipelineError (the first failing stage); Error for invalid options; Cancelled.
template <class T>
class Pipeline {
 public:
  Pipeline(Pipeline&&) noexcept = default;
  Pipeline& operator=(Pipeline&&) noexcept = default;
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  template <class Fn>
  auto stage(Fn fn) && {
    return std::move(*this).stage(std::move(fn), StageOptions{});
  }
  template <class Fn>
  auto stage(Fn fn, StageOptions opts) && {
    using U = detail::StageOut<Fn, T>;
    static_assert(!std::is_void_v<U>, "a stage must return a value; a function returning void is the sink");
    detail::StageCounters& c = detail::add_stage(*shared_, opts, "stage");
    auto [tx, rx] = mpmc::channel<U>(opts.capacity);
    runners_.push_back(std::make_unique<detail::StageRunnerImpl<T, U, Fn>>(std::move(tail_), std::move(tx),
                                                                           std::move(fn), &c, opts.ordered));
    return Pipeline<U>(std::move(runners_), std::move(rx), std::move(shared_));
  }

  template <class Fn>
  [[nodiscard]] Task<PipelineReport> sink(Fn fn) && {
    return std::move(*this).sink(std::move(fn), StageOptions{});
  }
  template <class Fn>
  [[nodiscard]] Task<PipelineReport> sink(Fn fn, StageOptions opts) && {
    if (opts.parallelism > 1 && opts.ordered) {
      throw Error("pipeline sink with parallelism > 1 must set .ordered = false (its calls overlap)");
    }
    if (opts.name.empty()) opts.name = "sink";
    detail::StageCounters& c = detail::add_stage(*shared_, opts, "sink");
    runners_.push_back(std::make_unique<detail::SinkRunner<T, Fn>>(std::move(tail_), std::move(fn), &c));
    return detail::run_pipeline(std::move(runners_), std::move(shared_));
  }

  PipelineMonitor monitor() const { return PipelineMonitor(shared_); }

  // For pipeline() and stage(); build with those.
  Pipeline(std::vector<std::unique_ptr<detail::StageRunner>> runners, mpmc::Receiver<T> tail,
           std::shared_ptr<detail::PipelineShared> shared)
      : runners_(std::move(runners)), tail_(std::move(tail)), shared_(std::move(shared)) {}

 private:
  std::vector<std::unique_ptr<detail::StageRunner>> runners_;
  mpmc::Receiver<T> tail_;
  std::shared_ptr<detail::PipelineShared> shared_;
};

// pipeline(source, opts)
//
// Starts a pipeline from `source`: a range (moved or copied in; the pipeline owns it) or an async
// source such as an mpsc/mpmc Receiver (moved in). `opts` names the source and sets the capacity of
// the channel it fills; its parallelism is always 1.
template <class Source>
auto pipeline(Source&& source, StageOptions opts) {
  using S = std::remove_cvref_t<Source>;
  using T = detail::SourceItem<S>;
  auto shared = std::make_shared<detail::PipelineShared>();
  if (opts.name.empty()) opts.name = "source";
  opts.parallelism = 1;
  detail::StageCounters& c = detail::add_stage(*shared, opts, "source");
  auto [tx, rx] = mpmc::channel<T>(opts.capacity);
  std::vector<std::unique_ptr<detail::StageRunner>> runners;
  runners.push_back(std::make_unique<detail::SourceRunner<S, T>>(S(std::forward<Source>(source)), std::move(tx), &c));
  return Pipeline<T>(std::move(runners), std::move(rx), std::move(shared));
}
template <class Source>
auto pipeline(Source&& source) {
  return pipeline(std::forward<Source>(source), StageOptions{});
}

}  // namespace tether
