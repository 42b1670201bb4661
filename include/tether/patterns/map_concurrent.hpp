// tether/patterns/map_concurrent.hpp
//
// Bounded fan-out / fan-in over a container or an async source: run `fn` on every item with at
// most `limit` calls in flight.
//
//   map_concurrent(source, limit, fn)          results in input order; the first failure cancels
//                                              the rest and is rethrown
//   map_concurrent_settled(source, limit, fn)  every outcome (Settled<R>) in input order; a failure
//                                              cancels nothing
//   for_each_concurrent(source, limit, fn)     as map_concurrent, without results
//   Settled<T>                                 a value or the exception that replaced it
//
//   auto pages = co_await tether::map_concurrent(urls, 8, [&](const Url& u) { return fetch(u); });
//
// `source` is either a range (std::vector, a view, ...) or an async source: anything with a
// `recv()` that yields std::optional<T>, such as a tether mpsc or mpmc Receiver. Items are pulled
// only when a slot is free, so a channel source is never read ahead of the limit and a source of a
// million items holds at most `limit` of them at a time (map_concurrent's results are, of course,
// kept until it returns; use for_each_concurrent to keep nothing).
// `fn(item)` returns an awaitable (usually a Task<R>); it is called on the spawning task, and the
// awaitable runs as a child task. Items taken from a range are passed as the range's reference type
// (the range outlives the call); items taken from a receiver are moved into the child.
//
// When to use something else: a handful of different operations: when_all / when_any
// (when_all.hpp); several dependent stages with bounded queues between them: Pipeline
// (pipeline.hpp); work that must outlive the caller: a TaskTracker with a limit.
//
// Guidance enforced: bounded concurrency instead of a task per request (a limit is required and
// never exceeded); structured fan-out (no child outlives the call; the first failure cancels the
// siblings); errors are never dropped (rethrown, or kept in Settled).
//
// Thread safety: n/a (acts on the calling task); calls to fn's awaitables run on any worker.
// Cancellation: cancelling the caller cancels every call in flight and stops pulling items, then
//   throws Cancelled once they have unwound. An item already pulled from a receiver by a call that
//   is cancelled is lost with that call.
// Example: examples/patterns/crawler.cpp
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tether/core/concepts.hpp"
#include "tether/core/error.hpp"
#include "tether/core/select.hpp"  // detail::VariantSlot
#include "tether/core/task.hpp"
#include "tether/sync/semaphore.hpp"
#include "tether/task/scope.hpp"

namespace tether {

// AsyncSource<S>: something that yields items one at a time with `co_await s.recv()`, returning
// std::optional<Item> and nullopt at the end (the tether channel receivers).
template <class S>
concept AsyncSource = requires(S& s) {
  { s.recv() } -> Awaitable;
  typename await_result_t<decltype(std::declval<S&>().recv())>::value_type;
};

// tether::Settled<T>
//
// The outcome of one call in map_concurrent_settled(): a value, or the exception the call ended
// with. value() rethrows that exception.
//
// Thread safety: a plain value (thread-compatible).
template <class T>
class Settled {
  using Slot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  Settled() = default;
  static Settled success(Slot v) {
    Settled s;
    s.v_.template emplace<1>(std::move(v));
    return s;
  }
  static Settled failure(std::exception_ptr e) {
    Settled s;
    s.v_.template emplace<2>(std::move(e));
    return s;
  }

  bool ok() const noexcept { return v_.index() == 1; }
  bool failed() const noexcept { return v_.index() == 2; }
  explicit operator bool() const noexcept { return ok(); }

  // The value; rethrows the call's exception if it failed. REQUIRES: the call finished.
  decltype(auto) value() & {
    check();
    if constexpr (!std::is_void_v<T>) return (std::get<1>(v_));
  }
  decltype(auto) value() && {
    check();
    if constexpr (!std::is_void_v<T>) return std::move(std::get<1>(v_));
  }
  // The exception the call ended with; null if it succeeded.
  std::exception_ptr error() const noexcept { return failed() ? std::get<2>(v_) : nullptr; }

