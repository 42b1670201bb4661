// nats/bench/nats_bench.cpp
//
// tether::nats against the libnats-only baseline (same client library, no tether), in one run, on
// one nats-server started here:
//   queue     distributed work queue: JetStream publishes acknowledged (16 in flight), then
//             consumed with explicit acks through a durable pull consumer (batch 64)
//   request   request/reply round trips, one at a time: p50 / p99 latency
//
// Run: build/release/nats/tether_nats_bench [messages=20000] [requests=5000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tether/nats/nats.hpp"
#include "tether/tether.hpp"

using namespace std::chrono_literals;
namespace tn = tether::nats;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kPublishers = 16;
constexpr int kBatch = 64;

double seconds_since(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

void check(natsStatus s, const char* what) {
  if (s != NATS_OK) {
    std::fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(s));
    std::exit(1);
  }
}

natsConnection* raw_connect(const std::string& url) {
  natsOptions* o = nullptr;
  check(natsOptions_Create(&o), "options");
  natsOptions_SetURL(o, url.c_str());
  natsOptions_SetSendAsap(o, true);
  natsConnection* nc = nullptr;
  check(natsConnection_Connect(&nc, o), "connect");
  natsOptions_Destroy(o);
  return nc;
}

tn::WorkQueueOptions queue_options(const std::string& name, long n) {
  return tn::WorkQueueOptions{.stream = name, .subject = name + ".jobs", .capacity = n + 1000, .max_ack_pending = 1024};
}

struct Rates {
  double publish = 0, consume = 0;
};

// libnats alone: publisher threads with synchronous JetStream publishes, one fetching thread.
Rates baseline_queue(const std::string& url, long n) {
  tether::Runtime rt({.workers = 1});
  // The stream and consumer are created the same way for both (tether's open(), not measured).
  rt.block_on([](std::string u, long count) -> tether::Task<void> {
    tn::ConnectOptions co{.servers = {u}};
    auto conn = co_await tn::Connection::connect(co, tether::Deadline::after(10s));
    auto q_op = tn::WorkQueue::open(conn, queue_options("BASE", count), tether::Deadline::after(10s));
    auto q = co_await std::move(q_op);
    (void)q;
    co_await conn.close();
  }(url, n));
  natsConnection* nc = raw_connect(url);
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, nullptr), "jetstream");
  Rates r;
  auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([js, p, n] {
      for (long i = p; i < n; i += kPublishers) {
        std::string id = "b-" + std::to_string(i), data = "payload " + std::to_string(i);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id.c_str();
        jsPubAck* pa = nullptr;
        check(js_Publish(&pa, js, "BASE.jobs", data.data(), static_cast<int>(data.size()), &po, nullptr), "publish");
        jsPubAck_Destroy(pa);
      }
    });
  }
  for (auto& t : threads) t.join();
  r.publish = static_cast<double>(n) / seconds_since(t0);

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "BASE";
  so.Consumer = "workers";
  natsSubscription* sub = nullptr;
  check(js_PullSubscribe(&sub, js, "BASE.jobs", "workers", nullptr, &so, nullptr), "pull subscribe");
  t0 = SteadyClock::now();
  long got = 0;
  while (got < n) {
    natsMsgList list{nullptr, 0};
    natsStatus s = natsSubscription_Fetch(&list, sub, kBatch, 1000, nullptr);
    if (s != NATS_OK && s != NATS_TIMEOUT) check(s, "fetch");
    for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
    got += list.Count;
    natsMsgList_Destroy(&list);
  }
  r.consume = static_cast<double>(n) / seconds_since(t0);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return r;
}

// tether: 16 sending tasks, for_each_concurrent with 64 handlers.
Rates tether_queue(const std::string& url, long n) {
  tether::Runtime rt({.workers = 2});
  return rt.block_on([](std::string u, long count) -> tether::Task<Rates> {
    tn::ConnectOptions co{.servers = {u}};
    auto conn = co_await tn::Connection::connect(co, tether::Deadline::after(10s));
    auto q_op = tn::WorkQueue::open(conn, queue_options("TETHER", count), tether::Deadline::after(10s));
    auto q = co_await std::move(q_op);
    Rates r;
    auto tx = q.producer();
    std::vector<long> ids(static_cast<std::size_t>(count));
    for (long i = 0; i < count; ++i) ids[static_cast<std::size_t>(i)] = i;
    auto t0 = SteadyClock::now();
    co_await tether::for_each_concurrent(ids, kPublishers, [&](long i) -> tether::Task<void> {
      auto op = tx.send("payload " + std::to_string(i), "t-" + std::to_string(i), tether::Deadline::after(30s));
      co_await std::move(op);
    });
    r.publish = static_cast<double>(count) / seconds_since(t0);

    auto consumer_op = q.consumer({.batch = kBatch, .poll = 1000ms});
    auto consumer = co_await std::move(consumer_op);
    std::atomic<long> got{0};
    t0 = SteadyClock::now();
    co_await tn::for_each_concurrent(consumer, kBatch, [&](const tn::Delivery&) -> tether::Task<void> {
      if (got.fetch_add(1, std::memory_order_relaxed) + 1 == count) {
        // Timed at the last message, not at the loop's end: close() lets the fetch in progress
        // run out its poll interval first.
        r.consume = static_cast<double>(count) / seconds_since(t0);
        consumer.close();
      }
      co_return;
    });
    co_await conn.close();
    co_return r;
  }(url, n));
}

