// tether/actor/reply.hpp
//
// Reply<R>: the answer half of an ask(). A request message carries one as its `reply` member;
// ActorRef::ask() fills it in, the actor's handler calls reply.send(value). It is a thin wrapper
// over a oneshot sender, so a reply the actor drops (handler threw, actor stopped) reaches the
// asker at once as tether::NoReply instead of a hang.
//
//   Reply<R>   move-only; send(value) once
//
//   struct GetBalance { tether::Reply<std::int64_t> reply; };        // a request message
//   void handle(GetBalance& m) { m.reply.send(balance_); }           // in the actor
//   auto b = co_await account.ask(GetBalance{}, Deadline::after(100ms));  // the asker
//
// When to use something else: a message that needs no answer carries no Reply and is sent with
// tell(); a stream of answers is an mpsc::Sender inside the message.
//
// Thread safety: thread-compatible (move-only; one owner), may be sent from any task or thread.
// Example: examples/actor/bank.cpp
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "tether/channel/oneshot.hpp"

namespace tether {

// tether::Reply<R>
//
// Lifetime: empty when default-constructed (a request built by the caller before ask() fills it);
//   destroying a filled Reply without send() tells the asker NoReply.
//
// Reply::send(value)
//
// Delivers the answer; never waits. Returns: true if the asker received it, false if the asker
// is gone (its deadline passed) or the Reply is empty. REQUIRES: not sent before.
// Allocation: never allocates.
template <class R>
class Reply {
 public:
  using value_type = R;

  Reply() noexcept = default;
  explicit Reply(oneshot::Sender<R> tx) noexcept : tx_(std::move(tx)) {}
  Reply(Reply&&) noexcept = default;
  Reply& operator=(Reply&&) noexcept = default;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  bool send(R value) {
    if (!tx_) return false;
    auto sent = tx_->send(std::move(value));
    tx_.reset();
    return sent.has_value();
  }
  // True while there is an asker to answer (filled and not yet sent).
  bool valid() const noexcept { return tx_.has_value(); }

 private:
  std::optional<oneshot::Sender<R>> tx_;
};

namespace detail {
template <class T>
struct IsReply : std::false_type {};
template <class R>
struct IsReply<Reply<R>> : std::true_type {};
}  // namespace detail

// A request message for ask(): a type with a `reply` member of type Reply<R>.
template <class Req>
concept AskRequest = requires(Req& r) {
  r.reply;
}
&&detail::IsReply<std::remove_cvref_t<decltype(Req::reply)>>::value;

// The R of a request's Reply<R>.
template <AskRequest Req>
using reply_type_t = typename std::remove_cvref_t<decltype(Req::reply)>::value_type;

}  // namespace tether
