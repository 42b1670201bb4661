// Connection, Subscription and request/reply over libnats. Every call that can wait on the network
// runs in spawn_blocking; libnats' delivery threads only try_send into a bounded tether channel.
#include "tether/nats/connection.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include "state.hpp"
#include "tether/core/blocking.hpp"
#include "tether/patterns/retry.hpp"

namespace tether::nats {

namespace detail {

ConnectionState::~ConnectionState() {
  // Closing joins libnats' threads for this connection but does not wait for the server.
  if (js) jsCtx_Destroy(js);
  if (nc) natsConnection_Destroy(nc);
}

void throw_status(natsStatus s, int jerr, const std::string& what) {
  const char* last = nats_GetLastError(nullptr);
  std::string text = what + ": " + natsStatus_GetText(s);
  if (last && *last && std::strcmp(last, natsStatus_GetText(s)) != 0) text += std::string(" (") + last + ")";
  if (jerr != 0) text += " [jetstream " + std::to_string(jerr) + "]";
  int code = jerr;
  bool full = code == JSStreamStoreFailedErr && last &&
              (std::strstr(last, "maximum messages") || std::strstr(last, "maximum bytes"));
  if (full) throw QueueFull(text, s, code);
  // Pull requests end with these statuses while a consumer's leader changes or a server leaves.
  for (const char* transient : {"Leadership Change", "Server Shutdown", "Exceeded MaxWaiting", "Request Timeout"}) {
    if (last && std::strstr(last, transient)) throw Unavailable(text, s, code);
  }
  switch (code) {
    case JSNotEnabledErr:        // seen during leader elections
    case JSClusterNotAvailErr:   // "JetStream system temporarily unavailable"
    case JSClusterNotLeaderErr:  // the request reached a server that lost leadership
    case JSClusterNoPeersErr:    // a node is down and placement cannot proceed yet
    case JSClusterIncompleteErr:
      throw Unavailable(text, s, code);
    default:
      break;
  }
  switch (s) {
    case NATS_TIMEOUT:                  // no acknowledgement in time: the leader may be gone
    case NATS_NO_RESPONDERS:            // for JetStream: no leader is listening right now
    case NATS_CONNECTION_DISCONNECTED:  // reconnecting
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_SERVER:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_INSUFFICIENT_BUFFER:  // the reconnect buffer is full
      throw Unavailable(text, s, code);
    default:
      throw NatsError(text, s, code);
  }
}

std::int64_t remaining_ms(Deadline d, std::chrono::milliseconds cap) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(d.remaining());
  if (d.is_never()) left = cap;
  return std::max<std::int64_t>(1, std::min(left, cap).count());
}

// Owned by the libnats subscription (its closure); freed by the on-complete callback, which
// libnats calls once, after the last message callback, when the subscription ends.
// The Subscription shares only the drop counter, so that the channel closes (recv() returns
// nullopt) as soon as libnats ends the subscription, e.g. when the connection is closed.
struct SubscriptionBridge {
  mpsc::Sender<Message> tx;
  std::shared_ptr<std::atomic<std::uint64_t>> dropped;  // relaxed: a counter, for reporting only
};

namespace {

// Runs on a libnats delivery thread: copy out, hand over without waiting, never run user code.
void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* bridge = static_cast<SubscriptionBridge*>(closure);
  Message m;
  m.subject = natsMsg_GetSubject(msg);
  if (const char* r = natsMsg_GetReply(msg)) m.reply = r;
  m.data.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  natsMsg_Destroy(msg);
  auto sent = bridge->tx.try_send(std::move(m));
  if (!sent) bridge->dropped->fetch_add(1, std::memory_order_relaxed);
}

void on_complete(void* closure) {
  // SAFETY: libnats calls this once, after the last on_message for this subscription.
  delete static_cast<SubscriptionBridge*>(closure);
}

}  // namespace
}  // namespace detail

Subscription::Subscription(std::string subject, natsSubscription* sub,
                           std::shared_ptr<std::atomic<std::uint64_t>> dropped, mpsc::Receiver<Message> rx)
    : subject_(std::move(subject)), sub_(sub), dropped_(std::move(dropped)), rx_(std::move(rx)) {}

