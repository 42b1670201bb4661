// WorkQueue, Producer, Consumer and Delivery on JetStream. Every libnats call that waits on the
// network runs in spawn_blocking, bounded by the caller's deadline; retryable faults are retried
// with tether::retry within that deadline.
#include "tether/nats/work_queue.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <utility>

#include "state.hpp"
#include "tether/core/blocking.hpp"
#include "tether/patterns/retry.hpp"
#include "tether/time/sleep.hpp"

namespace tether::nats {

namespace detail {

struct QueueState {
  // Constant after construction.
  std::shared_ptr<ConnectionState> conn;
  WorkQueueOptions options;
};

// Owns fetched messages until they become Deliveries, so that a fetch whose caller was cancelled
// does not leak them (they are released unacked and come again after ack_wait).
struct MsgBatch {
  std::vector<natsMsg*> msgs;
  MsgBatch() = default;
  MsgBatch(MsgBatch&& o) noexcept : msgs(std::move(o.msgs)) { o.msgs.clear(); }
  MsgBatch& operator=(MsgBatch&& o) noexcept {
    std::swap(msgs, o.msgs);
    return *this;
  }
  ~MsgBatch() {
    for (natsMsg* m : msgs) natsMsg_Destroy(m);
  }
};

struct ConsumerState {
  // Constant after construction.
  std::shared_ptr<QueueState> queue;
  natsSubscription* sub = nullptr;
  ConsumerOptions options;
  // libnats allows one fetch at a time per subscription; a fetch abandoned by a cancelled caller
  // may still be running on the blocking pool when the next one starts.
  std::mutex fetch_mu;
  // Confined to the consumer's task: fetched messages not handed out yet.
  std::deque<natsMsg*> buffer;
  // Atomic: relaxed, counters and a flag read without ordering needs (close() only stops loops).
  std::atomic<bool> closed{false};
  std::atomic<std::uint64_t> delivered{0}, acked{0}, naked{0}, faults{0};

  ~ConsumerState() {
    for (natsMsg* m : buffer) natsMsg_Destroy(m);
    // Destroying a bound pull subscription removes its interest; the durable consumer stays.
    if (sub) natsSubscription_Destroy(sub);
  }
};

namespace {

RetryPolicy policy_within(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline.remaining());
  return RetryPolicy{
      .max_attempts = 1'000'000'000,
      .initial_delay = std::chrono::milliseconds(5),
      .multiplier = 2.0,
      .max_delay = std::chrono::milliseconds(250),
      .max_elapsed = deadline.is_never() ? std::chrono::milliseconds(0) : std::max(left, std::chrono::milliseconds(1)),
      .retryable = is_retryable};
}

// The longest a single JetStream request may wait before it is retried (a request sent to a
// leader that just died gets no answer at all).
constexpr std::chrono::milliseconds kAttemptWait{2000};

}  // namespace
}  // namespace detail

// ---- WorkQueue -------------------------------------------------------------------------------

