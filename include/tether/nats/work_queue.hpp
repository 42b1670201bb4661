// tether/nats/work_queue.hpp
//
// A distributed bounded work queue on NATS JetStream: producers in any process send with a
// deadline and a message id; consumers in any process share one durable pull consumer, receive
// with explicit acknowledgement, and hold at most `max_ack_pending` messages in flight.
//
//   WorkQueueOptions  stream, subject, replicas, capacity, durable consumer, ack wait, in-flight bound
//   WorkQueue         opens (creates if needed) the stream and the durable consumer; makes the ends
//   Producer          send(data, msg_id, deadline): stored once even when retried; backpressure
//   Consumer          recv() / fetch(): Deliveries; close() ends recv()
//   Delivery          one message: data, msg_id, delivery count; ack(), nak(delay), term()
//   QueueInfo         what the servers report: messages stored, in flight, the stream's leader
//
// Guarantees: at-least-once. A message whose send() returned was stored on a quorum of the
// stream's replicas and is delivered until a consumer acks it (or it is term()ed). After a
// failover, or when an ack is lost, a message can be delivered again: Delivery::msg_id() is the
// producer's id and delivery_count() > 1 marks a redelivery, so handlers make their effect
// idempotent (docs/nats.md, "Duplicates").
//
// Backpressure, end to end: the stream holds at most `capacity` messages (queued plus in flight;
// acked messages leave it, a work-queue retention policy). When it is full, send() retries
// until consumers make room or its deadline passes; consumers take at most `max_ack_pending`
// unacknowledged messages in all, so a slow consumer slows the producers instead of growing memory.
//
// Faults: while a stream or consumer elects a leader (several seconds on a 3-node cluster) the
// operations fail with Unavailable; send() and the Consumer retry within the caller's deadline
// (tether::retry with jittered backoff), so callers see TimedOut only when the deadline passes.
//
// When to use something else: messages that may be lost: Connection::publish / subscribe; one
// process only: a tether mpsc/mpmc channel.
//
// Example: nats/examples/distributed_pipeline.cpp; the guide is docs/nats.md.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tether/core/task.hpp"
#include "tether/nats/connection.hpp"
#include "tether/patterns/circuit_breaker.hpp"
#include "tether/time/deadline.hpp"

namespace tether::nats {

namespace detail {
struct QueueState;
struct ConsumerState;
}  // namespace detail

struct WorkQueueOptions {
  std::string stream = {};          // JetStream stream name, e.g. "JOBS"
  std::string subject = {};         // the subject producers publish to, e.g. "jobs.work"
  int replicas = 1;                 // 3 on a 3-node cluster: survives the loss of one node
  std::int64_t capacity = 10000;    // messages the stream holds at most (queued + unacknowledged)
  bool memory_storage = false;      // file storage survives a server restart; memory is faster
  std::string durable = "workers";  // the durable pull consumer all processes share
  // Unacknowledged messages allowed across all consumers: the in-flight bound.
  std::int64_t max_ack_pending = 64;
  // A delivered message not acked within this is delivered again (to any consumer).
  std::chrono::milliseconds ack_wait{5000};
  // Deliveries before the server gives up on a message (-1: no limit).
  std::int64_t max_deliver = -1;
  // Window in which a repeated msg_id is recognised and stored once.
  std::chrono::milliseconds duplicate_window{120'000};
  // Optional: a breaker that every send() attempt of this queue's producers goes through (share
  // one per cluster). While it is open, attempts fail fast with CircuitOpen, retried like
  // Unavailable within the caller's deadline, instead of loading a cluster that is electing.
  std::shared_ptr<CircuitBreaker> breaker = {};
};

// What Producer::send() reports.
struct PublishAck {
  std::uint64_t sequence = 0;  // the stream sequence the message was stored at
  bool duplicate = false;      // true: this msg_id was already stored (a retried send)
};

// What the servers report about a queue (WorkQueue::info()).
struct QueueInfo {
  std::uint64_t messages = 0;     // stored in the stream (queued + unacknowledged)
  std::int64_t ack_pending = 0;   // delivered, not yet acknowledged
  std::uint64_t num_pending = 0;  // not yet delivered
  std::string stream_leader;      // server name of the stream's leader (empty on a single node)
  std::string consumer_leader;    // server name of the consumer's leader
};

struct ConsumerOptions {
  // Messages fetched per round trip (also capped by max_ack_pending).
  int batch = 16;
  // How long one fetch waits on the server for messages before asking again.
  std::chrono::milliseconds poll{500};
};

class Consumer;

// tether::nats::Delivery
//
// One delivered message. Ack it once its work is done; if it is dropped unacked, the server
// delivers it again after ack_wait.
//
// Thread safety: thread-compatible (move-only).
// Lifetime: keeps its consumer's subscription alive.
//
// Delivery::ack() / nak(delay) / term()
//
// ack(): done, the stream drops it. nak(delay): deliver it again after `delay` (zero: at once).
// term(): never deliver it again. A second call on the same Delivery is an Error.
// Throws: NatsError if the connection is closed; Cancelled.
// Cancellation: Not cancel-safe: the acknowledgement may or may not have been sent; a lost ack
//   means a redelivery, never a loss.
class Delivery {
 public:
  Delivery(Delivery&&) noexcept;
  Delivery& operator=(Delivery&&) noexcept;
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  ~Delivery();

