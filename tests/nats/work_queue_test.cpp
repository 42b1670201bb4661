// WorkQueue on a single JetStream server: at-least-once with explicit acks, deduplicated retries,
// naks that redeliver, and backpressure from a slow consumer to the producers.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "nats_fixture.hpp"

namespace tether::nats::test {
namespace {

static_assert(!std::is_copy_constructible_v<Delivery>);
static_assert(std::is_nothrow_move_constructible_v<Delivery>);
static_assert(!std::is_copy_constructible_v<Consumer>);
static_assert(std::is_copy_constructible_v<Producer>);

Task<WorkQueue> open_queue(Connection conn, WorkQueueOptions options) {
  auto op = WorkQueue::open(std::move(conn), std::move(options), Deadline::after(10s));
  co_return co_await std::move(op);
}

Task<void> send_range(Producer tx, int from, int to) {
  for (int i = from; i < to; ++i) {
    auto op = tx.send("job " + std::to_string(i), "id-" + std::to_string(i), Deadline::after(10s));
    co_await std::move(op);
  }
}

TEST_F(SingleServer, EverySentMessageIsConsumedAndAcked) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    WorkQueueOptions o{.stream = unique_name("EVERY"), .subject = unique_name("every.jobs")};
    auto queue = co_await open_queue(conn, o);
    const int n = static_cast<int>(tether::test::scaled(500));
    auto tx = queue.producer();  // a named local: no temporary inside co_await (GCC 12)
    auto sending = send_range(tx, 0, n);
    co_await std::move(sending);
    auto consumer = co_await queue.consumer();
    std::mutex mu;
    std::set<std::string> seen;
    co_await nats::for_each_concurrent(consumer, 8, [&](const Delivery& d) -> Task<void> {
      std::lock_guard<std::mutex> g(mu);
      seen.insert(d.msg_id());
      if (seen.size() == static_cast<std::size_t>(n)) consumer.close();
      co_return;
    });
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
    // Every message acked: the work-queue stream is empty once the acks are processed.
    auto until = Deadline::after(10s);
    QueueInfo info;
    do {
      info = co_await queue.info(Deadline::after(5s));
      if (info.messages == 0) break;
      co_await sleep(10ms);
    } while (!until.expired());
    EXPECT_EQ(info.messages, 0u);
    co_await conn.close();
  }());
}

TEST_F(SingleServer, RetriedSendIsStoredOnce) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    WorkQueueOptions o{.stream = unique_name("DEDUP"), .subject = unique_name("dedup.jobs")};
    auto queue = co_await open_queue(conn, o);
    auto tx = queue.producer();
    auto first_op = tx.send("payload", "same-id", Deadline::after(5s));
    auto first = co_await std::move(first_op);
    auto again_op = tx.send("payload", "same-id", Deadline::after(5s));
    auto again = co_await std::move(again_op);
    EXPECT_FALSE(first.duplicate);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(first.sequence, again.sequence);
    auto info = co_await queue.info(Deadline::after(5s));
    EXPECT_EQ(info.messages, 1u);
    co_await conn.close();
  }());
}

TEST_F(SingleServer, FailedHandlerIsNakedAndRedelivered) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    WorkQueueOptions o{.stream = unique_name("NAK"), .subject = unique_name("nak.jobs")};
    auto queue = co_await open_queue(conn, o);
    auto tx = queue.producer();  // a named local: no temporary inside co_await (GCC 12)
    auto sending = send_range(tx, 0, 3);
    co_await std::move(sending);
    auto consumer = co_await queue.consumer();
    std::mutex mu;
    std::vector<std::pair<std::string, std::uint64_t>> calls;
    std::set<std::string> done;
    co_await nats::for_each_concurrent(consumer, 2,
                                       [&](const Delivery& d) -> Task<void> {
                                         bool fail = false;
                                         {
                                           std::lock_guard<std::mutex> g(mu);
                                           calls.emplace_back(d.msg_id(), d.delivery_count());
                                           fail = d.msg_id() == "id-1" && d.delivery_count() == 1;
                                           if (!fail) done.insert(d.msg_id());
                                           if (done.size() == 3) consumer.close();
                                         }
                                         if (fail) throw std::runtime_error("first attempt fails");
                                         co_return;
                                       },
                                       {.nak_delay = 10ms});
    EXPECT_EQ(done.size(), 3u);
    auto redelivered = std::count(calls.begin(), calls.end(), std::make_pair(std::string("id-1"), std::uint64_t{2}));
    EXPECT_EQ(redelivered, 1);
    co_await conn.close();
  }());
}

