// Internal; not part of the public API.
//
// ThreadPool: the blocking pool (threads on demand up to a maximum, idle ones exit) and the compute
// pool (a fixed set of threads). Both have a bounded queue; a task that finds the queue full waits
// in `submitters_` (its own frame holds the job), so nothing grows without bound.
//
// Job protocol, all under mu_:
//  1. A job is kWaitingRoom (in submitters_), kQueued (in queue_), kRunning, or kDone.
//  2. When a thread takes a job from queue_, the oldest waiting submitter's job moves into queue_.
//  3. A cancelled awaiter removes a job that has not started (nothing ran); a running job finishes
//     and its result is dropped with the last reference (jobs are reference counted).
//  4. cancel() on a running job marks it abandoned: its awaiter (and the task that owns the waiter)
//     may be gone once cancel() returns, so the pool thread claims the waiter only under mu_ and
//     only if the job is not abandoned.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tether/core/detail/waiter.hpp"

namespace tether::detail {

class PoolJob {
 public:
  enum class Stage : std::uint8_t { kNew, kWaitingRoom, kQueued, kRunning, kDone };
  virtual ~PoolJob() = default;
  virtual void run() noexcept = 0;  // stores the result or exception

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;  // acq_rel: refcount
  }

  Waiter waiter;              // completion: claimed by the pool thread after run()
  Stage stage = Stage::kNew;  // guarded by the pool's mu_
  bool abandoned = false;     // guarded by the pool's mu_ (rule 4)

 private:
  Atomic<std::uint32_t> refs_{1};
};

class ThreadPool {
 public:
  struct Options {
    std::string name;
    std::size_t max_threads;
    std::size_t queue_capacity;
    std::chrono::milliseconds keep_alive;
    bool fixed;  // start all threads at once and keep them (compute pool)
  };
  explicit ThreadPool(Options o);
  ~ThreadPool();  // stops the threads; jobs not started are completed with Cancelled

  // Queues `job` (taking a reference) if there is room; otherwise records it as waiting for room.
  void submit(PoolJob* job);
  // Removes a job that has not started. Returns false if it is running or done; then the pool no
  // longer touches the job's waiter (rule 4).
  bool cancel(PoolJob* job);

  std::size_t threads() const;
  std::size_t idle_threads() const;
  std::size_t queue_depth() const;
  std::size_t max_threads() const noexcept { return opts_.max_threads; }
  std::size_t peak_threads() const;

 private:
  struct Worker {
    std::thread thread;
    bool exited = false;  // guarded by mu_
  };
  void worker_loop(Worker* self);
  void start_thread_locked();
  void reap_exited_locked();

  const Options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_
  std::deque<PoolJob*> queue_;
  std::deque<PoolJob*> submitters_;
  std::list<Worker> workers_;
  std::size_t live_threads_ = 0;
  std::size_t idle_ = 0;
  std::size_t peak_ = 0;
  bool stopping_ = false;
};

}  // namespace tether::detail
