// tether/actor/dead_letter.hpp
//
// Dead letters: messages an actor took from its mailbox but could not handle. The sink receives
// the message that made a handler throw, together with the exception; also a message interrupted
// because a supervisor stopped the actor mid-handler (error: Cancelled), and the messages dropped
// by a StopMode::kDiscard stop (error: ActorStopped). So every message sent to an actor is either
// handled or seen here: none vanishes silently.
//
//   DeadLetter       one message, its actor's name and the error; message<M>() gives it typed
//   DeadLetterSink   std::function<void(DeadLetter&)>, set in ActorOptions / SupervisorOptions
//
// When to use something else: the failure itself is also logged at error level (and restarts are
// logged by the supervisor); the sink is for the message, e.g. to retry it or to count losses.
//
// Thread safety: DeadLetter is confined to the sink call; the sink is called from the actors'
//   tasks on any worker, concurrently for different actors: it must be thread-safe, and short
//   (it runs on the actor's task, between messages).
// Example: tests/actor/supervisor_test.cpp
#pragma once

#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <typeinfo>

#include "tether/core/error.hpp"

namespace tether {

// tether::DeadLetter
//
// Lifetime: valid only during the sink call; message<M>() points into the actor's frame. Move the
//   message out of it if you want to keep it.
class DeadLetter {
 public:
  template <class M>
  DeadLetter(std::string_view actor, std::exception_ptr error, M& message) noexcept
      : actor_(actor), error_(std::move(error)), message_(&message), type_(&typeid(M)) {}

  // The name of the actor that could not handle the message.
  std::string_view actor() const noexcept { return actor_; }
  // Why: the handler's exception, Cancelled, or ActorStopped.
  const std::exception_ptr& error() const noexcept { return error_; }
  // The error's what(), or "unknown exception".
  std::string reason() const { return detail::exception_message(error_); }
  // The message, if it is an M (the actor's Message type), else null.
  template <class M>
  M* message() noexcept {
    return *type_ == typeid(M) ? static_cast<M*>(message_) : nullptr;
  }

 private:
  std::string_view actor_;
  std::exception_ptr error_;
  void* message_;
  const std::type_info* type_;
};

using DeadLetterSink = std::function<void(DeadLetter&)>;

}  // namespace tether
