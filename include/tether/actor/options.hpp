// tether/actor/options.hpp
//
// How an actor is configured and how it stops.
//
//   ActorOptions   name, mailbox capacity (required), dead-letter sink
//   StopMode       kDrain (handle what is queued, then stop) or kDiscard (stop after the message
//                  in hand; queued messages go to the dead-letter sink)
//
// An actor is spawned on its own with spawn_actor() (actor.hpp) or as a child of a Supervisor
// (supervisor.hpp); both take these options.
//
// Thread safety: plain values (thread-compatible).
// Example: examples/actor/bank.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tether/actor/dead_letter.hpp"

namespace tether {

// tether::StopMode: what a stopping actor does with the messages still in its mailbox. Either way
// the mailbox closes first (new tells fail with the message handed back) and the message being
// handled is finished. There is no default: the caller says which.
enum class StopMode : std::uint8_t {
  kDrain,    // handle every message already queued, then stop
  kDiscard,  // stop now; queued messages go to the dead-letter sink with ActorStopped
};

// tether::ActorOptions
//
// `mailbox` is the most messages the actor queues: a sender waits in tell() (try_tell() reports
// Full) while it is full. It has no default because only the application knows how much work it is
// willing to queue; 0 is refused with tether::Error.
struct ActorOptions {
  std::string name = "actor";  // in logs, task dumps, errors and dead letters
  std::size_t mailbox = 0;     // capacity; required
  // Where messages the actor could not handle go. Empty: a supervised actor uses its
  // supervisor's sink; otherwise they are destroyed (the failure is still logged).
  DeadLetterSink dead_letters = {};
};

}  // namespace tether