Task<WorkQueue> WorkQueue::open_impl(Connection connection, std::shared_ptr<const WorkQueueOptions> shared,
                                     Deadline deadline) {
  const WorkQueueOptions& options = *shared;
  if (options.stream.empty() || options.subject.empty() || options.durable.empty()) {
    throw Error("nats work queue: stream, subject and durable are required");
  }
  auto state = std::make_shared<detail::QueueState>();
  state->conn = connection.state();
  state->options = options;
  auto attempt = [state, deadline] {
    std::int64_t wait = detail::remaining_ms(deadline, detail::kAttemptWait);
    return spawn_blocking([state, wait] {
      const WorkQueueOptions& o = state->options;
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = wait;

      jsStreamConfig sc;
      jsStreamConfig_Init(&sc);
      const char* subjects[] = {o.subject.c_str()};
      sc.Name = o.stream.c_str();
      sc.Subjects = subjects;
      sc.SubjectsLen = 1;
      sc.Retention = js_WorkQueuePolicy;  // acked messages leave the stream: capacity is "not done yet"
      sc.MaxMsgs = o.capacity;
      sc.Discard = js_DiscardNew;  // full: refuse new messages (backpressure), never drop old ones
      sc.Storage = o.memory_storage ? js_MemoryStorage : js_FileStorage;
      sc.Replicas = o.replicas;
      sc.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(o.duplicate_window).count();
      jsErrCode jerr = static_cast<jsErrCode>(0);
      jsStreamInfo* si = nullptr;
      natsStatus s = js_AddStream(&si, state->conn->js, &sc, &jo, &jerr);
      if (si) jsStreamInfo_Destroy(si);
      if (s != NATS_OK && jerr != JSStreamNameExistErr) detail::throw_status(s, jerr, "nats add stream " + o.stream);

      jsConsumerConfig cc;
      jsConsumerConfig_Init(&cc);
      cc.Durable = o.durable.c_str();
      cc.AckPolicy = js_AckExplicit;
      cc.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(o.ack_wait).count();
      cc.MaxAckPending = o.max_ack_pending;
      cc.MaxDeliver = o.max_deliver;
      cc.FilterSubject = o.subject.c_str();
      jerr = static_cast<jsErrCode>(0);
      jsConsumerInfo* ci = nullptr;
      s = js_AddConsumer(&ci, state->conn->js, o.stream.c_str(), &cc, &jo, &jerr);
      if (ci) jsConsumerInfo_Destroy(ci);
      if (s != NATS_OK && jerr != JSConsumerNameExistErr) {
        detail::throw_status(s, jerr, "nats add consumer " + o.durable);
      }
    });
  };
  std::exception_ptr failure;
  try {
    auto op = retry(attempt, detail::policy_within(deadline));
    co_await op;
  } catch (const Unavailable&) {
    failure = std::current_exception();
  } catch (const TimedOut&) {
    failure = std::current_exception();
  }
  if (failure && deadline.expired()) throw TimedOut("nats open work queue " + options.stream);
  if (failure) std::rethrow_exception(failure);
  co_return WorkQueue(std::move(state));
}

const WorkQueueOptions& WorkQueue::options() const noexcept { return state_->options; }

Task<Consumer> WorkQueue::consumer(ConsumerOptions options) const {
  if (options.batch < 1) throw Error("nats consumer: batch must be at least 1");
  auto cs = std::make_shared<detail::ConsumerState>();
  cs->queue = state_;
  cs->options = options;
  auto job = spawn_blocking([cs] {
    const WorkQueueOptions& o = cs->queue->options;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o.stream.c_str();
    so.Consumer = o.durable.c_str();  // bind to the existing durable: never create or delete it
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s =
        js_PullSubscribe(&cs->sub, cs->queue->conn->js, o.subject.c_str(), o.durable.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) detail::throw_status(s, jerr, "nats bind consumer " + o.durable);
  });
  co_await job;
  co_return Consumer(std::move(cs));
}

Task<QueueInfo> WorkQueue::info(Deadline deadline) const {
  auto st = state_;
  std::int64_t wait = detail::remaining_ms(deadline, std::chrono::hours(1));
  auto job = spawn_blocking([st, wait] {
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = wait;
    QueueInfo out;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    jsStreamInfo* si = nullptr;
    natsStatus s = js_GetStreamInfo(&si, st->conn->js, st->options.stream.c_str(), &jo, &jerr);
    if (s != NATS_OK) detail::throw_status(s, jerr, "nats stream info");
    out.messages = si->State.Msgs;
    if (si->Cluster && si->Cluster->Leader) out.stream_leader = si->Cluster->Leader;
    jsStreamInfo_Destroy(si);
    jsConsumerInfo* ci = nullptr;
    s = js_GetConsumerInfo(&ci, st->conn->js, st->options.stream.c_str(), st->options.durable.c_str(), &jo, &jerr);
    if (s != NATS_OK) detail::throw_status(s, jerr, "nats consumer info");
    out.ack_pending = ci->NumAckPending;
    out.num_pending = ci->NumPending;
    if (ci->Cluster && ci->Cluster->Leader) out.consumer_leader = ci->Cluster->Leader;
    jsConsumerInfo_Destroy(ci);
    return out;
  });
  co_return co_await job;
}

// ---- Producer --------------------------------------------------------------------------------

