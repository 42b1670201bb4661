// Connection: publish/subscribe as a bounded channel, request/reply with deadlines, against a real
// nats-server started by the fixture.
#include <atomic>
#include <string>
#include <vector>

#include "nats_fixture.hpp"

namespace tether::nats::test {
namespace {

static_assert(!std::is_copy_constructible_v<Subscription>);
static_assert(std::is_nothrow_move_constructible_v<Subscription>);
static_assert(std::is_copy_constructible_v<Connection>);

TEST_F(SingleServer, SubscriptionReceivesInPublishOrder) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto sub_op = conn.subscribe("order.test", {.capacity = 256});
    auto sub = co_await std::move(sub_op);
    for (int i = 0; i < 100; ++i) {
      auto op = conn.publish("order.test", std::to_string(i), Deadline::after(5s));
      co_await op;
    }
    for (int i = 0; i < 100; ++i) {
      auto m = co_await timeout(10s, sub.recv());
      EXPECT_TRUE(m.has_value());
      if (!m) break;
      EXPECT_EQ(m->data, std::to_string(i));
      EXPECT_EQ(m->subject, "order.test");
    }
    EXPECT_EQ(sub.dropped(), 0u);
    co_await conn.close();
  }());
}

// A full subscription drops what does not fit (core NATS semantics) and counts it; libnats'
// delivery thread never waits for the consumer.
TEST_F(SingleServer, FullSubscriptionDropsAndCounts) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto sub_op = conn.subscribe("drop.test", {.capacity = 4});
    auto sub = co_await std::move(sub_op);
    for (int i = 0; i < 50; ++i) {
      auto op = conn.publish("drop.test", "x", Deadline::after(5s));
      co_await op;
    }
    co_await conn.flush(Deadline::after(5s));
    // Wait for the observed state: all 50 handed over (4 buffered, 46 dropped).
    auto until = Deadline::after(10s);
    while (sub.dropped() < 46 && !until.expired()) co_await sleep(5ms);
    EXPECT_EQ(sub.dropped(), 46u);
    for (int i = 0; i < 4; ++i) {
      auto m = co_await timeout(5s, sub.recv());
      EXPECT_TRUE(m.has_value());
    }
    co_await conn.close();
  }());
}

Task<void> echo_server(Connection conn, Subscription* sub, int* served) {
  while (auto m = co_await sub->recv()) {
    {
      auto op = conn.respond(*m, "re:" + m->data, Deadline::after(5s));
      co_await std::move(op);
    }
    ++*served;
  }
}

TEST_F(SingleServer, RequestGetsTheReply) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto sub_op = conn.subscribe("svc.echo", {.capacity = 16});
    auto sub = co_await std::move(sub_op);
    int served = 0;
    auto server = spawn(echo_server(conn, &sub, &served), {.name = "echo"});
    auto r_op = conn.request("svc.echo", "hi", Deadline::after(5s));
    auto r = co_await std::move(r_op);
    EXPECT_TRUE(r.has_value());
    if (r) {
      EXPECT_EQ(r->data, "re:hi");
    }
    co_await conn.close();  // ends the subscription: the server's recv() returns nullopt
    co_await server;
    EXPECT_EQ(served, 1);
  }());
}

TEST_F(SingleServer, NoRespondersIsReportedAtOnce) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto started = Clock::now();
    auto r_op = conn.request("nobody.listens", "hi", Deadline::after(30s));
    auto r = co_await std::move(r_op);
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, RequestError::kNoResponders);
    }
    // "At once": far inside the 30 s deadline.
    EXPECT_LT(Clock::now() - started, 10s);
    co_await conn.close();
  }());
}

TEST_F(SingleServer, SilentResponderTimesOut) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    auto sub_op = conn.subscribe("svc.silent", {.capacity = 4});
    auto sub = co_await std::move(sub_op);
    bool timed_out = false;
    try {
      auto r_op = conn.request("svc.silent", "hi", Deadline::after(200ms));
      auto r = co_await std::move(r_op);
      (void)r;
    } catch (const TimedOut&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
    co_await conn.close();
  }());
}

// Many tasks request concurrently through one connection, served by two subscribers of a queue
// group: every request gets its own answer, none is crossed or lost.
TEST_F(SingleServer, ConcurrentRequestsThroughAQueueGroup) {
  Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    auto conn = co_await connect();
    SubscribeOptions group{.queue_group = "g", .capacity = 64};
    auto s1_op = conn.subscribe("svc.group", group);
    auto s1 = co_await std::move(s1_op);
    auto s2_op = conn.subscribe("svc.group", group);
    auto s2 = co_await std::move(s2_op);
    int served1 = 0, served2 = 0;
    auto e1 = spawn(echo_server(conn, &s1, &served1), {.name = "echo-1"});
    auto e2 = spawn(echo_server(conn, &s2, &served2), {.name = "echo-2"});
    const int tasks = 8, each = static_cast<int>(tether::test::scaled(200) / 8 + 1);
    std::atomic<int> ok{0};
    std::vector<int> ids;
    for (int t = 0; t < tasks; ++t) ids.push_back(t);
    co_await tether::for_each_concurrent(ids, static_cast<std::size_t>(tasks), [&](int t) -> Task<void> {
      for (int i = 0; i < each; ++i) {
        std::string body = std::to_string(t) + "/" + std::to_string(i);
        auto r_op = conn.request("svc.group", body, Deadline::after(10s));
        auto r = co_await std::move(r_op);
        if (r && r->data == "re:" + body) ok.fetch_add(1, std::memory_order_relaxed);
      }
    });
    EXPECT_EQ(ok.load(), tasks * each);
    co_await conn.close();
    co_await e1;
    co_await e2;
    EXPECT_EQ(served1 + served2, tasks * each);
  }());
}

TEST(NatsConnectTest, NoServerTimesOutAtTheDeadline) {
  Runtime rt({.workers = 2});
  int port = free_loopback_ports(1)[0];
  rt.block_on([](int p) -> Task<void> {
    bool timed_out = false;
    try {
      ConnectOptions options{.servers = {"nats://127.0.0.1:" + std::to_string(p)}};
      auto connecting = Connection::connect(std::move(options), Deadline::after(300ms));
      auto c = co_await std::move(connecting);
      (void)c;
    } catch (const TimedOut&) {
      timed_out = true;
    }
    EXPECT_TRUE(timed_out);
  }(port));
}

}  // namespace
}  // namespace tether::nats::test
