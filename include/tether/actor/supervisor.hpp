// tether/actor/supervisor.hpp
//
// Supervision: a supervisor owns child actors (and child supervisors), starts them, and restarts a
// child whose handler throws, with fresh state and its mailbox kept, so no queued message is lost.
// Past its restart intensity it gives up and escalates to its own parent.
//
//   Supervisor        builder: add<B>(options, factory) children, then start()
//   SupervisorHandle  the owner's handle: stop(mode), cancel(), join()
//   (the options: supervisor_options.hpp; the failure it escalates with: SupervisorFailed)
//
//   tether::Supervisor sup({.name = "bank", .strategy = tether::RestartStrategy::kOneForOne,
//                           .intensity = {.max_restarts = 3, .window = 10s}});
//   auto alice = sup.add<Account>({.name = "alice", .mailbox = 64}, [] { return Account{100}; });
//   auto running = sup.start();
//   ...
//   running.stop(tether::StopMode::kDrain);
//   co_await running.join();
//
// What a failure does, in order: the failing message goes to the dead-letter sink with the
// exception; the supervisor logs the failure and the restart at error level with the supervisor's
// and the children's names; the siblings the strategy names are cancelled (in reverse order) and
// awaited; then every affected child is started again, in order, with a fresh state from its
// factory. A child that stops on its own (its mailbox closed and drained) is not restarted; the
// supervisor ends when all its children have stopped.
//
// When to use something else: an actor whose failure should simply end it: spawn_actor()
// (actor.hpp); a group of plain tasks that fail together: a scope (tether/task/scope.hpp).
//
// Thread safety: Supervisor is thread-compatible (build it on one task); SupervisorHandle is
//   thread-compatible (move-only), but stop() may be called from any thread.
// Example: examples/actor/bank.cpp
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <source_location>
#include <utility>

#include "tether/actor/actor.hpp"
#include "tether/actor/actor_ref.hpp"
#include "tether/actor/behavior.hpp"
#include "tether/actor/detail/supervisor_core.hpp"
#include "tether/actor/options.hpp"
#include "tether/actor/supervisor_options.hpp"
#include "tether/core/error.hpp"
#include "tether/core/join_handle.hpp"
#include "tether/core/task.hpp"

namespace tether {

// tether::SupervisorHandle
//
// SupervisorHandle::stop()
//
// Stops every child for good (each as ActorHandle::stop(mode)); the supervisor ends when they have.
// Never waits.
//
// SupervisorHandle::join()
//
// Waits until the supervisor has ended. Throws: SupervisorFailed if it escalated; Cancelled if it
// was cancelled or the caller is.
// Cancellation: Cancel-safe: nothing was consumed.
class SupervisorHandle {
 public:
  SupervisorHandle(std::shared_ptr<detail::SupervisorCore> core, JoinHandle<void> task)
      : core_(std::move(core)), task_(std::move(task)) {}
  SupervisorHandle(SupervisorHandle&&) noexcept = default;
  SupervisorHandle& operator=(SupervisorHandle&&) noexcept = default;
  SupervisorHandle(const SupervisorHandle&) = delete;
  SupervisorHandle& operator=(const SupervisorHandle&) = delete;

  void stop(StopMode mode) noexcept { core_->request_stop(mode); }
  // Cancels the supervisor and, through its token, every child.
  void cancel() { task_.abort(); }
  [[nodiscard]] Task<void> join() { co_await task_; }
  const std::string& name() const noexcept { return core_->name(); }

 private:
  std::shared_ptr<detail::SupervisorCore> core_;
  JoinHandle<void> task_;
};

// tether::Supervisor
//
// Supervisor::add<B>(options, factory) / add<B>(options)
//
// Adds an actor child whose every life starts from `factory()` (or a default-constructed B).
// Returns its ActorRef, usable at once (messages queue until the supervisor starts).
// Throws: Error if the supervisor was started, or options.mailbox is 0.
//
// Supervisor::add(child)
//
// Adds a child supervisor: its escalation is a failure of one child of this one.
// Throws: Error if either was started.
//
// Supervisor::start()
//
// Spawns the supervisor on the current runtime, as a task named after it; its children are its
// child tasks, each named after its actor. Returns its handle. Throws: Error outside a runtime.
class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options)
      : core_(std::make_shared<detail::SupervisorCore>(std::move(options))) {}
  Supervisor(Supervisor&&) noexcept = default;
  Supervisor& operator=(Supervisor&&) noexcept = default;
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  template <ActorBehavior B, std::invocable F>
  requires std::same_as<std::invoke_result_t<F>, B> ActorRef<actor_message_t<B>> add(ActorOptions options, F factory) {
    check_not_started();
    auto [slot, ref] = detail::make_actor<B>(std::move(options), std::function<B()>(std::move(factory)));
    slot->inherit_dead_letters(core_->dead_letters());
    core_->add_child(std::move(slot));
    return ref;
  }
  template <ActorBehavior B>
  requires std::default_initializable<B> ActorRef<actor_message_t<B>> add(ActorOptions options) {
    return add<B>(std::move(options), [] { return B{}; });
  }
  void add(Supervisor child) {
    check_not_started();
    child.check_not_started();
    child.core_->mark_started();  // it runs as our child now, never on its own
    auto slot = std::make_shared<detail::SupervisorSlot>(child.core_);
    slot->inherit_dead_letters(core_->dead_letters());
    core_->add_child(std::move(slot));
  }

  [[nodiscard]] SupervisorHandle start(std::source_location loc = std::source_location::current());

  const std::string& name() const noexcept { return core_->name(); }

 private:
  void check_not_started() const;
  std::shared_ptr<detail::SupervisorCore> core_;
};

}  // namespace tether