 private:
  void check() const {
    if (failed()) std::rethrow_exception(std::get<2>(v_));
    if (!ok()) throw Error("Settled::value() of a call that did not finish");
  }
  std::variant<std::monostate, Slot, std::exception_ptr> v_;
};

namespace detail {

template <class S>
struct SourceTraits;  // Item: what a child receives; Result<Fn>: what fn's awaitable yields

template <class S>
requires AsyncSource<S>
struct SourceTraits<S> {
  using Item = typename await_result_t<decltype(std::declval<S&>().recv())>::value_type;
};

template <class S>
requires(!AsyncSource<S> && std::ranges::input_range<S>) struct SourceTraits<S> {
  using Item = std::ranges::range_reference_t<S>;
};

template <class S, class Fn>
using MapResult = await_result_t<std::invoke_result_t<Fn&, typename SourceTraits<std::remove_reference_t<S>>::Item&>>;

// A slot of the limit. The semaphore is shared so that it outlives a child frame that is destroyed
// after the scope's wait group has already let the owner go (an aborted child's parameters are
// destroyed after its membership); member order releases the permit first.
struct Lease {
  std::shared_ptr<sync::Semaphore> sem;
  sync::Semaphore::Permit permit;
  Lease(std::shared_ptr<sync::Semaphore> s, sync::Semaphore::Permit p) noexcept
      : sem(std::move(s)), permit(std::move(p)) {}
  Lease(Lease&&) noexcept = default;
  Lease& operator=(Lease&& o) noexcept {
    if (this != &o) {
      permit.reset();  // back to our semaphore while `sem` still holds it
      permit = std::move(o.permit);
      sem = std::move(o.sem);
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { permit.reset(); }
};

enum class Collect { kNothing, kValues, kSettled };

// Where a child puts its outcome: a slot that stays put while the driver appends more (std::deque
// never moves its elements on push_back).
template <class T>
using ValueSlot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

template <class R, Collect C>
struct Outcomes {
  using Slot = std::conditional_t<C == Collect::kSettled, Settled<R>, std::optional<VariantSlot<R>>>;
  std::deque<Slot> slots;  // the driver appends; each child writes only its own element
};
template <class R>
struct Outcomes<R, Collect::kNothing> {
  using Slot = std::monostate;
};

template <Collect C, class Fn, class Item, class R>
Task<void> concurrent_child(Fn* fn, Item item, typename Outcomes<R, C>::Slot* slot, Lease lease) {
  Lease held = std::move(lease);  // a local: released as soon as the call ends
  if constexpr (C == Collect::kSettled) {
    try {
      if constexpr (std::is_void_v<R>) {
        co_await std::invoke(*fn, item);
        *slot = Settled<R>::success({});
      } else {
        *slot = Settled<R>::success(co_await std::invoke(*fn, item));
      }
    } catch (const Cancelled&) {
      throw;  // the caller was cancelled: not an outcome of the call
    } catch (...) {
      *slot = Settled<R>::failure(std::current_exception());
    }
  } else if constexpr (C == Collect::kValues && !std::is_void_v<R>) {
    slot->emplace(co_await std::invoke(*fn, item));
  } else {
    co_await std::invoke(*fn, item);
    if constexpr (C == Collect::kValues) slot->emplace();
  }
}

// The driver: pulls an item only once a slot of the limit is free, then starts its call.
// `Src` is `S&` for an lvalue source and `S` (owned by this frame) for an rvalue one.
template <Collect C, class Src, class Fn>
auto run_concurrent(Src source, std::size_t limit, Fn fn)
    -> Task<std::conditional_t<C == Collect::kNothing, std::monostate, Outcomes<MapResult<Src, Fn>, C>>> {
  using S = std::remove_reference_t<Src>;
  using Item = typename SourceTraits<S>::Item;
  using R = MapResult<Src, Fn>;
  using Out = Outcomes<R, C>;
  if (limit == 0) throw Error("concurrency limit must be at least 1");
  auto sem = std::make_shared<sync::Semaphore>(limit);
  Out out;
  co_await scope([&](Scope& s) -> Task<void> {
    auto start = [&] {
      typename Out::Slot* slot = nullptr;
      if constexpr (C != Collect::kNothing) slot = &out.slots.emplace_back();
      return slot;
    };
    if constexpr (AsyncSource<S>) {
      for (;;) {
        auto permit = co_await sem->acquire();
        auto item = co_await source.recv();
        if (!item) break;
        auto* slot = start();
        s.spawn(concurrent_child<C, Fn, Item, R>(&fn, std::move(*item), slot, Lease(sem, std::move(permit))),
                {.name = "concurrent call"});
      }
    } else {
      for (auto&& item : source) {
        auto permit = co_await sem->acquire();
        auto* slot = start();
        s.spawn(concurrent_child<C, Fn, Item, R>(&fn, std::forward<decltype(item)>(item), slot,
                                                 Lease(sem, std::move(permit))),
                {.name = "concurrent call"});
      }
    }
  });
  if constexpr (C == Collect::kNothing) {
    co_return std::monostate{};
  } else {
    co_return out;
  }
}

}  // namespace detail

// map_concurrent()
//
// Calls `fn(item)` for every item of `source`, with at most `limit` calls in flight. Returns the
// results in input order (a std::vector<R>; nothing when fn's awaitable yields void).
// Throws: the first failure, after cancelling the calls in flight and waiting for them to unwind
// (no further items are pulled); Error if limit is 0; Cancelled if the caller was cancelled.
// REQUIRES: an lvalue source outlives the call (an rvalue one is moved into it).
template <class Source, class Fn>
auto map_concurrent(Source&& source, std::size_t limit, Fn fn)
    -> Task<std::conditional_t<std::is_void_v<detail::MapResult<Source, Fn>>, void,
                               std::vector<detail::MapResult<Source, Fn>>>> {
  using R = detail::MapResult<Source, Fn>;
  auto out = co_await detail::run_concurrent<detail::Collect::kValues, Source>(std::forward<Source>(source), limit,
                                                                               std::move(fn));
  if constexpr (!std::is_void_v<R>) {
    std::vector<R> values;
    values.reserve(out.slots.size());
    for (auto& slot : out.slots) {
      if (!slot) throw Cancelled("map_concurrent: a call was cancelled");
      values.push_back(std::move(*slot));
    }
    co_return values;
  }
}

// map_concurrent_settled()
//
// As map_concurrent(), but a failing call cancels nothing: every item is processed and every
// outcome returned, in input order, as Settled<R>.
// Throws: Error if limit is 0; Cancelled if the caller was cancelled (then the calls in flight are
// cancelled and awaited). Pulling from the source may throw; that ends the call like a failure.
template <class Source, class Fn>
auto map_concurrent_settled(Source&& source, std::size_t limit, Fn fn)
    -> Task<std::vector<Settled<detail::MapResult<Source, Fn>>>> {
  auto out = co_await detail::run_concurrent<detail::Collect::kSettled, Source>(std::forward<Source>(source), limit,
                                                                                std::move(fn));
  co_return std::vector<Settled<detail::MapResult<Source, Fn>>>(std::make_move_iterator(out.slots.begin()),
                                                                std::make_move_iterator(out.slots.end()));
}

// for_each_concurrent()
//
// Calls `fn(item)` for every item of `source`, with at most `limit` calls in flight; keeps no
// results, so a long channel source runs in constant memory.
// Throws: as map_concurrent().
template <class Source, class Fn>
Task<void> for_each_concurrent(Source&& source, std::size_t limit, Fn fn) {
  co_await detail::run_concurrent<detail::Collect::kNothing, Source>(std::forward<Source>(source), limit,
                                                                     std::move(fn));
}

}  // namespace tether
