// tether/core/select.hpp
//
// select(a, b, ...): waits for the first of several awaitables to complete, returns which one won
// and its value, and cancels the rest (and waits for them to unwind, so nothing outlives the call).
//
//   auto r = co_await tether::select(rx.recv(), tether::sleep(100ms));
//   if (r.index() == 0) handle(std::get<0>(r));   // a message
//   else                 on_idle();               // the sleep won
//
// The result is a std::variant with one alternative per argument, in order (std::monostate for
// awaitables that yield void); index() names the winner. If the winner threw, select rethrows it.
//
// No value is lost to the race: each argument that is a single tether awaitable (a channel recv, a
// lock, a join, a sleep, a token) runs as a branch that must win the select before it may take
// anything; a recv that loses leaves its message in the channel (waiter.hpp rule 4). A branch that
// is a Task<T> wins when it completes; what it did before that is its own (wrap only cancel-safe
// work in a Task branch).
//
// When to use something else: timeout() for "this or a deadline"; when_any() (patterns) for a set
// of equal tasks.
//
// Thread safety: n/a (acts on the calling task); branches run as child tasks on the same runtime.
// Cancellation: as its branches: Cancel-safe: nothing was consumed, when every branch is.
// Allocation: a scope node and one task per branch.
#pragma once

#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "tether/core/cancellation_token.hpp"
#include "tether/core/concepts.hpp"
#include "tether/core/detail/event.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace detail {

template <class T>
struct IsTask : std::false_type {};
template <class T>
struct IsTask<Task<T>> : std::true_type {};

template <class T>
using VariantSlot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

struct SelectShared {
  SelectGroup group;
  OneShotEvent done;
};

template <class A>
Task<await_result_t<A>> select_branch(A op, SelectShared* shared, int index) {
  // A Task branch wins when it completes; a single-awaitable branch won when it was notified, and
  // try_win() then just confirms it. Either way the holder of the win signals the select, and that
  // is the last thing a branch does with `shared`.
  try {
    if constexpr (std::is_void_v<await_result_t<A>>) {
      co_await std::move(op);
      if (shared->group.try_win(index)) shared->done.set();
    } else {
      auto value = co_await std::move(op);
      if (shared->group.try_win(index)) shared->done.set();
      co_return value;
    }
  } catch (...) {
    if (shared->group.try_win(index)) shared->done.set();
    throw;
  }
}

template <std::size_t I, class Handles, class Result>
Task<void> select_collect(Handles& handles, int winner, Result& out, std::exception_ptr& error) {
  if constexpr (I < std::tuple_size_v<Handles>) {
    auto& h = std::get<I>(handles);
    try {
      if (static_cast<int>(I) == winner) {
        if constexpr (std::is_void_v<decltype(h.cell()->result().take())>) {
          co_await h;
          out.emplace(std::in_place_index<I>);
        } else {
          out.emplace(std::in_place_index<I>, co_await h);
        }
      } else {
        co_await h;  // a loser: unwinding from its cancellation
      }
    } catch (const Cancelled&) {
      if (static_cast<int>(I) == winner) error = std::current_exception();
    } catch (...) {
      if (static_cast<int>(I) == winner) {
        error = std::current_exception();
      } else {
        current_task()->core()->log_error("select: a losing branch failed while being cancelled");
      }
    }
    co_await select_collect<I + 1>(handles, winner, out, error);
  }
}

}  // namespace detail

template <Awaitable... As>
Task<std::variant<detail::VariantSlot<await_result_t<As>>...>> select(As... ops) {
  static_assert(sizeof...(As) >= 1, "select() needs at least one awaitable");
  using Result = std::variant<detail::VariantSlot<await_result_t<As>>...>;
  detail::TaskHeader* self = detail::require_task("select()");
  detail::RuntimeCore* core = self->core();
  detail::SelectShared shared;
  auto* scope = new detail::ScopeState(self->scope, false);
  CancellationToken branches = CancellationToken::adopt(scope);
  SpawnOptions opts{.name = "select branch", .token = &branches};

  auto spawn_all = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::make_tuple(JoinHandle<await_result_t<As>>(detail::spawn_cell(
        core, detail::select_branch(std::move(ops), &shared, static_cast<int>(I)), opts,
        std::source_location::current(), detail::IsTask<As>::value ? nullptr : &shared.group, static_cast<int>(I)))...);
  };
  auto handles = spawn_all(std::index_sequence_for<As...>{});

  bool cancelled = false;
  try {
    co_await shared.done.wait();
  } catch (const Cancelled&) {
    cancelled = true;
  }
  branches.cancel();  // the losers (or everyone, if we were cancelled)
  std::optional<Result> out;
  std::exception_ptr error;
  // Branches must finish before `shared` goes away, even while this task is being cancelled.
  co_await shield(detail::select_collect<0>(handles, cancelled ? -1 : shared.group.winner(), out, error));
  if (cancelled) throw Cancelled();
  if (error) std::rethrow_exception(error);
  co_return std::move(*out);
}

}  // namespace tether
