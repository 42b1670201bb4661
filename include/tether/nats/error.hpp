// tether/nats/error.hpp
//
// The failures of tether's NATS component, named so that callers can tell a fault worth retrying
// (a JetStream leader election, a node that went away, a full work queue) from one that is not.
//
//   NatsError      any failure reported by the NATS client or server: libnats status, JetStream code
//   Unavailable    retryable: no leader, no JetStream yet, connection down, no acknowledgement in time
//   QueueFull      retryable: the work queue's stream is at capacity (backpressure from consumers)
//   is_retryable() the predicate for RetryPolicy::retryable
//   RequestError   request() outcome that is normal flow: nobody listens on the subject
//
// Deadlines that pass surface as tether::TimedOut, cancellation as tether::Cancelled, as everywhere
// in tether. The operations that take a deadline retry Unavailable and QueueFull themselves until
// it passes, so most callers never see them.
//
// When to use something else: outcomes of local channels are in tether/channel/error.hpp.
//
// Thread safety: plain values (thread-compatible).
// Example: nats/examples/distributed_pipeline.cpp
#pragma once

#include <exception>
#include <string>

#include "tether/core/error.hpp"

namespace tether::nats {

// tether::nats::NatsError
//
// A failure reported by libnats (`status()`, a natsStatus value) or by the JetStream API
// (`jetstream_code()`, e.g. 10077 "storing a message failed"; 0 when none).
//
// Thread safety: thread-compatible.
class NatsError : public Error {
 public:
  NatsError(const std::string& what, int status, int jetstream_code = 0)
      : Error(what), status_(status), jetstream_code_(jetstream_code) {}
  int status() const noexcept { return status_; }
  int jetstream_code() const noexcept { return jetstream_code_; }

 private:
  int status_;
  int jetstream_code_;
};

// tether::nats::Unavailable
//
// The cluster cannot take the operation right now but is expected to soon: a stream or consumer
// is electing a leader (publishes fail for several seconds; the server may even answer "JetStream
// not enabled", code 10076), the connection is reconnecting, or an acknowledgement did not come in
// time. Retryable.
class Unavailable : public NatsError {
 public:
  using NatsError::NatsError;
};

// tether::nats::QueueFull
//
// The work queue's stream holds `capacity` messages: consumers are behind. Retryable: a producer
// that retries is held back until consumers acknowledge (backpressure across processes).
class QueueFull : public NatsError {
 public:
  using NatsError::NatsError;
};

// True for Unavailable and QueueFull: the faults a retry within the caller's deadline may cure.
inline bool is_retryable(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const Unavailable&) {
    return true;
  } catch (const QueueFull&) {
    return true;
  } catch (...) {
    return false;
  }
}

// tether::nats::RequestError
//
// The normal-flow failure of Connection::request(): kNoResponders, reported at once by the server
// when nobody subscribes to the subject (a timeout is tether::TimedOut instead).
struct RequestError {
  enum Kind { kNoResponders };
  Kind kind = kNoResponders;
  std::string subject;
};

}  // namespace tether::nats