  // The payload; empty once the delivery was acked, naked or termed.
  std::string_view data() const noexcept;
  // The producer's message id (empty if it sent none).
  const std::string& msg_id() const noexcept { return msg_id_; }
  // 1 on first delivery; more after a nak, an ack timeout or a failover.
  std::uint64_t delivery_count() const noexcept { return delivered_; }
  std::uint64_t stream_sequence() const noexcept { return stream_seq_; }

  [[nodiscard]] Task<void> ack();
  [[nodiscard]] Task<void> nak(std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  [[nodiscard]] Task<void> term();

 private:
  friend class Consumer;
  Delivery(natsMsg* msg, std::shared_ptr<detail::ConsumerState> consumer);
  enum class Verdict { kAck, kNak, kTerm };
  Task<void> settle(Verdict v, std::chrono::milliseconds delay);

  natsMsg* msg_ = nullptr;
  std::shared_ptr<detail::ConsumerState> consumer_;
  std::string msg_id_;
  std::uint64_t delivered_ = 0;
  std::uint64_t stream_seq_ = 0;
};

// tether::nats::Consumer
//
// One process's handle on the queue's durable pull consumer. Several Consumers (in one process or
// many) share the messages; each message goes to one of them at a time.
//
// Thread safety: confined to one task at a time (recv/fetch); close() and stats() from anywhere.
// Lifetime: movable handle; Deliveries keep the underlying subscription alive.
//
// Consumer::recv()
//
// Waits for the next message, fetching a batch when its buffer is empty; retries through leader
// elections and reconnects. Returns: std::optional<Delivery>; nullopt after close(). Makes it an
// async source, so tether::for_each_concurrent(consumer, limit, fn) works on it directly (see
// for_each.hpp for the version that acks and naks for you). Throws: NatsError if the connection
// is closed; Cancelled.
// Cancellation: Not cancel-safe: messages being fetched by the cancelled call are not handed out
//   and are delivered again after ack_wait.
//
// Consumer::fetch(max, deadline)
//
// Takes up to `max` messages (buffered first), waiting until at least one arrives or `deadline`.
// Returns: the messages, empty if none came in time or the consumer is closed. Throws and
// Cancellation: as recv().
//
// Consumer::close()
//
// Ends recv() (it returns nullopt once the fetch in progress, at most `poll`, returns). Buffered
// messages are released unacked (delivered again after ack_wait). Never waits.
class Consumer {
 public:
  Consumer(Consumer&&) noexcept = default;
  Consumer& operator=(Consumer&&) noexcept = default;
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  ~Consumer();

