// Internal; not part of the public API.
//
// ActorSlot<B>: one actor, as its supervisor (or spawn_actor) sees it: the mailbox's receiving half,
// the factory that makes fresh state, the dead-letter sink and the stop request. run_once() is one
// life: make the state, handle messages one at a time, end.
//
// Protocol (numbers continue child_slot.hpp's):
//  4. stop_ moves kRunning -> kDrain -> kDiscard, never back (a discard may overtake a drain). It is
//     written by request_stop() on any thread, then the mailbox is closed; the actor's task reads
//     it before each message (acquire, pairs with the release in request_stop), so a life started
//     after the request sees it at once.
//  5. Closing the mailbox from another thread is safe: Receiver::close() only reads the receiver's
//     channel pointer (set once, never changed while the slot lives) and closes the channel under
//     the channel's lock, which wakes a receiver waiting on an empty mailbox with "closed".
//  6. A life that is cancelled while waiting for a message loses nothing (recv is cancel-safe):
//     the queued messages stay for the next life. A message whose handler is interrupted by the
//     cancellation goes to the dead-letter sink with Cancelled; a message whose handler throws goes
//     there with the exception. Every message is so handled, dead-lettered, or still queued.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <utility>

#include "tether/actor/behavior.hpp"
#include "tether/actor/dead_letter.hpp"
#include "tether/actor/detail/child_slot.hpp"
#include "tether/actor/error.hpp"
#include "tether/actor/options.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/cancellation_token.hpp"
#include "tether/core/detail/sync_shim.hpp"
#include "tether/core/error.hpp"
#include "tether/core/task.hpp"

namespace tether::detail {

// Constructs a B straight from the factory's prvalue (no move needed), through std::optional's
// emplace: the conversion function's result initialises the optional's B directly.
template <class B>
struct MakeFrom {
  const std::function<B()>& factory;
  operator B() const { return factory(); }  // NOLINT(google-explicit-constructor)
};

template <ActorBehavior B>
class ActorSlot final : public ChildSlot {
 public:
  using Msg = typename B::Message;

  ActorSlot(std::string name, std::function<B()> factory, mpsc::Receiver<Msg> mailbox, DeadLetterSink sink)
      : ChildSlot(std::move(name)), factory_(std::move(factory)), sink_(std::move(sink)), rx_(std::move(mailbox)) {}

  Task<void> run_once() override {
    std::optional<B> state;
    state.emplace(MakeFrom<B>{factory_});
    hook_started(*state);
    bool told_stopping = false;
    bool cancelled = false;
    std::exception_ptr failure;
    for (;;) {
      // Rule 4. acquire: pairs with the release in request_stop().
      std::uint8_t stop = stop_.load(std::memory_order_acquire);
      if (stop != kRunning && !told_stopping) {
        told_stopping = true;
        hook_stopping(*state, stop == kDiscard ? StopMode::kDiscard : StopMode::kDrain);
      }
      if (stop == kDiscard) break;
      std::optional<Msg> msg;
      try {
        msg = co_await rx_.recv();
      } catch (const Cancelled&) {
        cancelled = true;  // rule 6: nothing consumed
      }
      if (cancelled || !msg) break;
      try {
        if constexpr (kSyncHandlers<B>) {
          dispatch(*state, *msg);
        } else {
          Task<void> handling = dispatch(*state, *msg);
          co_await std::move(handling);
        }
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        dead_letter(*msg, failure);
        break;
      }
    }
    if (failure && is_cancellation(failure)) failure = nullptr;  // interrupted, not failed (rule 6)
    if (const std::uint8_t stop = stop_.load(std::memory_order_acquire); stop != kRunning && !told_stopping) {
      // The stop closed an empty mailbox while the actor waited for a message.
      hook_stopping(*state, stop == kDiscard ? StopMode::kDiscard : StopMode::kDrain);
    }
    if (!failure && !cancelled && stop_.load(std::memory_order_acquire) == kDiscard) discard_queued();
    hook_stopped(*state);
    state.reset();
    if (failure) std::rethrow_exception(failure);
  }

  void request_stop(StopMode mode) noexcept override {
    std::uint8_t want = mode == StopMode::kDiscard ? kDiscard : kDrain;
    std::uint8_t cur = stop_.load(std::memory_order_relaxed);
    // release: pairs with the acquire in run_once(); rule 4: only ever upwards.
    while (cur < want &&
           !stop_.compare_exchange_weak(cur, want, std::memory_order_release, std::memory_order_relaxed)) {
    }
    rx_.close();  // rule 5
  }

  void inherit_dead_letters(const DeadLetterSink& sink) override {
    if (!sink_) sink_ = sink;
  }

  // After a failed life of an unsupervised actor: refuse new messages, hand the queued ones to the
  // dead-letter sink (nobody will restart the actor to handle them).
  void close_after_failure() {
    stop_.store(kDiscard, std::memory_order_release);
    rx_.close();
    discard_queued();
  }

 private:
  static constexpr std::uint8_t kRunning = 0;
  static constexpr std::uint8_t kDrain = 1;
  static constexpr std::uint8_t kDiscard = 2;

  // A Cancelled thrown because this task was cancelled (a stop from the supervisor, or shutdown),
  // as opposed to a handler's own failure that happens to be a Cancelled from elsewhere.
  static bool is_cancellation(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const Cancelled&) {
      return CancellationToken::current().is_cancelled();
    } catch (...) {
      return false;
    }
  }

  void dead_letter(Msg& m, const std::exception_ptr& error) noexcept {
    if (!sink_) return;
    DeadLetter letter(name(), error, m);
    try {
      sink_(letter);
    } catch (...) {
      // A sink that throws must not take the actor down with it; the message is gone either way.
    }
  }

  void discard_queued() {
    std::exception_ptr stopped = std::make_exception_ptr(ActorStopped(name()));
    for (;;) {
      auto m = rx_.try_recv();
      if (!m) break;
      dead_letter(*m, stopped);
    }
  }

  // Constant after construction (the sink may be inherited once, before the first life)
  std::function<B()> factory_;
  DeadLetterSink sink_;
  // Access: only by the one life in flight (child_slot.hpp rule 1), except close() (rule 5)
  mpsc::Receiver<Msg> rx_;
  // Atomic: see rule 4
  Atomic<std::uint8_t> stop_{kRunning};
};

}  // namespace tether::detail
