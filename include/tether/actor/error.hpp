// tether/actor/error.hpp
//
// The failures of actor operations, each a tether::Error with a short lowercase message that names
// the actor. Outcomes that are normal flow (a full mailbox for try_tell, a closed one for tell) are
// values instead: the channel outcomes of tether/channel/error.hpp, which hand the message back.
//
//   ActorStopped      ask() on an actor whose mailbox is closed (stopped, failed, or shut down)
//   NoReply           ask(): the actor dropped the request's Reply without answering
//   SupervisorFailed  a supervisor gave up: its children failed more often than its restart
//                     intensity allows; thrown to whoever awaits it (its parent supervisor, or
//                     the owner of its SupervisorHandle)
//
// When to use something else: a deadline that passes in ask() throws tether::TimedOut, and a
// cancelled caller tether::Cancelled, as everywhere in tether.
//
// Thread safety: plain exception values (thread-compatible).
// Example: examples/actor/bank.cpp
#pragma once

#include <string>

#include "tether/core/error.hpp"

namespace tether {

// tether::ActorStopped: the actor no longer takes messages (its mailbox is closed).
class ActorStopped : public Error {
 public:
  explicit ActorStopped(const std::string& actor) : Error("actor stopped: " + actor) {}
};

// tether::NoReply: the actor handled (or discarded) the request without sending its reply: the
// Reply was destroyed unsent, e.g. because the handler threw or the actor stopped with the request
// still in its mailbox. Never a hang: the asker learns at once.
class NoReply : public Error {
 public:
  explicit NoReply(const std::string& actor) : Error("actor dropped the reply: " + actor) {}
};

// tether::SupervisorFailed: a supervisor exceeded its restart intensity and escalated.
class SupervisorFailed : public Error {
 public:
  explicit SupervisorFailed(const std::string& what) : Error(what) {}
};

}  // namespace tether
