// tether/task/join_set.hpp
//
// JoinSet<T>: many tasks of one result type, collected in the order they finish. `co_await
// set.next()` gives the next finished task's value (rethrowing its exception), or nullopt when the
// set is empty. Destroying the set aborts the tasks still in it, so none outlives its owner.
//
//   JoinSet<T>   spawn(), next(), abort_all(), size()
//
// When to use something else: results in input order with bounded concurrency: map_concurrent
// (patterns); fire-and-track background work: TaskTracker.
//
// Thread safety: confined to its owning task (spawn and next from that task); the tasks themselves
//   run anywhere.
// Example: tests/task/join_set_test.cpp
#pragma once

#include <coroutine>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <source_location>
#include <unordered_map>

#include "tether/core/detail/event.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"

namespace tether {

template <class T>
class JoinSet {
  using Slot = std::conditional_t<std::is_void_v<T>, bool, T>;

 public:
  JoinSet() : state_(std::make_shared<State>()) {}
  JoinSet(const JoinSet&) = delete;
  JoinSet& operator=(const JoinSet&) = delete;
  JoinSet(JoinSet&&) noexcept = default;
  JoinSet& operator=(JoinSet&&) noexcept = default;
  ~JoinSet() { abort_all(); }

  // Starts `task` in the set. Its cancellation token is a child of the caller's scope.
  void spawn(Task<T> task, SpawnOptions opts = {}, std::source_location loc = std::source_location::current()) {
    std::uint64_t key = next_key_++;
    auto* core = detail::require_runtime("JoinSet::spawn()");
    auto* cell = detail::spawn_cell(core, entry(std::move(task), Report(state_, key)), opts, loc);
    cell->mark_result_consumed();  // the set observes every result (next() or abort)
    handles_.emplace(key, JoinHandle<T>(cell));
  }

  // JoinSet::next()
  //
  // Waits for the next task to finish. Returns its value (true for JoinSet<void>), or nullopt when
  // the set is empty. Throws: the finished task's exception (it is removed from the set);
  // Cancelled if the caller is cancelled.
  // Cancellation: Cancel-safe: nothing was consumed (a finished task stays in the set).
  Task<std::optional<Slot>> next() {
    for (;;) {
      if (handles_.empty()) co_return std::nullopt;
      std::optional<std::uint64_t> key = state_->pop();
      if (!key) {
        co_await state_->wait_ready();
        continue;
      }
      auto it = handles_.find(*key);
      JoinHandle<T> h = std::move(it->second);
      handles_.erase(it);
      if constexpr (std::is_void_v<T>) {
        co_await h;
        co_return true;
      } else {
        co_return co_await h;
      }
    }
  }

  // Aborts every task in the set; they stay in it until next() collects them (as Cancelled).
  void abort_all() noexcept {
    for (auto& [key, h] : handles_) h.abort();
  }
  std::size_t size() const noexcept { return handles_.size(); }
  bool empty() const noexcept { return handles_.empty(); }

 private:
  // Finished keys, pushed by the tasks as they end, popped by next().
  struct State {
    std::mutex mu;
    std::deque<std::uint64_t> done;                                                          // guarded by mu
    std::unique_ptr<detail::OneShotEvent> ready = std::make_unique<detail::OneShotEvent>();  // guarded by mu

    void push(std::uint64_t key) {
      // set() under the lock: pop() may replace the event as soon as the lock is free.
      std::lock_guard<std::mutex> g(mu);
      done.push_back(key);
      ready->set();
    }
    std::optional<std::uint64_t> pop() {
      std::lock_guard<std::mutex> g(mu);
      if (done.empty()) {
        if (ready->is_set()) ready = std::make_unique<detail::OneShotEvent>();  // re-arm
        return std::nullopt;
      }
      std::uint64_t k = done.front();
      done.pop_front();
      return k;
    }
    Task<void> wait_ready() {
      detail::OneShotEvent* ev;
      {
        std::lock_guard<std::mutex> g(mu);
        if (!done.empty()) co_return;
        ev = ready.get();
      }
      co_await ev->wait();
    }
  };

  // Reports the task finished when destroyed. A coroutine parameter, not a local, so that it
  // reports even when the task is aborted before it ever ran (its frame is destroyed unstarted).
  class Report {
   public:
    Report(std::shared_ptr<State> s, std::uint64_t k) noexcept : s_(std::move(s)), k_(k) {}
    Report(Report&& o) noexcept = default;
    Report(const Report&) = delete;
    Report& operator=(const Report&) = delete;
    ~Report() {
      if (s_) s_->push(k_);
    }

   private:
    std::shared_ptr<State> s_;
    std::uint64_t k_;
  };
  static Task<T> entry(Task<T> task, Report) { co_return co_await std::move(task); }

  std::shared_ptr<State> state_;
  std::unordered_map<std::uint64_t, JoinHandle<T>> handles_;
  std::uint64_t next_key_ = 0;
};

}  // namespace tether
