// tether/task/scope.hpp
//
// scope(body): structured concurrency (a nursery). The body spawns children into the Scope it is
// given; the scope does not finish before every child has; the first child failure cancels the
// siblings and the body, and is rethrown to the scope's owner once everything has unwound. No task
// outlives the scope that spawned it.
//
//   co_await tether::scope([&](tether::Scope& s) -> tether::Task<void> {
//     s.spawn(fetch(a));
//     s.spawn(fetch(b));
//     co_return;
//   });
//
//   Scope     the handle the body spawns children into
//   scope()   runs a body in a new scope
//
// When to use something else: results of many equal tasks in completion order: JoinSet; detached
// background work that outlives the caller: TaskTracker (and track it for shutdown).
//
// Thread safety: Scope::spawn() is thread-safe (children may spawn siblings).
// Cancellation: cancelling the owner cancels the body and every child; scope() then waits for them to
//   unwind and throws Cancelled.
// Example: examples/task/graceful_shutdown.cpp
#pragma once

#include <exception>
#include <mutex>
#include <optional>
#include <source_location>
#include <utility>

#include "tether/core/cancellation_token.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"
#include "tether/task/detail/wait_group.hpp"

namespace tether {

class Scope {
 public:
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  // Starts a child. Its failure (anything but Cancelled) cancels the scope and is rethrown by
  // scope() once all children have finished.
  template <class T>
  void spawn(Task<T> task, SpawnOptions opts = {}, std::source_location loc = std::source_location::current()) {
    opts.token = &token_;
    group_.add();
    auto* core = detail::require_runtime("Scope::spawn()");
    // The scope observes the child through Membership, not a handle: no join cell.
    detail::spawn_detached_cell(core, child(std::move(task), Membership(this)), opts, loc);
  }
  // Cancels the body and every child (scope() then throws Cancelled unless a child failed first).
  void cancel() const { token_.cancel(); }
  const CancellationToken& token() const noexcept { return token_; }

 private:
  template <class F>
  friend auto scope(F body) -> Task<typename std::invoke_result_t<F&, Scope&>::value_type>;

  explicit Scope(CancellationToken token) : token_(std::move(token)) {}

  void fail(std::exception_ptr e) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!error_) error_ = std::move(e);
    }
    token_.cancel();
  }
  std::exception_ptr error() {
    std::lock_guard<std::mutex> g(mu_);
    return error_;
  }

  // Leaves the group when destroyed, even for a child aborted before it ran.
  class Membership {
   public:
    explicit Membership(Scope* s) noexcept : s_(s) {}
    Membership(Membership&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() {
      if (s_) s_->group_.done();
    }
    Scope* scope() const noexcept { return s_; }

   private:
    Scope* s_;
  };

  template <class T>
  static Task<void> child(Task<T> task, Membership m) {
    try {
      co_await std::move(task);
    } catch (const Cancelled&) {
      // Cancellation is how siblings stop; it is not a failure of the scope.
    } catch (...) {
      m.scope()->fail(std::current_exception());
    }
  }

  CancellationToken token_;
  detail::WaitGroup group_;
  std::mutex mu_;
  std::exception_ptr error_;  // guarded by mu_: the first failure
};

// scope()
//
// Runs `body(scope)` and waits for every child it spawned. Returns the body's value.
// Throws: the first failure of the body or a child (after everything has unwound); Cancelled if
// the owner was cancelled.
template <class F>
auto scope(F body) -> Task<typename std::invoke_result_t<F&, Scope&>::value_type> {
  using R = typename std::invoke_result_t<F&, Scope&>::value_type;
  detail::TaskHeader* self = detail::require_task("scope()");
  Scope s(CancellationToken::current().child());
  std::optional<detail::Result<R>> body_result;
  {
    // The body runs in the scope's token, so a failing child cancels it too.
    auto* body_scope = s.token_.state();
    body_scope->add_ref();
    detail::ScopeSwap swap(self, body_scope);
    body_result.emplace();
    try {
      if constexpr (std::is_void_v<R>) {
        co_await body(s);
        body_result->set_value();
      } else {
        body_result->set_value(co_await body(s));
      }
    } catch (const Cancelled&) {
      body_result->set_exception(std::current_exception());
    } catch (...) {
      s.fail(std::current_exception());
    }
  }
  // Children must finish before `s` goes away, even while the owner is being cancelled.
  co_await shield(s.group_.wait_zero());
  if (auto e = s.error()) std::rethrow_exception(e);
  detail::throw_if_cancelled();  // the owner was cancelled while its children unwound
  co_return body_result->take();
}

}  // namespace tether
