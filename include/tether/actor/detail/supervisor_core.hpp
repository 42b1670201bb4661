// Internal; not part of the public API.
//
// SupervisorCore: the supervisor's state and its life (run(), in src/actor/supervisor.cpp);
// SupervisorSlot: a supervisor seen as the child of another one. The protocol of run() is written
// at the top of src/actor/supervisor.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tether/actor/dead_letter.hpp"
#include "tether/actor/detail/child_slot.hpp"
#include "tether/actor/options.hpp"
#include "tether/actor/supervisor_options.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/task.hpp"

namespace tether::detail {

class SupervisorCore {
 public:
  explicit SupervisorCore(SupervisorOptions options);
  SupervisorCore(const SupervisorCore&) = delete;
  SupervisorCore& operator=(const SupervisorCore&) = delete;

  // REQUIRES: not started (children_ is constant once run() has begun).
  void add_child(std::shared_ptr<ChildSlot> child);
  // One life of the supervisor: starts every child, restarts them by the strategy, returns when
  // every child has stopped; throws SupervisorFailed when the restart intensity is exceeded, and
  // Cancelled when cancelled (in both cases only after every child's life has ended).
  Task<void> run();
  // Stops every child for good (thread-safe); run() then returns once they have.
  void request_stop(StopMode mode) noexcept;
  // Gives children without a sink of their own (and nested supervisors) this one.
  void inherit_dead_letters(const DeadLetterSink& sink);

  const std::string& name() const noexcept { return options_.name; }
  const DeadLetterSink& dead_letters() const noexcept { return options_.dead_letters; }
  bool started() const noexcept { return started_.load(std::memory_order_acquire); }
  void mark_started() noexcept { started_.store(true, std::memory_order_release); }

 private:
  // Constant after construction, except dead_letters (set before the start)
  SupervisorOptions options_;
  // Constant once started
  std::vector<std::shared_ptr<ChildSlot>> children_;
  // Atomic: set once, never cleared. release/acquire: what request_stop() did (closing the
  // children's mailboxes) is visible to run() when it sees the flag.
  Atomic<bool> stop_requested_{false};
  Atomic<bool> started_{false};
};

class SupervisorSlot final : public ChildSlot {
 public:
  explicit SupervisorSlot(std::shared_ptr<SupervisorCore> core) : ChildSlot(core->name()), core_(std::move(core)) {}
  Task<void> run_once() override;
  void request_stop(StopMode mode) noexcept override { core_->request_stop(mode); }
  void inherit_dead_letters(const DeadLetterSink& sink) override { core_->inherit_dead_letters(sink); }

 private:
  std::shared_ptr<SupervisorCore> core_;
};

}  // namespace tether::detail
