// tether/nats/connection.hpp
//
// A connection to a NATS server or cluster, used from tether tasks: publish, subscribe as a
// bounded channel, and request/reply with a deadline (an actor reachable by name across processes).
//
//   ConnectOptions    servers, reconnect policy, send-as-soon-as-possible (designated initialisers)
//   Connection        a shared handle: connect, publish, respond, request, subscribe, flush, close
//   Message           one core NATS message: subject, reply subject, payload
//   SubscribeOptions  queue group (load-balanced among subscribers) and the channel's capacity
//   Subscription      the receiving end: recv() like a tether mpsc Receiver
//
// How it stays off the async workers: every libnats call that can wait on the network runs on
// tether's blocking pool (spawn_blocking), bounded by the caller's deadline; libnats delivers
// subscribed messages on its own threads, and those threads only hand each message to a bounded
// tether channel with a non-blocking try_send: no user code ever runs on a libnats thread.
//
// Which API should you use?
//   - fire-and-forget events that may be lost when a consumer is slow: publish/subscribe (here);
//     core NATS drops messages for a slow consumer, and so does a full Subscription (dropped());
//   - work that must not be lost, with backpressure: WorkQueue (work_queue.hpp, JetStream);
//   - a call with an answer: request() here, served by a subscription that respond()s.
//
// Example: nats/examples/distributed_pipeline.cpp; the guide is docs/nats.md.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tether/channel/error.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/task.hpp"
#include "tether/nats/error.hpp"
#include "tether/time/deadline.hpp"

namespace tether::nats {

namespace detail {
struct ConnectionState;
}  // namespace detail

// Options of Connection::connect(). Every field has a sensible default except `servers`.
struct ConnectOptions {
  // "nats://127.0.0.1:4222"; several for a cluster (the client fails over among them).
  std::vector<std::string> servers = {};
  std::string name = "tether";
  // Bound of one TCP connect attempt; connect() retries until its deadline.
  std::chrono::milliseconds attempt_timeout{2000};
  // Pause between reconnect attempts after a connection is lost, and how many to make (-1: no end;
  // the operations still honour their own deadlines meanwhile).
  std::chrono::milliseconds reconnect_wait{100};
  int max_reconnects = -1;
  // What the client buffers while reconnecting; publishes beyond it fail (Unavailable).
  std::size_t reconnect_buffer_bytes = 8u << 20;
  // Write each message at once instead of coalescing: request latency drops from about 1 ms to
  // about 0.1 ms, at the cost of more system calls under heavy publishing.
  bool send_asap = true;
  // How long JetStream API calls (stream and consumer management) wait for an answer.
  std::chrono::milliseconds jetstream_wait{5000};
};

// One core NATS message. `reply` is empty unless the sender expects an answer (request()).
struct Message {
  std::string subject;
  std::string reply;
  std::string data;
};

struct SubscribeOptions {
  // Non-empty: the subscribers sharing this group each receive a share of the messages.
  std::string queue_group = {};
  // Messages buffered for recv(); beyond it new messages are dropped and counted (core NATS
  // semantics for a slow consumer). Use a WorkQueue when nothing may be lost.
  std::size_t capacity = 1024;
};

// tether::nats::Subscription
//
// The receiving end of a core NATS subscription: a bounded channel that libnats' delivery thread
// fills with try_send. Messages arrive in the order the server sent them.
//
// Thread safety: confined to one task at a time (move-only).
// Lifetime: destroying it unsubscribes; messages already buffered are destroyed. The channel is
//   closed (recv() returns nullopt) when the connection is closed.
//
// Subscription::recv()
//
// Waits for the next message. Returns: std::optional<Message>; nullopt once the subscription
// ended (connection closed). Throws: tether::Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
// Allocation: never allocates.
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();

  [[nodiscard]] auto recv() { return rx_.recv(); }
  // Messages dropped because the channel was full.
  std::uint64_t dropped() const noexcept;
  const std::string& subject() const noexcept { return subject_; }

 private:
  friend class Connection;
  Subscription(std::string subject, natsSubscription* sub, std::shared_ptr<std::atomic<std::uint64_t>> dropped,
               mpsc::Receiver<Message> rx);
  std::string subject_;
  natsSubscription* sub_ = nullptr;
  std::shared_ptr<std::atomic<std::uint64_t>> dropped_;
  mpsc::Receiver<Message> rx_;
};

