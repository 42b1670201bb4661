// Runtime facade over the scheduler flavours.
#include "tether/core/runtime.hpp"

#include <spdlog/spdlog.h>

#include "counters.hpp"
#include "multi_thread.hpp"
#include "tether/core/detail/local_core.hpp"
#include "tether/core/detail/thread_pool.hpp"

namespace tether {
namespace {

std::unique_ptr<detail::RuntimeCore> make_core(RuntimeOptions options) {
  if (options.flavor == Flavor::kCurrentThread) {
    return std::make_unique<detail::LocalCore>(std::move(options), detail::LocalCoreOptions{});
  }
  return std::make_unique<detail::MultiThreadCore>(std::move(options));
}

TaskInfo describe(detail::TaskHeader* t) {
  TaskInfo info;
  info.id = t->id();
  info.name = t->display_name();
  info.age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t->spawn_time());
  // Racy by design: a diagnostic snapshot of what the task last waited on.
  if (const char* w = t->waiting_on) info.waiting_on = w;
  return info;
}

}  // namespace

namespace detail {
// Defined by src/observe/watchdog.cpp: starts the monitor thread of RuntimeOptions::watchdog.
std::unique_ptr<observe::Watchdog, WatchdogDeleter> start_runtime_watchdog(Runtime& rt);
}  // namespace detail

Runtime::Runtime(RuntimeOptions options) : core_(make_core(std::move(options))) {
  // Virtual-time runtimes (the other constructor) have no monitor thread: their tests drive an
  // observe::Watchdog by hand, deterministically.
  if (core_->options().watchdog.enabled) watchdog_ = detail::start_runtime_watchdog(*this);
}
Runtime::Runtime(std::unique_ptr<detail::RuntimeCore> core) : core_(std::move(core)) {}

Runtime::~Runtime() {
  watchdog_.reset();  // stop the monitor before anything it watches goes away
  if (!core_) return;
  if (!core_->shut_down()) {
    // Cancel everything and give it a moment to unwind; stragglers are destroyed by the core.
    core_->mark_shut_down();
    core_->cancel_all();
    core_->wait_idle_until(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  core_.reset();
}

void Runtime::run_until_complete(detail::JoinCellBase* j) {
  if (detail::current_task()) throw Error("block_on() called from inside a task");
  core_->block_until_complete(j);
}

ShutdownReport Runtime::shutdown(std::chrono::milliseconds grace) {
  auto start = std::chrono::steady_clock::now();
  core_->mark_shut_down();
  core_->cancel_all();
  core_->wait_idle_until(start + grace);
  ShutdownReport report;
  for (detail::TaskHeader* t : core_->live_tasks()) {
    if (!t->is_complete()) report.still_alive.push_back(describe(t));
    t->release();
  }
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (!report.clean()) {
    core_->logger().warn("shutdown: {} task(s) still alive after the {}ms grace period", report.still_alive.size(),
                         grace.count());
    for (const TaskInfo& t : report.still_alive) {
      core_->logger().warn("  task {} '{}' age {}ms waiting on {}", t.id, t.name, t.age.count(),
                           t.waiting_on.empty() ? "nothing (running or ready)" : t.waiting_on);
    }
  }
  return report;
}

IoBackend Runtime::io_backend() const noexcept { return core_->driver().backend(); }

RuntimeMetrics Runtime::metrics() const {
  RuntimeMetrics m;
  detail::RuntimeCounters& c = core_->counters();
  m.workers = core_->worker_count();
  m.tasks_spawned = c.spawned.read();
  m.tasks_completed = c.completed.read();
  m.tasks_failed = c.failed.read();
  m.tasks_cancelled = c.cancelled.read();
  m.tasks_alive = core_->alive();
  m.polls = c.polls.read();
  m.steals = c.steals.read();
  m.parks = c.parks.read();
  if (auto* mt = dynamic_cast<detail::MultiThreadCore*>(core_.get())) {
    mt->fill_metrics(m.global_queue_depth, m.local_queue_depths);
  }
  m.timers = core_->timer_count();
  if (detail::ThreadPool* blocking = core_->blocking_pool_if_started()) {
    m.blocking_threads = blocking->threads();
    m.blocking_idle_threads = blocking->idle_threads();
    m.blocking_queue_depth = blocking->queue_depth();
  }
  if (detail::ThreadPool* compute = core_->compute_pool_if_started()) {
    m.compute_threads = compute->threads();
    m.compute_queue_depth = compute->queue_depth();
  }
  return m;
}

std::vector<TaskInfo> Runtime::tasks() const {
  std::vector<TaskInfo> out;
  for (detail::TaskHeader* t : core_->live_tasks()) {
    if (!t->is_complete()) out.push_back(describe(t));
    t->release();
  }
  return out;
}

CancellationToken Runtime::token() const {
  core_->root()->add_ref();
  return CancellationToken::adopt(core_->root());
}

}  // namespace tether
