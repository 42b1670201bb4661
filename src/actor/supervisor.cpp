// The supervisor's life (SupervisorCore::run) and its handle plumbing.
//
// Protocol of run(). It owns, per child i, a Life: the child's current task, its own cancellation
// token (a child of the supervisor's, so cancelling the supervisor cancels every child), a
// generation number and the flags below. Only run() touches the Lives (they are its locals).
//  1. Every life of a child runs as its own task (named after the child) that ends by sending one
//     Event {index, generation, error} on `events`, from a coroutine parameter's destructor, so
//     even a task destroyed before it ever ran reports. The channel holds one slot per child and a
//     child has at most one life in flight, so that send never waits or fails.
//  2. A child's next life starts only after its previous life's event was received
//     (child_slot.hpp rule 1: one reader of a mailbox at a time).
//  3. On a failure event (error set, no stop requested): the restart is counted against the
//     intensity (timestamps on tether::Clock, pruned to the window). Over the limit: escalate
//     (rule 5). Otherwise every child the strategy names (skipping those already finished, but
//     always the failed one) is marked restart_pending, and those still running are cancelled.
//  4. When no restart_pending child is still running, all of them start again, in index order.
//  5. Escalation and cancellation: every running child is cancelled and their events awaited (in a
//     shield when the supervisor itself is cancelled, since its own waits would throw), so that no
//     life outlives the supervisor's life (rule 2 holds for the next life of a nested supervisor);
//     then run() throws SupervisorFailed or Cancelled.
//  6. An event without error (or after a stop request) marks the child finished: it is not
//     restarted. run() returns when no child is running and none is pending.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "tether/actor/supervisor.hpp"
#include "tether/core/cancellation_token.hpp"
#include "tether/core/detail/runtime_core.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/time/clock.hpp"

namespace tether {

namespace detail {

namespace {

struct Event {
  std::size_t index = 0;
  std::uint64_t generation = 0;
  std::exception_ptr error;
};

struct Life {
  std::optional<CancellationToken> token;
  std::optional<JoinHandle<void>> task;
  std::uint64_t generation = 0;
  bool running = false;
  bool restart_pending = false;
  bool finished = false;
};

const char* strategy_name(RestartStrategy s) noexcept {
  switch (s) {
    case RestartStrategy::kOneForOne:
      return "one-for-one";
    case RestartStrategy::kOneForAll:
      return "one-for-all";
    case RestartStrategy::kRestForOne:
      return "rest-for-one";
  }
  return "?";
}

spdlog::logger& logger() {
  TaskHeader* self = require_task("Supervisor");
  return self->core()->logger();
}

// Sends a life's Event when destroyed. A coroutine parameter, not a local: a task cancelled before
// it first runs may be destroyed without running its body, and must still report (rule 1). As a
// parameter it is destroyed after the body's locals, so after the life's own frame is gone.
class Reporter {
 public:
  Reporter(mpsc::Sender<Event> events, std::size_t index, std::uint64_t generation)
      : events_(std::move(events)), index_(index), generation_(generation) {}
  Reporter(Reporter&& o) noexcept
      : events_(std::move(o.events_)), index_(o.index_), generation_(o.generation_), error(std::move(o.error)) {
    o.events_.reset();
  }
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;
  ~Reporter() {
    if (events_) (void)events_->try_send(Event{index_, generation_, std::move(error)});  // rule 1: never full
  }

 private:
  std::optional<mpsc::Sender<Event>> events_;
  std::size_t index_;
  std::uint64_t generation_;

