// What every scheduler flavour shares: timers, registry, logging, pools.
#include "tether/core/detail/runtime_core.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "counters.hpp"
#include "task_fields_logger.hpp"
#include "tether/core/detail/driver.hpp"
#include "tether/core/detail/thread_pool.hpp"
#include "tether/core/task.hpp"

namespace tether::detail {
namespace {

thread_local RuntimeCore* tls_current_core = nullptr;
// One epoch for every real-time runtime, so Instants from different runtimes compare.
const std::chrono::steady_clock::time_point process_epoch = std::chrono::steady_clock::now();
std::atomic<unsigned> next_shard{0};

// This thread's current block of task ids, and the runtime (by serial: addresses are reused) it
// belongs to.
struct TaskIdBlock {
  std::uint64_t serial = 0;
  std::uint64_t next = 0;
  std::uint64_t end = 0;
};
thread_local TaskIdBlock tls_task_ids;

}  // namespace

std::uint64_t RuntimeCore::next_task_id() noexcept {
  TaskIdBlock& b = tls_task_ids;
  if (b.serial != serial_ || b.next == b.end) {
    // relaxed: uniqueness only needs the atomicity of the add; no data is published through it.
    b.next = next_id_.fetch_add(kTaskIdBlock, std::memory_order_relaxed);
    b.end = b.next + kTaskIdBlock;
    b.serial = serial_;
  }
  return b.next++;
}

unsigned ShardedCounter::shard_index() noexcept {
  // relaxed: any distinct-enough spread of threads over shards will do.
  thread_local unsigned index = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return index;
}

unsigned worker_count_for(const RuntimeOptions& options) noexcept {
  if (options.flavor != Flavor::kMultiThread) return 1;
  return options.workers ? options.workers : std::max(1u, std::thread::hardware_concurrency());
}

RuntimeCore* RuntimeCore::current() noexcept { return tls_current_core; }
void RuntimeCore::set_current(RuntimeCore* core) noexcept { tls_current_core = core; }

RuntimeCore::RuntimeCore(RuntimeOptions options)
    : options_(std::move(options)),
      // Every line the runtime writes carries the writing task's id and name (task_fields_logger.hpp).
      logger_(std::make_shared<TaskFieldsLogger>(options_.logger ? options_.logger : spdlog::default_logger())),
      root_(new RootState()),
      // io_uring: a ring per worker (driver.hpp says why).
      driver_(std::make_unique<Driver>(options_.io_backend, worker_count_for(options_))),
      counters_(std::make_unique<RuntimeCounters>()) {
  debug_enabled_ = logger_->should_log(spdlog::level::debug);
}

RuntimeCore::~RuntimeCore() { root_->drop(); }

std::uint64_t RuntimeCore::process_now_ms() noexcept {
  auto d = std::chrono::steady_clock::now() - process_epoch;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

std::uint64_t RuntimeCore::process_now_ms_rounded_up() noexcept {
  auto d = std::chrono::steady_clock::now() - process_epoch;
  return static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

std::uint64_t RuntimeCore::now_ms() const noexcept { return process_now_ms(); }

bool RuntimeCore::add_timer(TimerEntry* e) noexcept {
  bool earlier;
  {
    std::lock_guard<std::mutex> g(timer_mu_);
    std::uint64_t before = wheel_.next_expiration();
    if (!wheel_.insert(e)) return false;
    earlier = e->deadline_ms < before;
  }
  if (earlier) on_earlier_timer(e->deadline_ms);
  return true;
}

void RuntimeCore::remove_timer(TimerEntry* e) noexcept {
  std::lock_guard<std::mutex> g(timer_mu_);
  wheel_.remove(e);
}

std::uint64_t RuntimeCore::next_timer_deadline() const noexcept {
  std::lock_guard<std::mutex> g(timer_mu_);
  return wheel_.next_expiration();
}

std::size_t RuntimeCore::timer_count() const noexcept {
  std::lock_guard<std::mutex> g(timer_mu_);
  return wheel_.size();
}

std::uint64_t RuntimeCore::process_timers() noexcept {
  std::uint64_t now = now_ms();
  for (;;) {
    FiredBatch batch;
    bool more;
    std::uint64_t next;
    {
      std::lock_guard<std::mutex> g(timer_mu_);
      more = wheel_.advance(now, batch);
      next = wheel_.next_expiration();
    }
    // Outside the timer lock: waking takes queue locks, cancelling runs callbacks.
    for (int i = 0; i < batch.n_wake; ++i) batch.wake[i]->wake();
    for (int i = 0; i < batch.n_cancel; ++i) {
      batch.cancel[i]->cancel();
      batch.cancel[i]->release();
    }
    if (!more) return next;
  }
}

void RuntimeCore::log_error(std::string_view message) const noexcept {
  try {
    logger_->error("{}", message);
  } catch (...) {
    // Logging must never take the process down.
  }
}

ThreadPool& RuntimeCore::blocking_pool() {
  std::lock_guard<std::mutex> g(pools_mu_);
  if (!blocking_pool_) {
    blocking_pool_ = std::make_unique<ThreadPool>(ThreadPool::Options{
        .name = options_.name + "-blk",
        .max_threads = std::max<std::size_t>(1, options_.blocking_threads),
        .queue_capacity = std::max<std::size_t>(1, options_.blocking_queue),
        .keep_alive = options_.blocking_keep_alive,
        .fixed = false,
    });
  }
  return *blocking_pool_;
}

ThreadPool& RuntimeCore::compute_pool() {
  std::lock_guard<std::mutex> g(pools_mu_);
  if (!compute_pool_) {
    unsigned n =
        options_.compute_threads ? options_.compute_threads : std::max(1u, std::thread::hardware_concurrency());
    compute_pool_ = std::make_unique<ThreadPool>(ThreadPool::Options{
        .name = options_.name + "-cpu",
        .max_threads = n,
        .queue_capacity = std::max<std::size_t>(1, options_.compute_queue),
        .keep_alive = std::chrono::milliseconds(0),
        .fixed = true,
    });
  }
  return *compute_pool_;
}

ThreadPool* RuntimeCore::blocking_pool_if_started() noexcept {
  std::lock_guard<std::mutex> g(pools_mu_);
  return blocking_pool_.get();
}

ThreadPool* RuntimeCore::compute_pool_if_started() noexcept {
  std::lock_guard<std::mutex> g(pools_mu_);
  return compute_pool_.get();
}

void RuntimeCore::stop_pools() noexcept {
  std::unique_ptr<ThreadPool> b, c;
  {
    std::lock_guard<std::mutex> g(pools_mu_);
    b = std::move(blocking_pool_);
    c = std::move(compute_pool_);
  }
  b.reset();
  c.reset();
}

std::uint64_t RuntimeCore::alive() const noexcept {
  // Completed first: a task counted as completed was counted as spawned before, so the difference
  // never goes negative.
  std::uint64_t completed = counters_->completed.read();
  std::uint64_t spawned = counters_->spawned.read();
  return spawned > completed ? spawned - completed : 0;
}

void RuntimeCore::on_task_spawned(TaskHeader* t) noexcept {
  counters_->spawned.add();
  // The spawning thread's shard: spawns from one worker never contend with another's.
  t->reg_shard = static_cast<std::uint8_t>(ShardedCounter::shard_index() % kRegistryShards);
  RegistryShard& shard = registry_[t->reg_shard];
  {
    std::lock_guard<SpinLock> g(shard.mu);
    t->reg_prev = nullptr;
    t->reg_next = shard.head;
    if (shard.head) shard.head->reg_prev = t;
    shard.head = t;
  }
  if (debug_enabled_) logger_->debug("task {} '{}' spawned", t->id(), t->display_name());
}

void RuntimeCore::on_task_completed(TaskHeader* t) noexcept {
  bool failed = t->failed();
  if (failed) counters_->failed.add();
  if (t->cancelled_result()) counters_->cancelled.add();
  counters_->completed.add();
  if (debug_enabled_) {
    auto took =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t->spawn_time());
    if (failed) {
      logger_->debug("task {} '{}' failed after {}us: {}", t->id(), t->display_name(), took.count(),
                     t->failure_message());
    } else {
      logger_->debug("task {} '{}' completed after {}us{}", t->id(), t->display_name(), took.count(),
                     t->cancelled_result() ? " (cancelled)" : "");
    }
  }
}

namespace {
void unlink_locked(TaskHeader*& head, TaskHeader* t) noexcept {
  if (t->reg_prev) {
    t->reg_prev->reg_next = t->reg_next;
  } else {
    head = t->reg_next;
  }
  if (t->reg_next) t->reg_next->reg_prev = t->reg_prev;
  t->reg_prev = t->reg_next = nullptr;
}
}  // namespace

void RuntimeCore::retire_now(TaskHeader* t, std::uint32_t refs) noexcept {
  RegistryShard& shard = registry_[t->reg_shard];
  {
    std::lock_guard<SpinLock> g(shard.mu);
    unlink_locked(shard.head, t);
  }
  t->release(refs);
}

void RuntimeCore::retire_later(RetireBatch& batch, TaskHeader* t, std::uint32_t refs) noexcept {
  batch.tasks[batch.size] = t;
  batch.refs[batch.size] = refs;
  if (++batch.size == RetireBatch::kMax) flush(batch);
}

void RuntimeCore::flush(RetireBatch& batch) noexcept {
  // One lock per run of tasks from the same shard (a fan-out's tasks mostly share one).
  for (std::size_t i = 0; i < batch.size;) {
    const std::uint8_t index = batch.tasks[i]->reg_shard;
    RegistryShard& shard = registry_[index];
    std::lock_guard<SpinLock> g(shard.mu);
    for (; i < batch.size && batch.tasks[i]->reg_shard == index; ++i) unlink_locked(shard.head, batch.tasks[i]);
  }
  // Likewise for the cancellation tree: each run of siblings leaves its parent under one lock.
  for (std::size_t i = 0; i < batch.size;) {
    CancelState* parent = batch.tasks[i]->parent();
    CancelState* run[RetireBatch::kMax];
    std::size_t n = 0;
    for (; i + n < batch.size && batch.tasks[i + n]->parent() == parent; ++n) run[n] = batch.tasks[i + n];
    if (parent) parent->detach_dying_children(run, &batch.refs[i], n);
    i += n;
  }
  for (std::size_t i = 0; i < batch.size; ++i) batch.tasks[i]->release(batch.refs[i]);
  batch.size = 0;
}

std::vector<TaskHeader*> RuntimeCore::live_tasks() {
  std::vector<TaskHeader*> out;
  for (auto& shard : registry_) {
    std::lock_guard<SpinLock> g(shard.mu);
    for (TaskHeader* t = shard.head; t; t = t->reg_next) {
      if (t->is_complete()) continue;  // finished, waiting in a RetireBatch
      t->add_ref();
      out.push_back(t);
    }
  }
  return out;
}

void RuntimeCore::cancel_all() {
  root_->cancel();
  for (TaskHeader* t : live_tasks()) {
    t->cancel();
    t->release();
  }
}

bool RuntimeCore::execute(TaskHeader* t, RetireBatch* batch) noexcept {
  if (!t->begin_run()) return false;
  set_current_task(t);
  t->budget = kTaskBudget;
  bool finished;
  if (!t->started && t->is_cancelled()) {
    // Aborted before it ever ran: it never runs, and its join reports Cancelled.
    t->abandon();
    finished = true;
  } else {
    t->started = true;
    ResumeHook* hook = std::exchange(t->resume_hook, nullptr);
    if (!hook || hook->before_resume()) resume_chain(t->resume_point);
    finished = t->root_done;
    if (finished) t->take_result_and_destroy_frame();
  }
  set_current_task(nullptr);
  counters_->polls.add();
  if (!finished) return t->end_run();
  on_task_completed(t);
  std::uint32_t refs = t->complete();  // the "alive" reference, and the join cell's
  if (batch) {
    retire_later(*batch, t, refs);
  } else {
    retire_now(t, refs);
  }
  return false;
}

void RuntimeCore::abandon_live_tasks() noexcept {
  for (TaskHeader* t : live_tasks()) {
    if (!t->is_complete()) {
      set_current_task(t);  // frame destructors may consult the current task
      t->abandon();
      set_current_task(nullptr);
      on_task_completed(t);
      retire_now(t, t->complete());  // the "alive" reference, and the join cell's
    }
    t->release();
  }
}

}  // namespace tether::detail
