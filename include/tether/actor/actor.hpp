// tether/actor/actor.hpp
//
// Actors: a task that owns its state and handles messages from a bounded mailbox one at a time.
// This header spawns an actor on its own; a Supervisor (supervisor.hpp) spawns actors that are
// restarted when they fail. The behaviour contract (Message type, handlers, hooks) is in
// behavior.hpp; talking to an actor is ActorRef (actor_ref.hpp).
//
//   spawn_actor<B>(options, factory)   start an actor; returns its ActorHandle
//   ActorHandle<Msg>                   the owner's handle: ref(), stop(mode), cancel(), join()
//
//   struct Counter {
//     using Message = std::variant<Add, Get>;
//     std::int64_t total = 0;
//     void handle(Add& m) { total += m.n; }
//     void handle(Get& m) { m.reply.send(total); }
//   };
//   auto counter = tether::spawn_actor<Counter>({.name = "counter", .mailbox = 256});
//   co_await counter.ref().tell(Add{5});
//   auto n = co_await counter.ref().ask(Get{}, tether::Deadline::after(1s));
//   counter.stop(tether::StopMode::kDrain);
//   co_await counter.join();
//
// When should an actor be supervised? When a failure of its handler should not end it: an
// unsupervised actor that fails stops for good (its queued messages go to the dead-letter sink;
// join() rethrows the failure, and a failure nobody joins is logged at error level by the
// runtime, with the actor's name). Under a Supervisor it is restarted with fresh state and keeps
// its mailbox.
//
// Actors are tasks of the runtime: named after the actor, cancellable (cancel(), or cancelling the
// spawner's token), listed in task dumps, and cancelled by Runtime::shutdown() like every task,
// even one stuck in a handler (its next suspension throws Cancelled).
//
// Thread safety: spawn_actor() is thread-safe (inside a runtime); ActorHandle is thread-compatible
//   (move-only), but stop() and ref() may be called from any thread while the owner awaits join().
// Example: examples/actor/bank.cpp
#pragma once

#include <concepts>
#include <exception>
#include <functional>
#include <memory>
#include <source_location>
#include <utility>

#include "tether/actor/actor_ref.hpp"
#include "tether/actor/behavior.hpp"
#include "tether/actor/detail/actor_slot.hpp"
#include "tether/actor/options.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/error.hpp"
#include "tether/core/join_handle.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/task.hpp"

namespace tether {

// tether::ActorHandle<Msg>
//
// Lifetime: holds a reference to the mailbox (like an ActorRef), so the actor does not stop
//   merely because every other ActorRef is gone; dropping the handle lets the actor run on.
//
// ActorHandle::stop()
//
// Asks the actor to stop: its mailbox closes at once (tells fail with the message handed back),
// the message in hand is finished, then the queued ones are handled (kDrain) or dead-lettered
// (kDiscard). Never waits; join() waits for the end.
//
// ActorHandle::join()
//
// Waits until the actor has stopped. Throws: the handler's exception if the actor failed;
// tether::Cancelled if the actor was cancelled or the caller is.
// Cancellation: Cancel-safe: nothing was consumed.
template <class Msg>
class ActorHandle {
 public:
  ActorHandle(ActorRef<Msg> ref, std::shared_ptr<detail::ChildSlot> slot, JoinHandle<void> task)
      : ref_(std::move(ref)), slot_(std::move(slot)), task_(std::move(task)) {}
  ActorHandle(ActorHandle&&) noexcept = default;
  ActorHandle& operator=(ActorHandle&&) noexcept = default;
  ActorHandle(const ActorHandle&) = delete;
  ActorHandle& operator=(const ActorHandle&) = delete;

  const ActorRef<Msg>& ref() const noexcept { return ref_; }
  void stop(StopMode mode) noexcept { slot_->request_stop(mode); }
  // Cancels the actor's task: it stops at its next suspension; queued messages are destroyed.
  void cancel() { task_.abort(); }
  [[nodiscard]] Task<void> join() { co_await task_; }

 private:
  ActorRef<Msg> ref_;
  std::shared_ptr<detail::ChildSlot> slot_;
  JoinHandle<void> task_;
};

namespace detail {

// Makes the mailbox, the slot and the first ActorRef of a new actor.
template <ActorBehavior B>
std::pair<std::shared_ptr<ActorSlot<B>>, ActorRef<actor_message_t<B>>> make_actor(ActorOptions options,
                                                                                  std::function<B()> factory) {
  if (options.mailbox == 0) throw Error("actor '" + options.name + "': mailbox capacity must be at least 1");
  auto [tx, rx] = mpsc::channel<actor_message_t<B>>(options.mailbox);
  auto slot =
      std::make_shared<ActorSlot<B>>(options.name, std::move(factory), std::move(rx), std::move(options.dead_letters));
  return {std::move(slot), ActorRef<actor_message_t<B>>(std::move(tx), std::move(options.name))};
}

template <ActorBehavior B>
Task<void> run_unsupervised(std::shared_ptr<ActorSlot<B>> slot) {
  std::exception_ptr failure;
  Task<void> life = slot->run_once();
  try {
    co_await std::move(life);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    slot->close_after_failure();
    std::rethrow_exception(failure);
  }
}

}  // namespace detail

// spawn_actor<B>(options, factory) / spawn_actor<B>(options)
//
// Starts an actor whose state is `factory()` (or a default-constructed B) on the current runtime,
// as a task named options.name. Returns its ActorHandle.
// Throws: tether::Error outside a runtime, or if options.mailbox is 0.
// Allocation: the mailbox (one block and its ring), the slot, the task.
template <ActorBehavior B, std::invocable F>
requires std::same_as<std::invoke_result_t<F>, B>
[[nodiscard]] ActorHandle<actor_message_t<B>> spawn_actor(ActorOptions options, F factory,
                                                          std::source_location loc = std::source_location::current()) {
  std::string name = options.name;
  auto [slot, ref] = detail::make_actor<B>(std::move(options), std::function<B()>(std::move(factory)));
  JoinHandle<void> task = spawn(detail::run_unsupervised<B>(slot), SpawnOptions{.name = name}, loc);
  return ActorHandle<actor_message_t<B>>(std::move(ref), std::move(slot), std::move(task));
}

template <ActorBehavior B>
requires std::default_initializable<B>
[[nodiscard]] ActorHandle<actor_message_t<B>> spawn_actor(ActorOptions options,
                                                          std::source_location loc = std::source_location::current()) {
  return spawn_actor<B>(
      std::move(options), [] { return B{}; }, loc);
}

}  // namespace tether
