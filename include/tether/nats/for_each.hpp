// tether/nats/for_each.hpp
//
// Distributed fan-out: run a handler on every message of a WorkQueue with at most `limit` handlers
// in flight in this process, acking each message when its handler succeeds and naking it (with a
// growing delay) when the handler throws. Start it in several processes on the same queue and the
// messages are shared among them; the queue's max_ack_pending bounds the in-flight total.
//
//   ForEachOptions            the retry delays of failed messages
//   for_each_concurrent()     the loop; returns when the consumer is closed
//
//   co_await tether::nats::for_each_concurrent(consumer, 8, [&](const Delivery& d) -> Task<> {
//     co_await handle(d.data());   // idempotent: a message can come again after a failover
//   });
//
// When to use something else: to decide per message yourself (term() a poison message, keep a
// batch), use Consumer::recv() with tether::for_each_concurrent, which passes the Delivery.
//
// Thread safety: n/a (acts on the calling task); handlers run as child tasks on any worker.
// Cancellation: cancelling the caller cancels the handlers in flight; their messages are neither
//   acked nor naked and come again after ack_wait. At-least-once holds.
// Example: nats/examples/distributed_pipeline.cpp
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <utility>

#include "tether/core/task.hpp"
#include "tether/nats/work_queue.hpp"
#include "tether/patterns/map_concurrent.hpp"

namespace tether::nats {

struct ForEachOptions {
  // Delay before a failed message is delivered again: nak_delay × 2^(deliveries-1), capped.
  std::chrono::milliseconds nak_delay{100};
  std::chrono::milliseconds max_nak_delay{10'000};
};

namespace detail {

inline std::chrono::milliseconds nak_backoff(const ForEachOptions& o, std::uint64_t deliveries) {
  std::uint64_t shift = std::min<std::uint64_t>(deliveries > 0 ? deliveries - 1 : 0, 20);
  auto d = o.nak_delay * (std::int64_t{1} << shift);
  return std::min<std::chrono::milliseconds>(d, o.max_nak_delay);
}

template <class Fn>
Task<void> handle_delivery(Fn* fn, Delivery d, ForEachOptions options) {
  bool failed = false;
  try {
    auto work = (*fn)(static_cast<const Delivery&>(d));
    co_await std::move(work);
  } catch (const Cancelled&) {
    throw;  // neither ack nor nak: the message comes again after ack_wait
  } catch (const std::exception& e) {
    failed = true;
    spdlog::warn("nats for_each_concurrent: handler failed on message {} (delivery {}): {}", d.msg_id(),
                 d.delivery_count(), e.what());
  }
  if (failed) {
    auto delay = nak_backoff(options, d.delivery_count());
    co_await d.nak(delay);
  } else {
    co_await d.ack();
  }
}

}  // namespace detail

// for_each_concurrent(consumer, limit, fn, options)
//
// Pulls messages from `consumer` and runs `co_await fn(delivery)` on each, at most `limit` at a
// time; acks on success, naks with backoff when fn throws (and logs the failure at warn).
// Returns when consumer.close() was called and the handlers in flight finished.
// Throws: NatsError if the connection is closed; Cancelled. REQUIRES: limit >= 1; `consumer`
// and `fn` outlive the returned task.
// Cancellation: see the header comment.
template <class Fn>
Task<void> for_each_concurrent(Consumer& consumer, std::size_t limit, Fn fn, ForEachOptions options = {}) {
  Fn* handler = &fn;
  auto child = [handler, options](Delivery& d) { return detail::handle_delivery(handler, std::move(d), options); };
  co_await tether::for_each_concurrent(consumer, limit, std::move(child));
}

}  // namespace tether::nats
