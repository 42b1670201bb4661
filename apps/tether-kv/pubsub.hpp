// Pub/sub for tether-kv: channels and patterns, delivered through one bounded queue per subscriber.
//
// Defines:
//   Subscriber   a subscribed connection's outbound queue (bounded mpsc of encoded RESP bytes)
//   PubSub       the registry: channel -> subscribers, pattern -> subscribers; publish()
//
// Why per-subscriber bounded mpsc queues, not one broadcast channel per Redis channel: a client
// subscribes to any number of channels and patterns and must see their messages in one order, with
// its own command replies interleaved correctly; one queue per subscriber gives exactly that, and
// its bound is the subscriber's output buffer limit. A broadcast ring per channel would make each
// connection select over a changing set of rings. Publishers never wait: PUBLISH uses try_send,
// and a subscriber whose queue is full is marked overflowed and disconnected with an error by its
// connection (Redis's client-output-buffer-limit for pubsub), never buffered without bound.
//
// Ordering: subscribe/unsubscribe confirmations are queued under the registry lock, through a
// permit reserved beforehand, so a message published after a SUBSCRIBE took effect always follows
// its confirmation, and none follows an UNSUBSCRIBE's.
//
// Thread safety: thread-safe (the registry is a tether::sync::Mutex; Subscriber's flag is atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tether/channel/mpsc.hpp"
#include "tether/core/task.hpp"
#include "tether/sync/mutex.hpp"

namespace tether::kv {

struct ServerStats;

// tether::kv::Subscriber
//
// The outbound side of a connection in pub/sub mode: everything written to the client (command
// replies and published messages alike) goes through `tx`, and the connection's pusher task writes
// it to the socket.
struct Subscriber {
  Subscriber(std::uint64_t client_id, mpsc::Sender<std::string> sender)
      : id(client_id), tx(std::move(sender)), overflowed(std::make_shared<std::atomic<bool>>(false)) {}
  const std::uint64_t id;
  mpsc::Sender<std::string> tx;
  // Set by a publisher that found the queue full, or by the pusher when it stops; read by both.
  // Shared with the pusher, which must not hold `tx` (the queue closes when the last Sender goes).
  // Release/acquire: pairs the setter's store with the readers' loads (no data rides on it).
  std::shared_ptr<std::atomic<bool>> overflowed;
};

class PubSub {
 public:
  explicit PubSub(ServerStats& stats) : stats_(stats) {}

  // Registers `sub` for each of `names` (channels, or patterns if `pattern`), then queues `reply`
  // to it, both under the registry lock. Throws: Cancelled; Error if the subscriber's queue closed.
  Task<void> subscribe(std::shared_ptr<Subscriber> sub, std::vector<std::string> names, bool pattern,
                       std::string reply);
  // Removes `sub` from `names` and queues `reply`, under the registry lock.
  Task<void> unsubscribe(std::shared_ptr<Subscriber> sub, std::vector<std::string> names, bool pattern,
                         std::string reply);
  // Removes `sub` from everything (connection teardown). Cancellation: Cancel-safe, but loses its
  // place in the wait queue; call it shielded.
  Task<void> remove_all(std::shared_ptr<Subscriber> sub, std::vector<std::string> channels,
                        std::vector<std::string> patterns);
  // Delivers `message` to every subscriber of `channel` and of every matching pattern. Never waits
  // for a subscriber. Returns how many subscriptions matched (Redis's PUBLISH reply).
  Task<std::int64_t> publish(std::string_view channel, std::string_view message);

  // For INFO: channels and patterns with at least one subscriber.
  Task<std::pair<std::size_t, std::size_t>> counts();

 private:
  using Members = std::unordered_map<std::uint64_t, std::shared_ptr<Subscriber>>;
  struct Registry {
    std::unordered_map<std::string, Members> channels;
    std::unordered_map<std::string, Members> patterns;
  };
  ServerStats& stats_;
  sync::Mutex<Registry> registry_;
};

}  // namespace tether::kv