Subscription::Subscription(Subscription&& o) noexcept
    : subject_(std::move(o.subject_)),
      sub_(std::exchange(o.sub_, nullptr)),
      dropped_(std::move(o.dropped_)),
      rx_(std::move(o.rx_)) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    Subscription old(std::move(*this));  // unsubscribes what this held
    subject_ = std::move(o.subject_);
    sub_ = std::exchange(o.sub_, nullptr);
    dropped_ = std::move(o.dropped_);
    rx_ = std::move(o.rx_);
  }
  return *this;
}

Subscription::~Subscription() {
  if (sub_) {
    // Unsubscribing queues an UNSUB for the server and stops delivery; it does not wait.
    natsSubscription_Unsubscribe(sub_);
    natsSubscription_Destroy(sub_);
  }
}

std::uint64_t Subscription::dropped() const noexcept {
  return dropped_ ? dropped_->load(std::memory_order_relaxed) : 0;
}

Task<Connection> Connection::connect_impl(std::shared_ptr<const ConnectOptions> shared, Deadline deadline) {
  const ConnectOptions& options = *shared;
  if (options.servers.empty()) throw Error("nats connect: no servers given");
  auto attempt = [options, deadline]() -> Task<Connection> {
    auto job = spawn_blocking([options, deadline]() -> std::shared_ptr<detail::ConnectionState> {
      natsOptions* opts = nullptr;
      natsStatus s = natsOptions_Create(&opts);
      if (s != NATS_OK) detail::throw_status(s, 0, "nats connect");
      std::vector<const char*> urls;
      for (const auto& u : options.servers) urls.push_back(u.c_str());
      natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
      natsOptions_SetNoRandomize(opts, true);
      natsOptions_SetName(opts, options.name.c_str());
      natsOptions_SetTimeout(opts, detail::remaining_ms(deadline, options.attempt_timeout));
      natsOptions_SetMaxReconnect(opts, options.max_reconnects);
      natsOptions_SetReconnectWait(opts, options.reconnect_wait.count());
      natsOptions_SetReconnectBufSize(opts, static_cast<int>(options.reconnect_buffer_bytes));
      natsOptions_SetSendAsap(opts, options.send_asap);
      auto state = std::make_shared<detail::ConnectionState>();
      state->options = options;
      s = natsConnection_Connect(&state->nc, opts);
      natsOptions_Destroy(opts);
      if (s != NATS_OK) detail::throw_status(s, 0, "nats connect");
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = options.jetstream_wait.count();
      s = natsConnection_JetStream(&state->js, state->nc, &jo);
      if (s != NATS_OK) detail::throw_status(s, 0, "nats jetstream context");
      return state;
    });
    auto state = co_await job;
    co_return Connection(std::move(state));
  };
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline.remaining());
  RetryPolicy policy{.max_attempts = 1'000'000,
                     .initial_delay = std::chrono::milliseconds(20),
                     .max_delay = std::chrono::milliseconds(500),
                     .max_elapsed = deadline.is_never() ? std::chrono::milliseconds(0) : left,
                     .retryable = is_retryable};
  std::optional<Connection> conn;
  std::exception_ptr failure;
  try {
    auto op = retry(attempt, policy);
    conn.emplace(co_await op);
  } catch (const Unavailable&) {
    failure = std::current_exception();
  } catch (const TimedOut&) {
    failure = std::current_exception();
  }
  if (failure) throw TimedOut("nats connect");
  co_return std::move(*conn);
}

Task<void> Connection::publish(std::string subject, std::string data, Deadline deadline) const {
  (void)deadline;  // libnats buffers the message; the write never waits for the server
  auto st = state_;
  auto job = spawn_blocking([st, subject = std::move(subject), data = std::move(data)] {
    natsStatus s = natsConnection_Publish(st->nc, subject.c_str(), data.data(), static_cast<int>(data.size()));
    if (s != NATS_OK) detail::throw_status(s, 0, "nats publish " + subject);
  });
  co_await job;
}

Task<void> Connection::respond(const Message& request, std::string data, Deadline deadline) const {
  if (request.reply.empty()) throw Error("nats respond: the message expects no reply");
  std::string to = request.reply;
  co_await publish(std::move(to), std::move(data), deadline);
}