// Backpressure across the network: with capacity 16 and max_ack_pending 4, a slow consumer keeps
// the stream at most 16 deep (producers wait in send()), and never has more than 4 messages in
// its handlers, though its own limit would allow 8.
TEST_F(SingleServer, SlowConsumerHoldsProducersBack) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    const std::int64_t capacity = 16, in_flight = 4;
    WorkQueueOptions o{.stream = unique_name("SLOW"),
                       .subject = unique_name("slow.jobs"),
                       .capacity = capacity,
                       .max_ack_pending = in_flight};
    auto queue = co_await open_queue(conn, o);
    const int n = static_cast<int>(std::max<std::size_t>(tether::test::scaled(120), 60));
    std::atomic<int> sent{0}, acked{0}, running{0}, max_running{0}, max_backlog{0};
    auto producers = spawn(
        [](Producer tx, int count, std::atomic<int>* sent, std::atomic<int>* acked,
           std::atomic<int>* max_backlog) -> Task<void> {
          std::vector<int> ids;
          for (int i = 0; i < count; ++i) ids.push_back(i);
          co_await tether::for_each_concurrent(ids, 4, [&](int i) -> Task<void> {
            auto op = tx.send("x", "slow-" + std::to_string(i), Deadline::after(60s));
            co_await std::move(op);
            // Stored now: what is stored but not acked cannot exceed the stream's capacity.
            int backlog = sent->fetch_add(1) + 1 - acked->load();
            int seen = max_backlog->load();
            while (backlog > seen && !max_backlog->compare_exchange_weak(seen, backlog)) {
            }
          });
        }(queue.producer(), n, &sent, &acked, &max_backlog),
        {.name = "producers"});
    auto consumer = co_await queue.consumer({.batch = 8});
    co_await nats::for_each_concurrent(consumer, 8, [&](const Delivery&) -> Task<void> {
      int now = running.fetch_add(1) + 1;
      int seen = max_running.load();
      while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
      }
      co_await sleep(5ms);  // the slow part
      running.fetch_sub(1);
      // Counted before the ack is sent, so the producers' backlog estimate never undercounts.
      if (acked.fetch_add(1) + 1 == n) consumer.close();
    });
    co_await producers;
    std::printf("slow consumer: %d messages, max in handlers %d (bound %lld), max backlog %d (capacity %lld)\n", n,
                max_running.load(), static_cast<long long>(in_flight), max_backlog.load(),
                static_cast<long long>(capacity));
    EXPECT_EQ(sent.load(), n);
    EXPECT_LE(max_running.load(), in_flight);
    EXPECT_LE(max_backlog.load(), capacity);
    co_await conn.close();
  }());
}

}  // namespace
}  // namespace tether::nats::test

namespace tether::nats::test {
namespace {

// A breaker shared by the producers sees every attempt; a healthy queue keeps it closed.
TEST_F(SingleServer, SendsGoThroughTheQueuesBreaker) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto breaker = std::make_shared<CircuitBreaker>(CircuitBreakerOptions{.name = "nats"});
    WorkQueueOptions o{.stream = unique_name("BREAKER"), .subject = unique_name("breaker.jobs"), .breaker = breaker};
    auto queue = co_await open_queue(conn, o);
    auto tx = queue.producer();  // a named local: no temporary inside co_await (GCC 12)
    auto sending = send_range(tx, 0, 5);
    co_await std::move(sending);
    EXPECT_EQ(breaker->metrics().successful_calls, 5u);
    EXPECT_EQ(breaker->state(), CircuitState::kClosed);
    co_await conn.close();
  }());
}

}  // namespace
}  // namespace tether::nats::test