namespace {

struct Outgoing {
  std::string data;
  std::string msg_id;
};

// One publish, waiting for JetStream's acknowledgement on the blocking pool; the job owns what it
// reads, because a job outlives an awaiter that is cancelled.
Task<PublishAck> publish_once(std::shared_ptr<detail::QueueState> st, std::shared_ptr<const Outgoing> msg,
                              std::int64_t wait) {
  auto job = spawn_blocking([st, msg, wait] {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = wait;
    po.MsgId = msg->msg_id.empty() ? nullptr : msg->msg_id.c_str();
    jsPubAck* pa = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_Publish(&pa, st->conn->js, st->options.subject.c_str(), msg->data.data(),
                              static_cast<int>(msg->data.size()), &po, &jerr);
    if (s != NATS_OK) detail::throw_status(s, jerr, "nats send");
    PublishAck out{pa->Sequence, pa->Duplicate};
    jsPubAck_Destroy(pa);
    return out;
  });
  co_return co_await job;
}

Task<PublishAck> publish_through_breaker(std::shared_ptr<detail::QueueState> st, std::shared_ptr<const Outgoing> msg,
                                         std::int64_t wait) {
  CircuitBreaker* breaker = st->options.breaker.get();
  auto op = [st, msg, wait] { return publish_once(st, msg, wait); };
  auto guarded = breaker->call(op);
  co_return co_await std::move(guarded);
}

bool retryable_send_fault(const std::exception_ptr& e) {
  if (is_retryable(e)) return true;
  try {
    std::rethrow_exception(e);
  } catch (const CircuitOpen&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

Task<PublishAck> Producer::send(std::string data, std::string msg_id, Deadline deadline) const {
  auto msg = std::make_shared<const Outgoing>(Outgoing{std::move(data), std::move(msg_id)});
  auto st = state_;
  auto attempt = [st, msg, deadline] {
    std::int64_t wait = detail::remaining_ms(deadline, detail::kAttemptWait);
    return st->options.breaker ? publish_through_breaker(st, msg, wait) : publish_once(st, msg, wait);
  };
  RetryPolicy policy = detail::policy_within(deadline);
  policy.retryable = retryable_send_fault;
  std::optional<PublishAck> ack;
  std::exception_ptr failure;
  try {
    auto op = retry(attempt, std::move(policy));
    ack = co_await op;
  } catch (const Cancelled&) {
    throw;
  } catch (const Error&) {
    failure = std::current_exception();
  }
  if (failure && (deadline.expired() || retryable_send_fault(failure))) throw TimedOut("nats send");
  if (failure) std::rethrow_exception(failure);
  co_return *ack;
}

// ---- Consumer --------------------------------------------------------------------------------

Consumer::~Consumer() = default;

Task<void> Consumer::refill(Deadline deadline) {
  auto cs = state_;
  int batch = static_cast<int>(std::min<std::int64_t>(cs->options.batch, cs->queue->options.max_ack_pending));
  std::int64_t wait = detail::remaining_ms(deadline, cs->options.poll);
  auto job = spawn_blocking([cs, batch, wait] {
    std::lock_guard<std::mutex> one_fetch(cs->fetch_mu);
    natsMsgList list{nullptr, 0};
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_Fetch(&list, cs->sub, batch, wait, &jerr);
    detail::MsgBatch out;
    for (int i = 0; i < list.Count; ++i) out.msgs.push_back(std::exchange(list.Msgs[i], nullptr));
    natsMsgList_Destroy(&list);
    if (s == NATS_OK || s == NATS_TIMEOUT || !out.msgs.empty()) return out;
    detail::throw_status(s, jerr, "nats fetch");
  });
  detail::MsgBatch got = co_await job;
  for (natsMsg* m : got.msgs) cs->buffer.push_back(m);
  got.msgs.clear();
}

Task<std::optional<Delivery>> Consumer::recv() {
  auto batch = co_await fetch(1, Deadline::never());
  if (batch.empty()) co_return std::nullopt;
  co_return std::move(batch.front());
}

Task<std::vector<Delivery>> Consumer::fetch(std::size_t max, Deadline deadline) {
  if (!state_) throw Error("nats consumer: moved from");
  auto cs = state_;
  std::vector<Delivery> out;
  auto backoff = std::chrono::milliseconds(20);
  for (;;) {
    while (!cs->buffer.empty() && out.size() < max) {
      natsMsg* m = cs->buffer.front();
      cs->buffer.pop_front();
      out.push_back(Delivery(m, cs));
    }
    if (!out.empty() || cs->closed.load(std::memory_order_relaxed) || deadline.expired()) co_return out;
    bool fault = false;
    try {
      co_await refill(deadline.min(Deadline::after(cs->options.poll)));
      backoff = std::chrono::milliseconds(20);
    } catch (const Unavailable&) {
      fault = true;  // a leader election or a reconnect: ask again shortly
    }
    if (fault) {
      cs->faults.fetch_add(1, std::memory_order_relaxed);
      co_await sleep(std::min(backoff, std::chrono::ceil<std::chrono::milliseconds>(deadline.remaining())));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
}

void Consumer::close() noexcept {
  if (state_) state_->closed.store(true, std::memory_order_relaxed);
}

Consumer::Stats Consumer::stats() const noexcept {
  if (!state_) return {};
  return Stats{state_->delivered.load(std::memory_order_relaxed), state_->acked.load(std::memory_order_relaxed),
               state_->naked.load(std::memory_order_relaxed), state_->faults.load(std::memory_order_relaxed)};
}

// ---- Delivery --------------------------------------------------------------------------------

Delivery::Delivery(natsMsg* msg, std::shared_ptr<detail::ConsumerState> consumer)
    : msg_(msg), consumer_(std::move(consumer)) {
  const char* id = nullptr;
  if (natsMsgHeader_Get(msg_, "Nats-Msg-Id", &id) == NATS_OK && id) msg_id_ = id;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg_) == NATS_OK && meta) {
    delivered_ = meta->NumDelivered;
    stream_seq_ = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  consumer_->delivered.fetch_add(1, std::memory_order_relaxed);
}

Delivery::Delivery(Delivery&& o) noexcept
    : msg_(std::exchange(o.msg_, nullptr)),
      consumer_(std::move(o.consumer_)),
      msg_id_(std::move(o.msg_id_)),
      delivered_(o.delivered_),
      stream_seq_(o.stream_seq_) {}

Delivery& Delivery::operator=(Delivery&& o) noexcept {
  if (this != &o) {
    if (msg_) natsMsg_Destroy(msg_);
    msg_ = std::exchange(o.msg_, nullptr);
    consumer_ = std::move(o.consumer_);
    msg_id_ = std::move(o.msg_id_);
    delivered_ = o.delivered_;
    stream_seq_ = o.stream_seq_;
  }
  return *this;
}

Delivery::~Delivery() {
  if (msg_) natsMsg_Destroy(msg_);  // unacked: the server delivers it again after ack_wait
}

std::string_view Delivery::data() const noexcept {
  if (!msg_) return {};
  return {natsMsg_GetData(msg_), static_cast<std::size_t>(natsMsg_GetDataLength(msg_))};
}

Task<void> Delivery::ack() { return settle(Verdict::kAck, std::chrono::milliseconds(0)); }
Task<void> Delivery::nak(std::chrono::milliseconds delay) { return settle(Verdict::kNak, delay); }
Task<void> Delivery::term() { return settle(Verdict::kTerm, std::chrono::milliseconds(0)); }

Task<void> Delivery::settle(Verdict v, std::chrono::milliseconds delay) {
  if (!msg_) throw Error("nats delivery: already acknowledged");
  // The job owns the message: it outlives this awaiter if the caller is cancelled.
  natsMsg* m = std::exchange(msg_, nullptr);
  auto cs = consumer_;
  auto job = spawn_blocking([m, cs, v, delay] {
    natsStatus s = NATS_OK;
    switch (v) {
      case Verdict::kAck:
        s = natsMsg_Ack(m, nullptr);
        cs->acked.fetch_add(1, std::memory_order_relaxed);
        break;
      case Verdict::kNak:
        s = natsMsg_NakWithDelay(m, delay.count(), nullptr);
        cs->naked.fetch_add(1, std::memory_order_relaxed);
        break;
      case Verdict::kTerm:
        s = natsMsg_Term(m, nullptr);
        break;
    }
    natsMsg_Destroy(m);
    // A lost acknowledgement means a redelivery after ack_wait, never a loss: only a closed
    // connection is worth reporting.
    if (s == NATS_CONNECTION_CLOSED) detail::throw_status(s, 0, "nats ack");
  });
  co_await job;
}

}  // namespace tether::nats