 public:
  std::exception_ptr error;  // the life's failure, if any
};

// One life of a child (rule 1).
Task<void> live(std::shared_ptr<ChildSlot> child, Reporter report) {
  Task<void> life = child->run_once();
  try {
    co_await std::move(life);
  } catch (...) {
    report.error = std::current_exception();
  }
}

// Receives events until `running` lives have reported; used once every running life is cancelled.
Task<void> await_lives(mpsc::Receiver<Event>& events, std::vector<Life>& lives, std::size_t running) {
  while (running > 0) {
    auto ev = co_await events.recv();
    if (!ev) break;
    Life& l = lives[ev->index];
    if (l.running && ev->generation == l.generation) {
      l.running = false;
      --running;
    }
  }
}

}  // namespace

SupervisorCore::SupervisorCore(SupervisorOptions options) : options_(std::move(options)) {}

void SupervisorCore::add_child(std::shared_ptr<ChildSlot> child) {
  if (started()) throw Error("supervisor '" + options_.name + "': add() after start()");
  children_.push_back(std::move(child));
}

void SupervisorCore::request_stop(StopMode mode) noexcept {
  for (auto& c : children_) c->request_stop(mode);
  // release: pairs with the acquire in run(); the mailboxes are closed by then.
  stop_requested_.store(true, std::memory_order_release);
}

void SupervisorCore::inherit_dead_letters(const DeadLetterSink& sink) {
  if (!options_.dead_letters) options_.dead_letters = sink;
  for (auto& c : children_) c->inherit_dead_letters(options_.dead_letters);
}

Task<void> SupervisorCore::run() {
  const std::size_t n = children_.size();
  auto [events_tx, events_rx] = mpsc::channel<Event>(std::max<std::size_t>(n, 1));
  std::vector<Life> lives(n);
  std::deque<Instant> restarts;  // rule 3: within the window
  CancellationToken scope = CancellationToken::current();
  std::size_t running = 0;

  auto start = [&](std::size_t i) {
    Life& l = lives[i];
    l.token.emplace(scope.child());
    ++l.generation;
    l.running = true;
    l.restart_pending = false;
    ++running;
    l.task.emplace(spawn(live(children_[i], Reporter(events_tx, i, l.generation)),
                         SpawnOptions{.name = children_[i]->name(), .token = &*l.token}));
  };
  auto cancel_running = [&] {
    for (std::size_t j = n; j-- > 0;) {
      if (lives[j].running) lives[j].token->cancel();
    }
  };

  for (std::size_t i = 0; i < n; ++i) start(i);

  std::optional<SupervisorFailed> escalation;
  bool cancelled = false;
  while (running > 0) {
    std::optional<Event> ev;
    try {
      ev = co_await events_rx.recv();
    } catch (const Cancelled&) {
      cancelled = true;
    }
    if (cancelled || !ev) break;
    const std::size_t i = ev->index;
    Life& l = lives[i];
    if (!l.running || ev->generation != l.generation) continue;  // cannot happen (rule 2)
    l.running = false;
    --running;
    // acquire: pairs with the release in request_stop().
    const bool stopping = stop_requested_.load(std::memory_order_acquire);
    if (l.restart_pending) {
      // Stopped by us for a restart (rule 3); restarted below (rule 4).
    } else if (!ev->error) {
      l.finished = true;  // rule 6
    } else if (stopping) {
      l.finished = true;
      logger().error("supervisor '{}': child '{}' failed while stopping: {}", options_.name, children_[i]->name(),
                     exception_message(ev->error));
    } else {
      const Instant now = Clock::now();
      while (!restarts.empty() && now - restarts.front() >= options_.intensity.window) restarts.pop_front();
      if (restarts.size() >= options_.intensity.max_restarts) {
        std::string msg = "supervisor '" + options_.name + "' gave up: child '" + children_[i]->name() + "' failed (" +
                          exception_message(ev->error) + ") after " + std::to_string(restarts.size()) +
                          " restarts within " + std::to_string(options_.intensity.window.count()) + " ms (limit " +
                          std::to_string(options_.intensity.max_restarts) + ")";
        logger().error("{}; escalating", msg);
        escalation.emplace(msg);
        break;
      }
      restarts.push_back(now);
      // Rule 3: the children the strategy names.
      std::size_t first = 0;
      std::size_t last = n;
      if (options_.strategy == RestartStrategy::kOneForOne) {
        first = i;
        last = i + 1;
      } else if (options_.strategy == RestartStrategy::kRestForOne) {
        first = i;
      }
      std::string names;
      for (std::size_t j = first; j < last; ++j) {
        if (j != i && lives[j].finished) continue;
        lives[j].restart_pending = true;
        if (!names.empty()) names += ", ";
        names += "'" + children_[j]->name() + "'";
      }
      logger().error("supervisor '{}': child '{}' failed: {}; restarting {} ({}, restart {} of {} within {} ms)",
                     options_.name, children_[i]->name(), exception_message(ev->error), names,
                     strategy_name(options_.strategy), restarts.size(), options_.intensity.max_restarts,
                     options_.intensity.window.count());
      for (std::size_t j = last; j-- > first;) {
        if (lives[j].restart_pending && lives[j].running) lives[j].token->cancel();
      }
    }
    // Rule 4.
    bool pending = false;
    bool pending_running = false;
    for (const Life& x : lives) {
      pending = pending || x.restart_pending;
      pending_running = pending_running || (x.restart_pending && x.running);
    }
    if (pending && !pending_running) {
      for (std::size_t j = 0; j < n; ++j) {
        if (!lives[j].restart_pending) continue;
        if (stop_requested_.load(std::memory_order_acquire)) {
          lives[j].restart_pending = false;
          lives[j].finished = true;
        } else {
          start(j);
        }
      }
    }
  }

  // Rule 5.
  if (escalation || cancelled) {
    cancel_running();
    Task<void> waiting = await_lives(events_rx, lives, running);
    if (cancelled) {
      Task<void> shielded = shield(std::move(waiting));
      co_await std::move(shielded);
      throw Cancelled();
    }
    co_await std::move(waiting);
    throw *escalation;
  }
}

Task<void> SupervisorSlot::run_once() {
  Task<void> life = core_->run();
  co_await std::move(life);
}

namespace {
Task<void> run_top(std::shared_ptr<SupervisorCore> core) {
  Task<void> life = core->run();
  co_await std::move(life);
}
}  // namespace

}  // namespace detail

void Supervisor::check_not_started() const {
  if (core_->started()) throw Error("supervisor '" + core_->name() + "' was already started");
}

SupervisorHandle Supervisor::start(std::source_location loc) {
  check_not_started();
  detail::RuntimeCore* rt = detail::require_runtime("Supervisor::start()");
  core_->mark_started();
  std::string name = core_->name();
  JoinHandle<void> task(detail::spawn_cell(rt, detail::run_top(core_), SpawnOptions{.name = name}, loc));
  return SupervisorHandle(core_, std::move(task));
}

}  // namespace tether
