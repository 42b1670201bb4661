// tether/task/task_tracker.hpp
//
// TaskTracker: keeps count of a group of background tasks so they can be cancelled together and
// waited for at shutdown: spawn tracked tasks, close() the tracker, `co_await wait()` (returns once
// it is closed and every tracked task has finished), cancel() them all. An optional limit bounds
// how many tracked tasks run at once: spawn() then waits for room, so a burst of work queues as
// suspended callers instead of as thousands of running tasks.
//
//   TaskTracker      the group
//   TrackerOptions   name, limit
//
// When to use something else: JoinSet when you want each task's result in completion order; a scope
// (scope.hpp) when a child's failure must cancel its siblings and reach the owner.
//
// Thread safety: thread-safe.
// Lifetime: must outlive its tasks: await wait() (after close()) before destroying it.
// Example: examples/task/graceful_shutdown.cpp
#pragma once

#include <atomic>
#include <cstddef>
#include <source_location>
#include <string>
#include <utility>

#include "tether/core/cancellation_token.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"
#include "tether/task/detail/wait_group.hpp"

namespace tether {

struct TrackerOptions {
  std::string name = "tracker";  // prefix of the tracked tasks' default names
  std::size_t limit = 0;         // tracked tasks running at once; 0: no limit
};

class TaskTracker {
 public:
  // The tracker's token is a child of the calling task's (or a root token outside a task), so
  // cancelling the creator cancels the tracked tasks too.
  explicit TaskTracker(TrackerOptions options = {})
      : options_(std::move(options)),
        token_(detail::current_task() ? CancellationToken::current().child() : CancellationToken()),
        group_(options_.limit) {}
  TaskTracker(const TaskTracker&) = delete;
  TaskTracker& operator=(const TaskTracker&) = delete;
  ~TaskTracker() { token_.cancel(); }

  // TaskTracker::spawn()
  //
  // Starts `task` as a tracked task (a child of the tracker's token), first waiting for room when
  // the tracker has a limit. Returns its JoinHandle.
  // Throws: Error if the tracker is closed; Cancelled.
  // Cancellation: Cancel-safe, but loses its place in the wait queue (the task was not started).
  template <class T>
  [[nodiscard]] Task<JoinHandle<T>> spawn(Task<T> task, SpawnOptions opts = {},
                                          std::source_location loc = std::source_location::current()) {
    if (closed_.load(std::memory_order_acquire)) throw Error("spawn on a closed TaskTracker");
    if (!group_.try_add()) co_await group_.wait_room();
    co_return start(std::move(task), opts, loc);
  }

  // Starts `task` now, even past the limit (for callers that are not tasks, and for work that must
  // not wait). Throws: Error if the tracker is closed.
  template <class T>
  [[nodiscard]] JoinHandle<T> spawn_now(Task<T> task, SpawnOptions opts = {},
                                        std::source_location loc = std::source_location::current()) {
    admit();
    return start(std::move(task), opts, loc);
  }

  // Starts `task` now as a tracked background task whose result nobody awaits: wait() still covers
  // it, cancel() reaches it, and its failure goes to the runtime's error log (never silent). Only
  // for Task<void>: a value nobody reads would be lost. Throws: Error if the tracker is closed.
  void spawn_background(Task<void> task, SpawnOptions opts = {},
                        std::source_location loc = std::source_location::current()) {
    admit();
    auto member = tracked(std::move(task), Membership(&group_));  // leaves the group if it never starts
    detail::RuntimeCore* core = prepare("TaskTracker::spawn_background()", opts);
    // No handle, so no join cell: the failure is logged when it happens.
    detail::spawn_detached_cell(core, std::move(member), opts, loc);
  }

  // No new tasks; wait() can now complete.
  void close() noexcept { closed_.store(true, std::memory_order_release); }
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  // Cancels every tracked task (their suspension points throw Cancelled).
  void cancel() const { token_.cancel(); }
  std::size_t len() const { return group_.count(); }
  const CancellationToken& token() const noexcept { return token_; }

  // TaskTracker::wait()
  //
  // Waits until every tracked task has finished. Call close() first, or tasks spawned meanwhile
  // extend the wait. Throws: Cancelled.
  // Cancellation: Cancel-safe: nothing was consumed.
  [[nodiscard]] detail::WaitGroup::Awaiter wait() noexcept { return group_.wait_zero(); }

 private:
  // Leaves the group when destroyed. A coroutine parameter, not a local, so that it leaves even
  // when the task is aborted before it ever ran (its frame is destroyed unstarted).
  class Membership {
   public:
    explicit Membership(detail::WaitGroup* g) noexcept : g_(g) {}
    Membership(Membership&& o) noexcept : g_(std::exchange(o.g_, nullptr)) {}
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() {
      if (g_) g_->done();
    }

   private:
    detail::WaitGroup* g_;
  };
  template <class T>
  static Task<T> tracked(Task<T> task, Membership) {
    co_return co_await std::move(task);
  }
  // Counts a task that is about to start. Throws: Error if the tracker is closed.
  void admit() {
    if (closed_.load(std::memory_order_acquire)) throw Error("spawn on a closed TaskTracker");
    group_.add();
  }
  // The tracker's token and name, unless `opts` has its own; the runtime to start on.
  detail::RuntimeCore* prepare(const char* what, SpawnOptions& opts) {
    if (!opts.token) opts.token = &token_;
    if (opts.name.empty()) opts.name = options_.name;
    return detail::require_runtime(what);
  }
  template <class T>
  JoinHandle<T> start(Task<T> task, SpawnOptions opts, const std::source_location& loc) {
    auto member = tracked(std::move(task), Membership(&group_));  // leaves the group if it never starts
    detail::RuntimeCore* core = prepare("TaskTracker::spawn()", opts);
    return JoinHandle<T>(detail::spawn_cell(core, std::move(member), opts, loc));
  }

  TrackerOptions options_;
  CancellationToken token_;
  detail::WaitGroup group_;
  std::atomic<bool> closed_{false};
};

}  // namespace tether