struct Latency {
  double p50_us = 0, p99_us = 0;
};

Latency summarize(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

void respond_raw(natsConnection* nc, natsSubscription*, natsMsg* m, void*) {
  natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
  natsMsg_Destroy(m);
}

// libnats alone: a callback responder, a blocking requester.
Latency baseline_request(const std::string& url, int count) {
  natsConnection* server = raw_connect(url);
  natsSubscription* sub = nullptr;
  check(natsConnection_Subscribe(&sub, server, "bench.base", respond_raw, nullptr), "subscribe");
  natsConnection_Flush(server);
  natsConnection* client = raw_connect(url);
  std::vector<double> us;
  for (int i = 0; i < count; ++i) {
    auto t = SteadyClock::now();
    natsMsg* reply = nullptr;
    check(natsConnection_RequestString(&reply, client, "bench.base", "ping", 5000), "request");
    us.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t).count());
    natsMsg_Destroy(reply);
  }
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(client);
  natsConnection_Destroy(server);
  return summarize(us);
}

tether::Task<void> serve(tn::Connection conn, tn::Subscription* sub) {
  while (auto m = co_await sub->recv()) {
    auto op = conn.respond(*m, m->data, tether::Deadline::after(5s));
    co_await op;
  }
}

// tether: a responder task reading a Subscription, a task awaiting request().
Latency tether_request(const std::string& url, int count) {
  tether::Runtime rt({.workers = 2});
  return rt.block_on([](std::string u, int n) -> tether::Task<Latency> {
    tn::ConnectOptions co{.servers = {u}};
    auto server = co_await tn::Connection::connect(co, tether::Deadline::after(10s));
    auto client = co_await tn::Connection::connect(co, tether::Deadline::after(10s));
    tn::SubscribeOptions so{.capacity = 1024};
    auto sub_op = server.subscribe("bench.tether", so);
    auto sub = co_await std::move(sub_op);
    auto responder = tether::spawn(serve(server, &sub), {.name = "responder"});
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      auto t = SteadyClock::now();
      auto op = client.request("bench.tether", "ping", tether::Deadline::after(5s));
      auto r = co_await std::move(op);
      us.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t).count());
      if (!r) throw tether::Error("no responder");
    }
    co_await client.close();
    co_await server.close();
    co_await responder;
    co_return summarize(us);
  }(url, count));
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 20000;
  int requests = argc > 2 ? std::atoi(argv[2]) : 5000;
  tn::TestCluster cluster(1);
  cluster.start();
  std::string url = cluster.urls()[0];

  Rates base = baseline_queue(url, n);
  Rates teth = tether_queue(url, n);
  Latency lb = baseline_request(url, requests);
  Latency lt = tether_request(url, requests);

  std::printf("work queue, %ld messages, %d publishers, fetch batch %d (msgs/s):\n", n, kPublishers, kBatch);
  std::printf("  %-10s publish %9.0f  consume+ack %9.0f\n", "libnats", base.publish, base.consume);
  std::printf("  %-10s publish %9.0f  consume+ack %9.0f\n", "tether", teth.publish, teth.consume);
  std::printf("  ratio      publish %9.2f  consume+ack %9.2f   (tether / libnats)\n", teth.publish / base.publish,
              teth.consume / base.consume);
  std::printf("request/reply, %d sequential round trips (us):\n", requests);
  std::printf("  %-10s p50 %8.1f  p99 %8.1f\n", "libnats", lb.p50_us, lb.p99_us);
  std::printf("  %-10s p50 %8.1f  p99 %8.1f\n", "tether", lt.p50_us, lt.p99_us);
  return 0;
}
