// tether/core/concepts.hpp
//
// The concepts tether's generic functions are written against.
//
//   Awaitable<A>         can be co_awaited in a tether task: has await_ready/await_suspend/
//                        await_resume, or an operator co_await returning such an awaiter
//   await_result_t<A>    what `co_await a` yields
//
// Thread safety: compile-time only.
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

namespace tether {

namespace detail {

template <class A>
concept DirectAwaiter = requires(A& a, std::coroutine_handle<> h) {
  { a.await_ready() } -> std::convertible_to<bool>;
  a.await_suspend(h);
  a.await_resume();
};

template <class A>
concept HasMemberCoAwait = requires(A&& a) {
  { std::forward<A>(a).operator co_await() } -> DirectAwaiter;
};

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (HasMemberCoAwait<A>) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

}  // namespace detail

template <class A>
concept Awaitable = detail::DirectAwaiter<std::remove_reference_t<A>> || detail::HasMemberCoAwait<A>;

template <Awaitable A>
using await_result_t = decltype(detail::get_awaiter(std::declval<A>()).await_resume());

}  // namespace tether
