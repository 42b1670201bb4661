// nats/examples/distributed_pipeline.cpp
//
// Shows tether's model across processes on NATS JetStream: a producer process sends jobs to a
// distributed bounded work queue, two worker processes share them with for_each_concurrent (each
// with its own in-flight bound), and the driver stops the workers once the queue is drained.
//
//   example_nats_distributed_pipeline                       the driver: starts a nats-server and
//                                                           the three processes, checks the sums
//   example_nats_distributed_pipeline producer <url> <n>    sends jobs 1..n (message id "job-<i>")
//   example_nats_distributed_pipeline worker <url> <name>   squares jobs until told to stop, prints
//                                                           "<name> <count> <sum of squares>"
//
// Run: build/debug/nats/example_nats_distributed_pipeline
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tether/nats/nats.hpp"
#include "tether/tether.hpp"

using namespace std::chrono_literals;
namespace tn = tether::nats;

namespace {

const tn::WorkQueueOptions kQueue{.stream = "PIPELINE",
                                  .subject = "pipeline.jobs",
                                  .capacity = 200,  // producers wait when 200 jobs are not done yet
                                  .max_ack_pending = 16,
                                  .ack_wait = 5s};

tether::Task<tn::Connection> connect(std::string url) {
  tn::ConnectOptions options{.servers = {url}, .name = "pipeline"};
  auto connecting = tn::Connection::connect(std::move(options), tether::Deadline::after(10s));
  co_return co_await std::move(connecting);
}

tether::Task<int> producer(std::string url, long n) {
  auto conn = co_await connect(url);
  auto queue = co_await tn::WorkQueue::open(conn, kQueue, tether::Deadline::after(10s));
  auto tx = queue.producer();
  // Eight sends in flight: each waits for JetStream's acknowledgement on the blocking pool.
  std::vector<long> jobs;
  for (long i = 1; i <= n; ++i) jobs.push_back(i);
  co_await tether::for_each_concurrent(jobs, 8, [&](long i) -> tether::Task<void> {
    auto ack_op = tx.send(std::to_string(i), "job-" + std::to_string(i), tether::Deadline::after(20s));
    auto ack = co_await std::move(ack_op);
    (void)ack;
  });
  std::printf("producer sent %ld jobs\n", n);
  co_await conn.close();
  co_return 0;
}

tether::Task<int> worker(std::string url, std::string name) {
  auto conn = co_await connect(url);
  auto queue = co_await tn::WorkQueue::open(conn, kQueue, tether::Deadline::after(10s));
  auto consumer_op = queue.consumer({.batch = 8, .poll = 200ms});
  auto consumer = co_await std::move(consumer_op);
  // The driver says "stop" on a core subject once the queue is empty; a watcher closes the
  // consumer, and for_each_concurrent returns when the handlers in flight are done.
  auto stop_op = conn.subscribe("pipeline.stop", {.capacity = 4});
  auto stop = co_await std::move(stop_op);
  auto watcher = tether::spawn(
      [](tn::Subscription* s, tn::Consumer* c) -> tether::Task<void> {
        co_await s->recv();
        c->close();
      }(&stop, &consumer),
      {.name = "stop-watcher"});
  std::set<std::string> seen;  // handlers run on any worker thread: guarded by the mutex
  tether::sync::Mutex<std::pair<long, long>> totals(0L, 0L);
  co_await tn::for_each_concurrent(consumer, 4, [&](const tn::Delivery& d) -> tether::Task<void> {
    long job = std::stol(std::string(d.data()));
    co_await tether::sleep(1ms);  // the "work"
    co_await totals.with([&](std::pair<long, long>& t) {
      // At-least-once: a redelivered job (same message id) is counted once.
      if (seen.insert(d.msg_id()).second) {
        t.first += 1;
        t.second += job * job;
      }
    });
  });
  co_await watcher;
  auto t_op = totals.with([](std::pair<long, long>& v) { return v; });
  auto t = co_await std::move(t_op);
  std::printf("%s %ld %ld\n", name.c_str(), t.first, t.second);
  std::fflush(stdout);
  co_await conn.close();
  co_return 0;
}

tether::Task<int> driver(std::string self, std::string url) {
  const long n = 300;
  auto w1 = tether::io::spawn({.program = self, .args = {"worker", url, "w1"}, .out = tether::io::Stdio::kPipe});
  auto w2 = tether::io::spawn({.program = self, .args = {"worker", url, "w2"}, .out = tether::io::Stdio::kPipe});
  auto p = tether::io::spawn({.program = self, .args = {"producer", url, std::to_string(n)}});
  auto produced = co_await p.wait(tether::Deadline::after(60s));
  if (!produced.success()) co_return 1;

  // Wait until every job is acknowledged, then stop the workers.
  auto conn = co_await connect(url);
  auto queue = co_await tn::WorkQueue::open(conn, kQueue, tether::Deadline::after(10s));
  for (;;) {
    auto info = co_await queue.info(tether::Deadline::after(5s));
    if (info.messages == 0) break;
    co_await tether::sleep(50ms);
  }
  {
    auto op = conn.publish("pipeline.stop", "", tether::Deadline::after(1s));
    co_await std::move(op);
  }
  co_await conn.flush(tether::Deadline::after(5s));

  long count = 0, sum = 0;
  for (auto* w : {&w1, &w2}) {
    auto out = co_await w->out->read_to_end(tether::Deadline::after(30s));
    auto status = co_await w->wait(tether::Deadline::after(30s));
    char name[16] = {0};
    long c = 0, s = 0;
    if (!status.success() || std::sscanf(out.c_str(), "%15s %ld %ld", name, &c, &s) != 3) co_return 1;
    std::printf("worker %s handled %ld jobs\n", name, c);
    count += c;
    sum += s;
  }
  const long want = n * (n + 1) * (2 * n + 1) / 6;
  std::printf("jobs handled: %ld of %ld, sum of squares %ld (want %ld)\n", count, n, sum, want);
  co_await conn.close();
  co_return count == n&& sum == want ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  tether::Runtime rt({.workers = 2});
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "producer" && argc == 4) return rt.block_on(producer(argv[2], std::atol(argv[3])));
  if (mode == "worker" && argc == 4) return rt.block_on(worker(argv[2], argv[3]));
  // The driver: one nats-server of its own, on a free port, stopped when `cluster` goes.
  tn::TestCluster cluster(1);
  cluster.start();
  return rt.block_on(driver(std::filesystem::read_symlink("/proc/self/exe").string(), cluster.urls()[0]));
}