  [[nodiscard]] Task<std::optional<Delivery>> recv();
  [[nodiscard]] Task<std::vector<Delivery>> fetch(std::size_t max, Deadline deadline);
  void close() noexcept;

  struct Stats {
    std::uint64_t delivered = 0;  // messages handed out
    std::uint64_t acked = 0;
    std::uint64_t naked = 0;
    std::uint64_t faults = 0;  // fetches that failed with a retryable fault
  };
  Stats stats() const noexcept;

 private:
  friend class WorkQueue;
  explicit Consumer(std::shared_ptr<detail::ConsumerState> state) : state_(std::move(state)) {}
  Task<void> refill(Deadline deadline);
  std::shared_ptr<detail::ConsumerState> state_;
};

// tether::nats::Producer
//
// Sends to the queue. Copies are cheap and share the connection.
//
// Thread safety: thread-safe.
//
// Producer::send(data, msg_id, deadline)
//
// Publishes and waits for JetStream's acknowledgement (the message is then stored on a quorum).
// Retries Unavailable (leader election, reconnect), QueueFull (backpressure) and, with a breaker,
// CircuitOpen, with jittered backoff until `deadline`; the server stores a retried message once,
// by `msg_id` (give every logical message a unique id; empty: no deduplication).
// Returns: PublishAck | Throws: TimedOut("nats send") when the deadline passes first; NatsError
// for a fault that a retry cannot cure; Cancelled.
// Cancellation: Not cancel-safe: the message may have been stored; send it again with the same
//   msg_id to be sure, and it is stored once.
class Producer {
 public:
  [[nodiscard]] Task<PublishAck> send(std::string data, std::string msg_id, Deadline deadline) const;

 private:
  friend class WorkQueue;
  explicit Producer(std::shared_ptr<detail::QueueState> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::QueueState> state_;
};

// tether::nats::WorkQueue
//
// A handle on one stream and its durable consumer.
//
// Thread safety: thread-safe.
//
// WorkQueue::open(connection, options, deadline)
//
// Creates the stream and the durable consumer if they do not exist (an existing one is used as it
// is), retrying Unavailable until `deadline` (a new cluster needs a moment to elect its leaders).
// Throws: TimedOut("nats open work queue"); NatsError for a refused configuration; Cancelled.
// Cancellation: Not cancel-safe: the stream may have been created.
//
// WorkQueue::consumer(options)
//
// Binds a Consumer to the durable consumer. Throws: NatsError; Cancelled.
// Cancellation: Not cancel-safe: a binding made by the cancelled call is released.
//
// WorkQueue::info(deadline)
//
// Asks the servers for the queue's counters and leaders. Throws: Unavailable, TimedOut, Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
class WorkQueue {
 public:
  // Not a coroutine itself: GCC 12 mishandles a braced option struct passed straight to one.
  [[nodiscard]] static Task<WorkQueue> open(Connection connection, WorkQueueOptions options, Deadline deadline) {
    return open_impl(std::move(connection), std::make_shared<const WorkQueueOptions>(std::move(options)), deadline);
  }

  Producer producer() const { return Producer(state_); }
  [[nodiscard]] Task<Consumer> consumer(ConsumerOptions options = {}) const;
  [[nodiscard]] Task<QueueInfo> info(Deadline deadline) const;
  const WorkQueueOptions& options() const noexcept;

 private:
  explicit WorkQueue(std::shared_ptr<detail::QueueState> state) : state_(std::move(state)) {}
  static Task<WorkQueue> open_impl(Connection connection, std::shared_ptr<const WorkQueueOptions> options,
                                   Deadline deadline);
  std::shared_ptr<detail::QueueState> state_;
};

}  // namespace tether::nats
