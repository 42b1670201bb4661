// Internal; not part of the public API.
//
// The shared states behind tether::nats handles, and the one place that turns a libnats status
// into a tether exception (classify()), so every operation names its faults the same way.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "tether/nats/connection.hpp"
#include "tether/nats/error.hpp"
#include "tether/time/deadline.hpp"

namespace tether::nats::detail {

struct ConnectionState {
  // Constant after construction.
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  ConnectOptions options;

  ConnectionState() = default;
  ConnectionState(const ConnectionState&) = delete;
  ConnectionState& operator=(const ConnectionState&) = delete;
  ~ConnectionState();
};

// Throws the tether exception that names `s` (with the JetStream code `jerr`, 0 if none), for the
// operation `what`. Must run on the thread that made the failing libnats call: libnats keeps the
// error text per thread.
[[noreturn]] void throw_status(natsStatus s, int jerr, const std::string& what);

// Milliseconds left before `d`, at least 1 (libnats treats 0 as "no wait" or "forever").
std::int64_t remaining_ms(Deadline d, std::chrono::milliseconds cap);

}  // namespace tether::nats::detail
