// tether/actor/supervisor_options.hpp
//
// How a supervisor restarts its children.
//
//   RestartStrategy    which children restart when one fails
//   RestartIntensity   at most `max_restarts` restarts within `window`, else the supervisor fails
//   SupervisorOptions  name, strategy, intensity, dead-letter sink for its children
//
// Thread safety: plain values (thread-compatible).
// Example: examples/actor/bank.cpp
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tether/actor/dead_letter.hpp"

namespace tether {

// tether::RestartStrategy: which children a failure restarts. Children are ordered as they were
// added; siblings are stopped (cancelled: a message they were handling goes to the dead-letter
// sink) in reverse order and restarted in order. Every restarted child keeps its mailbox.
enum class RestartStrategy : std::uint8_t {
  kOneForOne,   // only the failed child: children are independent
  kOneForAll,   // every child: they only make sense together
  kRestForOne,  // the failed child and every child added after it: later ones depend on earlier
};

// tether::RestartIntensity: the supervisor restarts at most `max_restarts` times within any span
// of `window` (on the runtime's clock, so virtual-time tests are exact); the failure that would
// exceed it makes the supervisor stop every child and fail with SupervisorFailed, which its parent
// supervisor handles as a failure of one of its children (escalation). max_restarts = 0: the first
// failure escalates.
struct RestartIntensity {
  std::size_t max_restarts = 3;
  std::chrono::milliseconds window{5000};
};

struct SupervisorOptions {
  std::string name = "supervisor";  // in logs, task dumps and errors
  RestartStrategy strategy = RestartStrategy::kOneForOne;
  RestartIntensity intensity = {};
  // The sink of every child that has none of its own (nested supervisors included).
  DeadLetterSink dead_letters = {};
};

}  // namespace tether
