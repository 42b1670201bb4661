// tether/actor/actor_ref.hpp
//
// ActorRef<Msg>: the handle through which everyone talks to an actor. It is cheap to copy (one
// reference count) and is the only way to reach the actor's state.
//
//   ActorRef<Msg>   tell (waits for room), try_tell (never waits), ask (request/reply with a
//                   required deadline), name, is_closed
//
// Which call should you use?
//   - tell(m): one-way; waits while the mailbox is full (backpressure holds a fast sender back);
//   - try_tell(m): one-way from code that must not wait (or is not a task): Full or Closed is a
//     value, with the message handed back;
//   - ask(req, deadline): you need an answer; the request carries a Reply<R> (reply.hpp). There is
//     no ask without a deadline: say Deadline::never() out loud if you mean it.
//
//   co_await account.tell(Deposit{50});
//   std::int64_t b = co_await account.ask(GetBalance{}, tether::Deadline::after(100ms));
//
// Lifetime: the mailbox stays open while any ActorRef (or the actor's owner) holds it; when the last
//   ActorRef is gone the actor handles what is queued and stops. An ActorRef never keeps a stopped
//   actor's state alive.
// Thread safety: thread-safe: copies may be used from any task or thread concurrently (try_tell
//   also from threads outside the runtime); one ActorRef object is thread-compatible (do not assign
//   to it while another thread uses it).
// Memory ordering: everything the sender did before tell(m) is visible to the actor's handler of m;
//   everything the handler did before reply.send(v) is visible to the asker after ask returns v.
// Example: examples/actor/bank.cpp
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "tether/actor/error.hpp"
#include "tether/actor/reply.hpp"
#include "tether/channel/error.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/task.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/timeout.hpp"

namespace tether {

namespace detail {
// What every copy of one ActorRef shares: the mailbox's sending half and the actor's name.
template <class Msg>
struct RefState {
  mpsc::Sender<Msg> tx;
  std::string name;
};
}  // namespace detail

// tether::ActorRef<Msg>
//
// ActorRef::tell()
//
// Waits for room in the mailbox, then enqueues `msg`.
// Returns: Expected<void, SendError<Msg>>: the error, holding the message, if the actor has stopped.
// Throws: tether::Cancelled.
// Cancellation: Not cancel-safe: the message is destroyed and was not sent; use try_tell() in a
//   retry loop to keep it. Cancelling also loses this call's place in the FIFO wait queue.
// Allocation: never allocates.
//
// ActorRef::try_tell()
//
// Enqueues `msg` if there is room now; never waits, callable from any thread.
// Returns: Expected<void, TrySendError<Msg>>: kFull or kClosed, holding the message.
//
// ActorRef::ask()
//
// Fills in request.reply, sends the request (waiting for room until the deadline) and waits for
// the answer until the same deadline.
// Returns: the R of the request's Reply<R>.
// Throws: tether::TimedOut ("timed out: ask <actor>") when the deadline passes first, whether the
//   mailbox stayed full or the actor did not answer in time; ActorStopped if the mailbox is closed;
//   NoReply if the actor dropped the Reply without answering (its handler threw, or it stopped with
//   the request queued); tether::Cancelled.
// Cancellation: Not cancel-safe: the request may have been delivered, and the actor may still act
//   on it; the answer is then dropped.
// Allocation: the reply channel, the coroutine frame and, unless Deadline::never(), one timeout
//   scope.
template <class Msg>
class ActorRef {
 public:
  ActorRef(mpsc::Sender<Msg> tx, std::string name)
      : s_(std::make_shared<detail::RefState<Msg>>(detail::RefState<Msg>{std::move(tx), std::move(name)})) {}

  [[nodiscard]] auto tell(Msg msg) const { return s_->tx.send(std::move(msg)); }

  Expected<void, TrySendError<Msg>> try_tell(Msg msg) const { return s_->tx.try_send(std::move(msg)); }

  template <AskRequest Req>
  requires std::is_constructible_v<Msg, Req&&>
  [[nodiscard]] Task<reply_type_t<Req>> ask(Req request, Deadline deadline) const {
    using R = reply_type_t<Req>;
    auto [reply_tx, reply_rx] = oneshot::channel<R>();
    request.reply = Reply<R>(std::move(reply_tx));
    auto sent = s_->tx.try_send(Msg(std::move(request)));
    if (!sent) {
      if (sent.error().is_closed()) throw ActorStopped(s_->name);
      // Full: wait for room, but only until the deadline.
      Msg again = std::move(sent.error()).into_value();
      Task<Expected<void, SendTimeoutError<Msg>>> sending = s_->tx.send_until(std::move(again), deadline);
      auto waited = co_await std::move(sending);
      if (!waited) {
        if (waited.error().is_closed()) throw ActorStopped(s_->name);
        throw TimedOut("ask " + s_->name);
      }
    }
    Expected<R, oneshot::RecvError> answer = Expected<R, oneshot::RecvError>::failure(oneshot::RecvError{});
    if (deadline.is_never()) {
      answer = co_await reply_rx.recv();
    } else {
      Task<Expected<R, oneshot::RecvError>> waiting = timeout_at(deadline, reply_rx.recv(), "ask " + s_->name);
      answer = co_await std::move(waiting);
    }
    if (!answer) throw NoReply(s_->name);
    co_return std::move(*answer);
  }

  const std::string& name() const noexcept { return s_->name; }
  // True once the actor has stopped taking messages.
  bool is_closed() const { return s_->tx.is_closed(); }

  friend bool operator==(const ActorRef& a, const ActorRef& b) noexcept { return a.s_ == b.s_; }

 private:
  std::shared_ptr<detail::RefState<Msg>> s_;
};

}  // namespace tether
