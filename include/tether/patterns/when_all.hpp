// tether/patterns/when_all.hpp
//
// when_all / when_any: wait for a fixed set of concurrent operations, all of them or the first.
//
//   when_all(a, b, ...)        every operation, concurrently; a tuple of their values
//   when_all(vector<Task<T>>)  every task, concurrently; a vector of values in input order
//   when_any(a, b, ...)        the first to finish wins (a std::variant); the rest are cancelled
//   when_any(vector<Task<T>>)  the first to finish wins (WhenAny<T>: index and value)
//
//   auto [user, feed] = co_await tether::when_all(load_user(id), load_feed(id));
//
// Both are structured: every operation runs as a child task of the caller (cancelling the caller
// cancels them), and neither returns before every child has finished or unwound, so nothing
// outlives the call. The first failure of when_all cancels the siblings and is rethrown once they
// have unwound.
//
// When to use something else: more operations than you want running at once (a list of URLs, a
// channel of jobs): map_concurrent / for_each_concurrent (map_concurrent.hpp), which bound how many
// run at a time; every outcome instead of the first failure: map_concurrent_settled; a chain of
// stages: Pipeline (pipeline.hpp); racing a channel receive against a timer: select() (core).
//
// Thread safety: n/a (acts on the calling task); the operations run as child tasks on any worker.
// Cancellation: as its operations: cancelling the caller cancels every operation and the call
//   throws Cancelled once they have unwound.
// Example: examples/patterns/crawler.cpp
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/select.hpp"
#include "tether/core/task.hpp"
#include "tether/task/scope.hpp"

namespace tether {

// tether::WhenAny<T>
//
// The winner of when_any over a vector: its position in the input and its value (no value for
// T = void).
//
// Thread safety: a plain value.
template <class T>
struct WhenAny {
  std::size_t index = 0;
  T value;
};
template <>
struct WhenAny<void> {
  std::size_t index = 0;
};

namespace detail {

template <class T>
using ValueSlot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// Runs one operation of when_all and stores its value in `slot`.
template <class A>
Task<void> when_all_child(A op, std::optional<VariantSlot<await_result_t<A>>>* slot) {
  if constexpr (std::is_void_v<await_result_t<A>>) {
    co_await std::move(op);
    slot->emplace();
  } else {
    slot->emplace(co_await std::move(op));
  }
}

// A child that was cancelled by something other than the scope (its own timeout turned into
// Cancelled, say) leaves its slot empty: the set as a whole did not complete.
template <class Slot>
Slot take_slot(std::optional<Slot>& slot) {
  if (!slot) throw Cancelled("when_all: an operation was cancelled");
  return std::move(*slot);
}

template <class T>
struct WhenAnyState {
  std::atomic<bool> won{false};  // the first finisher exchanges it to true
  // Written once, by the winner, before the scope's wait for its children completes; read by the
  // owner after that wait (the wait group's completion orders the two).
  std::size_t index = 0;
  std::optional<VariantSlot<T>> value;
  std::exception_ptr error;
};

template <class T>
Task<void> when_any_child(Task<T> task, std::size_t index, WhenAnyState<T>* state, const Scope* scope) {
  std::optional<VariantSlot<T>> value;
  std::exception_ptr error;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      value.emplace();
    } else {
      value.emplace(co_await std::move(task));
    }
  } catch (const Cancelled&) {
    if (scope->token().is_cancelled()) co_return;  // a loser, or the owner was cancelled
    error = std::current_exception();
  } catch (...) {
    error = std::current_exception();
  }
  // acq_rel: only one finisher sees false; the later ones write nothing.
  if (!state->won.exchange(true, std::memory_order_acq_rel)) {
    state->index = index;
    state->value = std::move(value);
    state->error = std::move(error);
    scope->cancel();  // the losers
  }
}

}  // namespace detail

// when_all(a, b, ...)
//
// Runs every awaitable concurrently, each as a child task. Returns a tuple of their values, in
// argument order (std::monostate for those that yield void).
// Throws: the first failure (after the others have been cancelled and have unwound); Cancelled if
// the caller was cancelled, or if an operation ended in Cancelled of its own.
// Allocation: a scope and one task per operation.
template <Awaitable... As>
Task<std::tuple<detail::VariantSlot<await_result_t<As>>...>> when_all(As... ops) {
  static_assert(sizeof...(As) >= 1, "when_all() needs at least one operation");
  std::tuple<std::optional<detail::VariantSlot<await_result_t<As>>>...> slots;
  std::tuple<As...> pending(std::move(ops)...);
  co_await scope([&](Scope& s) -> Task<void> {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (s.spawn(detail::when_all_child(std::move(std::get<I>(pending)), &std::get<I>(slots)),
               {.name = "when_all child"}),
       ...);
    }
    (std::index_sequence_for<As...>{});
    co_return;
  });
  co_return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::tuple<detail::VariantSlot<await_result_t<As>>...>(detail::take_slot(std::get<I>(slots))...);
  }
  (std::index_sequence_for<As...>{});
}

// when_all(tasks)
//
// Runs every task concurrently. Returns their values in input order (nothing for T = void).
// Throws: as when_all(a, b, ...). All tasks start at once: to bound how many run at a time, use
// map_concurrent.
template <class T>
auto when_all(std::vector<Task<T>> tasks) -> Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
  std::vector<std::optional<detail::VariantSlot<T>>> slots(tasks.size());
  co_await scope([&](Scope& s) -> Task<void> {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      s.spawn(detail::when_all_child(std::move(tasks[i]), &slots[i]), {.name = "when_all child"});
    }
    co_return;
  });
  if constexpr (std::is_void_v<T>) {
    for (auto& slot : slots) detail::take_slot(slot);
  } else {
    std::vector<T> out;
    out.reserve(slots.size());
    for (auto& slot : slots) out.push_back(detail::take_slot(slot));
    co_return out;
  }
}

// when_any(a, b, ...)
//
// Runs every awaitable concurrently; the first to finish wins and the others are cancelled (and
// awaited while they unwind). Returns a std::variant whose index() names the winner. This is
// select() (core/select.hpp) under the name of its fan-in role: a single awaitable such as a
// channel recv must win before it takes anything, so a losing recv loses no message.
// Throws: the winner's exception, if the first to finish failed; Cancelled if the caller was.
template <Awaitable... As>
Task<std::variant<detail::VariantSlot<await_result_t<As>>...>> when_any(As... ops) {
  co_return co_await select(std::move(ops)...);
}

// when_any(tasks)
//
// Runs every task concurrently; the first to finish (with a value or an exception) wins, the rest
// are cancelled and awaited. Returns the winner's index and value.
// Throws: the winner's exception; Error if `tasks` is empty; Cancelled if the caller was cancelled.
template <class T>
Task<WhenAny<T>> when_any(std::vector<Task<T>> tasks) {
  if (tasks.empty()) throw Error("when_any() of no tasks");
  detail::WhenAnyState<T> state;
  co_await scope([&](Scope& s) -> Task<void> {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      s.spawn(detail::when_any_child(std::move(tasks[i]), i, &state, &s), {.name = "when_any child"});
    }
    co_return;
  });
  if (!state.won.load(std::memory_order_acquire)) throw Cancelled("when_any: every operation was cancelled");
  if (state.error) std::rethrow_exception(state.error);
  if constexpr (std::is_void_v<T>) {
    co_return WhenAny<void>{state.index};
  } else {
    co_return WhenAny<T>{state.index, std::move(*state.value)};
  }
}

}  // namespace tether
