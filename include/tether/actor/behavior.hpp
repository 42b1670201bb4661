// tether/actor/behavior.hpp
//
// What an actor is made of: a behaviour class that owns the actor's state and handles its messages.
// The actor runs it on one task, one message at a time, so the state needs no lock; it is reachable
// only through messages.
//
//   ActorBehavior<B>   the concept a behaviour satisfies (checked when the actor is spawned)
//   actor_message_t<B> its message type, B::Message
//
// A behaviour B:
//   - names its message type: `using Message = std::variant<Deposit, Withdraw, GetBalance>;` (or any
//     one movable type);
//   - handles it: either one `handle(Message&)`, or, for a std::variant, one `handle(Alt&)` per
//     alternative (overloads; a missing one is a compile error naming ActorBehavior). Every handler
//     returns void (it cannot suspend: the fast path) or Task<void> (it may await); all handlers of
//     one behaviour return the same. A handler takes the message by reference: if it throws, the
//     message goes to the dead-letter sink with the exception;
//   - may have lifecycle hooks, each optional and synchronous (so that no hook can hold up a stop
//     or a runtime shutdown):
//       void started();                  after the state is made, before the first message
//       void stopping(tether::StopMode); once, when the actor notices a stop request
//       void stopped();                  when this life ends, however it ends (stop, failure,
//                                        cancellation), just before the state is destroyed
//     Under a supervisor every restart makes a fresh B (from the factory) and calls started()
//     again.
//
// When to use something else: for state shared by many tasks on a hot read path, Shared<T> or a
// Mutex<T> (tether/sync/) is cheaper than a message round trip; for a one-way stream of work with
// no state, an mpsc channel and a task.
//
// Thread safety: a behaviour is confined to its actor's task (it is never touched concurrently).
// Example: examples/actor/bank.cpp
#pragma once

#include <concepts>
#include <type_traits>
#include <variant>

#include "tether/actor/options.hpp"
#include "tether/core/task.hpp"

namespace tether {

namespace detail {

template <class B, class M>
concept HandlesOne = requires(B& b, M& m) {
  b.handle(m);
};

template <class R>
concept HandlerResult = std::same_as<R, void> || std::same_as<R, Task<void>>;

// Which way B handles M: one handler for the whole message, or one per variant alternative.
template <class B, class M>
struct Handlers {
  static constexpr bool kWhole = HandlesOne<B, M>;
  static constexpr bool kPerAlternative = false;
};
template <class B, class... Ts>
struct Handlers<B, std::variant<Ts...>> {
  static constexpr bool kWhole = HandlesOne<B, std::variant<Ts...>>;
  static constexpr bool kPerAlternative = !kWhole && (HandlesOne<B, Ts> && ...);
};

template <class B, class M>
struct HandlerReturn {
  using type = decltype(std::declval<B&>().handle(std::declval<M&>()));
};
template <class B, class T0, class... Ts>
requires(!HandlesOne<B, std::variant<T0, Ts...>>) struct HandlerReturn<B, std::variant<T0, Ts...>> {
  using type = decltype(std::declval<B&>().handle(std::declval<T0&>()));
  static_assert((std::is_same_v<type, decltype(std::declval<B&>().handle(std::declval<Ts&>()))> && ...),
                "every handle() of one actor behaviour must return the same type (void or Task<void>)");
};

}  // namespace detail

template <class B>
using actor_message_t = typename B::Message;

template <class B>
concept ActorBehavior = requires {
  typename B::Message;
}
&&std::is_move_constructible_v<typename B::Message> &&
    (detail::Handlers<B, typename B::Message>::kWhole || detail::Handlers<B, typename B::Message>::kPerAlternative) &&
    detail::HandlerResult<typename detail::HandlerReturn<B, typename B::Message>::type>;

namespace detail {

// True when B's handlers return void: the actor calls them without a coroutine frame.
template <ActorBehavior B>
inline constexpr bool kSyncHandlers = std::is_void_v<typename HandlerReturn<B, typename B::Message>::type>;

// Calls the right handler of `b` for `m`; returns what it returns (void or Task<void>).
template <ActorBehavior B>
decltype(auto) dispatch(B& b, typename B::Message& m) {
  if constexpr (Handlers<B, typename B::Message>::kWhole) {
    return b.handle(m);
  } else {
    using R = typename HandlerReturn<B, typename B::Message>::type;
    return std::visit([&b](auto& alt) -> R { return b.handle(alt); }, m);
  }
}

template <class B>
void hook_started(B& b) {
  if constexpr (requires { b.started(); }) b.started();
}
template <class B>
void hook_stopping(B& b, StopMode mode) {
  if constexpr (requires { b.stopping(mode); }) b.stopping(mode);
}
template <class B>
void hook_stopped(B& b) {
  if constexpr (requires { b.stopped(); }) b.stopped();
}

}  // namespace detail

}  // namespace tether
