// Internal; not part of the public API.
//
// ChildSlot: what a supervisor knows of one child, whatever the child is (an actor of any message
// type, or a nested supervisor). The slot outlives every life of the child: it owns what must
// survive a restart (an actor's mailbox), while the state is made afresh by each run_once().
//
// Protocol (the supervisor's side is in src/actor/supervisor.cpp):
//  1. At most one run_once() of a slot is in flight: the supervisor starts the next life only after
//     the previous one has returned (it waits for that life's completion event). So the mailbox,
//     a move-only receiver, is never read by two tasks.
//  2. run_once() returns normally when the child stopped (mailbox closed and drained, a stop
//     requested, or its task cancelled) and throws the failure otherwise.
//  3. request_stop() may be called from any thread at any time; it is permanent (a later life
//     sees it at once).
#pragma once

#include <string>
#include <utility>

#include "tether/actor/options.hpp"
#include "tether/core/task.hpp"

namespace tether::detail {

class ChildSlot {
 public:
  explicit ChildSlot(std::string name) : name_(std::move(name)) {}
  virtual ~ChildSlot() = default;
  ChildSlot(const ChildSlot&) = delete;
  ChildSlot& operator=(const ChildSlot&) = delete;

  const std::string& name() const noexcept { return name_; }
  // One life of the child with fresh state (rule 2).
  virtual Task<void> run_once() = 0;
  // Stops the child for good (rule 3).
  virtual void request_stop(StopMode mode) noexcept = 0;
  // A supervised actor without a sink of its own uses its supervisor's. Called before the start.
  virtual void inherit_dead_letters(const DeadLetterSink& /*sink*/) {}

 private:
  const std::string name_;  // Constant after construction
};

}  // namespace tether::detail