Task<Expected<Message, RequestError>> Connection::request(std::string subject, std::string data,
                                                          Deadline deadline) const {
  using R = Expected<Message, RequestError>;
  auto st = state_;
  std::int64_t wait = detail::remaining_ms(deadline, std::chrono::hours(24));
  // The blocking call reports "no responders" as an empty optional; other failures throw there.
  auto job = spawn_blocking([st, subject, data = std::move(data), wait]() -> std::optional<Message> {
    natsMsg* reply = nullptr;
    natsStatus s =
        natsConnection_Request(&reply, st->nc, subject.c_str(), data.data(), static_cast<int>(data.size()), wait);
    if (s == NATS_NO_RESPONDERS) return std::nullopt;
    if (s == NATS_TIMEOUT) throw TimedOut("nats request " + subject);
    if (s != NATS_OK) detail::throw_status(s, 0, "nats request " + subject);
    Message m;
    m.subject = natsMsg_GetSubject(reply);
    m.data.assign(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
    return m;
  });
  std::optional<Message> reply = co_await job;
  if (!reply) co_return R::failure(RequestError{RequestError::kNoResponders, std::move(subject)});
  co_return R::success(std::move(*reply));
}

Task<Subscription> Connection::subscribe_impl(
    std::shared_ptr<const std::pair<std::string, SubscribeOptions>> args) const {
  std::string subject = args->first;
  const SubscribeOptions& options = args->second;
  if (options.capacity == 0) throw Error("nats subscribe: capacity must be at least 1");
  // No structured binding: GCC 12 misplaces them in a coroutine frame.
  std::pair<mpsc::Sender<Message>, mpsc::Receiver<Message>> ch = mpsc::channel<Message>(options.capacity);
  mpsc::Sender<Message> tx = std::move(ch.first);
  mpsc::Receiver<Message> rx = std::move(ch.second);
  auto dropped = std::make_shared<std::atomic<std::uint64_t>>(0);
  auto st = state_;
  auto job =
      spawn_blocking([st, subject, group = options.queue_group, tx = std::move(tx), dropped]() -> natsSubscription* {
        // Owned by libnats from here on: freed by on_complete after the last delivery.
        auto* holder = new detail::SubscriptionBridge{tx, dropped};
        natsSubscription* sub = nullptr;
        natsStatus s = group.empty()
                           ? natsConnection_Subscribe(&sub, st->nc, subject.c_str(), detail::on_message, holder)
                           : natsConnection_QueueSubscribe(&sub, st->nc, subject.c_str(), group.c_str(),
                                                           detail::on_message, holder);
        if (s != NATS_OK) {
          delete holder;
          detail::throw_status(s, 0, "nats subscribe " + subject);
        }
        natsSubscription_SetOnCompleteCB(sub, detail::on_complete, holder);
        // The server must know the interest before the caller publishes to it.
        natsConnection_FlushTimeout(st->nc, st->options.jetstream_wait.count());
        return sub;
      });
  natsSubscription* sub = co_await job;
  co_return Subscription(std::move(subject), sub, std::move(dropped), std::move(rx));
}

Task<void> Connection::flush(Deadline deadline) const {
  auto st = state_;
  std::int64_t wait = detail::remaining_ms(deadline, std::chrono::hours(24));
  auto job = spawn_blocking([st, wait] {
    natsStatus s = natsConnection_FlushTimeout(st->nc, wait);
    if (s == NATS_TIMEOUT) throw TimedOut("nats flush");
    if (s != NATS_OK) detail::throw_status(s, 0, "nats flush");
  });
  co_await job;
}

Task<void> Connection::close() const {
  auto st = state_;
  auto job = spawn_blocking([st] { natsConnection_Close(st->nc); });
  co_await job;
}

bool Connection::connected() const noexcept { return natsConnection_Status(state_->nc) == NATS_CONN_STATUS_CONNECTED; }

std::string Connection::connected_url() const {
  char buf[256] = {0};
  if (natsConnection_GetConnectedUrl(state_->nc, buf, sizeof buf) != NATS_OK) return {};
  return buf;
}

natsConnection* Connection::native() const noexcept { return state_->nc; }

}  // namespace tether::nats