// tether::nats::Connection
//
// A shared handle to one libnats connection (copies share it). The client reconnects on its own
// after a server goes away, failing over to the other servers of the cluster.
//
// Thread safety: thread-safe: copies may be used from any task concurrently.
// Lifetime: the connection lives until the last copy (and the last Subscription, WorkQueue,
//   Consumer or Delivery made from it) is gone; close() closes it earlier, off the workers. If it
//   was never closed, the last handle's destructor closes it without waiting for a flush.
// Example: nats/examples/distributed_pipeline.cpp
//
// Connection::connect(options, deadline)
//
// Connects, retrying until `deadline` while no server answers. Returns: the Connection |
// Throws: TimedOut("nats connect") when the deadline passes; NatsError for a refused
// configuration; Cancelled.
// Cancellation: Not cancel-safe: an attempt already running finishes on the blocking pool and
//   its connection is closed there.
//
// Connection::publish(subject, data, deadline)
//
// Hands one message to the client (written at once with send_asap). Core NATS: no delivery
// guarantee. Throws: Unavailable when the client cannot buffer it; TimedOut; Cancelled.
// Cancellation: Not cancel-safe: the message may or may not have been sent.
//
// Connection::respond(request, data, deadline)
//
// Publishes `data` to `request.reply`. Throws: Error if the message expects no reply; as publish().
// Cancellation: Not cancel-safe: the reply may or may not have been sent.
//
// Connection::request(subject, data, deadline)
//
// Sends a request and waits for the first reply. Returns: Expected<Message, RequestError>; the
// error kNoResponders comes back at once when nobody listens on `subject`.
// Throws: TimedOut("nats request <subject>") when no reply came before `deadline`;
// Unavailable while disconnected; Cancelled.
// Cancellation: Not cancel-safe: the request may have been delivered; its reply is dropped.
//
// Connection::subscribe(subject, options)
//
// Subscribes (wildcards allowed). Returns: the Subscription. Throws: NatsError; Cancelled.
// Cancellation: Not cancel-safe: a subscription made by the cancelled call is undone at once.
//
// Connection::flush(deadline)
//
// Waits until the server has processed everything published so far (a PING/PONG round trip).
// Throws: TimedOut; Unavailable; Cancelled.
// Cancellation: Cancel-safe: nothing was consumed.
//
// Connection::close()
//
// Closes the connection on the blocking pool: subscriptions end, later calls fail with NatsError.
// Cancellation: Not cancel-safe: the close still completes on the blocking pool.
class Connection {
 public:
  [[nodiscard]] static Task<Connection> connect(ConnectOptions options, Deadline deadline) {
    return connect_impl(std::make_shared<const ConnectOptions>(std::move(options)), deadline);
  }

  [[nodiscard]] Task<void> publish(std::string subject, std::string data, Deadline deadline) const;
  [[nodiscard]] Task<void> respond(const Message& request, std::string data, Deadline deadline) const;
  [[nodiscard]] Task<Expected<Message, RequestError>> request(std::string subject, std::string data,
                                                              Deadline deadline) const;
  // Not coroutines themselves (they hand their arguments to one): GCC 12 mishandles a braced
  // option struct passed straight to a coroutine.
  [[nodiscard]] Task<Subscription> subscribe(std::string subject, SubscribeOptions options = {}) const {
    return subscribe_impl(
        std::make_shared<const std::pair<std::string, SubscribeOptions>>(std::move(subject), std::move(options)));
  }
  [[nodiscard]] Task<void> flush(Deadline deadline) const;
  [[nodiscard]] Task<void> close() const;

  // True while the client has a live connection to a server (false while reconnecting).
  bool connected() const noexcept;
  // The server the client is connected to now ("nats://127.0.0.1:4222"), empty if none.
  std::string connected_url() const;
  // The underlying libnats connection, for calls tether does not wrap. Blocking calls on it must
  // go through spawn_blocking.
  natsConnection* native() const noexcept;

  // Internal: shared with the JetStream types.
  const std::shared_ptr<detail::ConnectionState>& state() const noexcept { return state_; }

 private:
  explicit Connection(std::shared_ptr<detail::ConnectionState> state) : state_(std::move(state)) {}
  static Task<Connection> connect_impl(std::shared_ptr<const ConnectOptions> options, Deadline deadline);
  Task<Subscription> subscribe_impl(std::shared_ptr<const std::pair<std::string, SubscribeOptions>> args) const;
  std::shared_ptr<detail::ConnectionState> state_;
};

}  // namespace tether::nats
