// tether_peer: tether's side of the peer suite (bench/suite/run.py).
//
// The command line and the one JSON line this binary prints are the contract in
// bench/suite/PROTOCOL.md; the semantics of each workload, identical in every runtime, are in
// docs/benchmarks.md. Each workload is written the way a tether user would write it: a Task run on
// a Runtime with 2 workers, spawn() + JoinHandle to wait for results, sleep() for timers, and a
// CancellationToken as the one-shot event that a countdown fires (tether's core has no Notify /
// Latch yet; those come with tether/sync/).
//
//   tether_peer spawn  n=1000000
//   tether_peer skynet n=1000000 branch=10
//   tether_peer sleep  n=1000000 max_ms=100 seed=42
//   tether_peer idle   n=1000000
//   tether_peer echo-server port=P   (server mode; SIGTERM ends it; uring=1: io_uring backend)
//
//   tether_peer mpsc n=10000000 producers=P capacity=1024
//   tether_peer pingpong n=1000000
//   tether_peer mutex tasks=1000 iters=1000
//   tether_peer actor-tell n=1000000
//   tether_peer actor-ask n=100000
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "tether/actor/actor.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/signal.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/tether.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using tether::JoinHandle;
using tether::Task;

// ---------------------------------------------------------------------------------------------
// Protocol plumbing
// ---------------------------------------------------------------------------------------------
std::map<std::string, std::uint64_t> params;
std::string workload;

std::uint64_t param(const char* key, std::uint64_t def) {
  auto it = params.find(key);
  return it == params.end() ? def : it->second;
}

// What a workload's body hands back to main(): the verdict and the figures of the result line.
struct Outcome {
  bool ok = true;
  std::uint64_t elapsed_ns = 0;
  std::uint64_t ops = 0;
  std::string extras;  // ",\"check\":123" etc.
  std::string error;   // only when !ok
};

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

void print_line(const Outcome& o) {
  std::printf("{\"runtime\":\"tether\",\"workload\":\"%s\",\"ok\":%s,\"elapsed_ns\":%" PRIu64 ",\"ops\":%" PRIu64
              "%s%s}\n",
              json_escape(workload).c_str(), o.ok ? "true" : "false", o.elapsed_ns, o.ops, o.extras.c_str(),
              o.ok ? "" : (",\"error\":\"" + json_escape(o.error) + "\"").c_str());
  std::fflush(stdout);
}

std::string field(const char* key, std::uint64_t v) { return ",\"" + std::string(key) + "\":" + std::to_string(v); }

std::uint64_t since_ns(Clock::time_point t0) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

Outcome failed(std::string error) {
  Outcome o;
  o.ok = false;
  o.error = std::move(error);
  return o;
}

// The suite's shared generator (PROTOCOL.md), the same constants in every peer.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() noexcept {
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

// Resident set in bytes, from /proc/self/statm (second field × page size), as every peer reads it.
std::uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// A countdown (a WaitGroup): the last finish() fires a CancellationToken that wait() awaits. The
// token is tether's one-shot event in the core layer: cancel() wakes every waiter of cancelled().
// The Countdown lives in the waiting task's frame, which outlives every finish(): wait() returns
// only after the last finish() has called cancel(), and cancel() holds its own reference on the
// token's state while it runs.
class Countdown {
 public:
  explicit Countdown(std::uint64_t n) : left_(n) {}
  void finish() noexcept {
    // acq_rel: the last finisher sees every other finisher's writes, and the waiter (through the
    // token's release/acquire) sees them all.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.cancel();
  }
  tether::CancellationToken::CancelledAwaiter wait() const noexcept { return done_.cancelled(); }

 private:
  std::atomic<std::uint64_t> left_;
  tether::CancellationToken done_;
};

// ---------------------------------------------------------------------------------------------
// spawn: n trivial tasks, each returning 1; the main task awaits every JoinHandle in order.
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> one() { co_return 1; }

Task<Outcome> spawn_workload(std::uint64_t n) {
  auto t0 = Clock::now();
  std::vector<JoinHandle<std::uint64_t>> handles;
  handles.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) handles.push_back(tether::spawn(one()));
  std::uint64_t sum = 0;
  for (auto& h : handles) sum += co_await h;
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  if (sum != n) co_return failed("spawn: " + std::to_string(sum) + " tasks ran, want " + std::to_string(n));
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// skynet: a node of size > 1 spawns `branch` children and sums their JoinHandles; a leaf returns
// its number.
// ---------------------------------------------------------------------------------------------
Task<std::uint64_t> skynet_node(std::uint64_t num, std::uint64_t size, std::uint64_t branch) {
  if (size == 1) co_return num;
  std::uint64_t child = size / branch;
  std::vector<JoinHandle<std::uint64_t>> handles;
  handles.reserve(branch);
  for (std::uint64_t i = 0; i < branch; ++i)
    handles.push_back(tether::spawn(skynet_node(num + i * child, child, branch)));
  std::uint64_t sum = 0;
  for (auto& h : handles) sum += co_await h;
  co_return sum;
}

Task<Outcome> skynet_workload(std::uint64_t n, std::uint64_t branch) {
  if (branch < 2) co_return failed("skynet: branch must be at least 2");
  auto t0 = Clock::now();
  std::uint64_t sum = co_await tether::spawn(skynet_node(0, n, branch));
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  std::uint64_t tasks = 0;
  for (std::uint64_t level = 1; level <= n; level *= branch) tasks += level;
  o.ops = tasks;
  o.extras = field("check", sum);
  std::uint64_t want = n * (n - 1) / 2;
  if (sum != want) co_return failed("skynet: sum " + std::to_string(sum) + ", want " + std::to_string(want));
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// sleep: one task per drawn duration; each sleeps, then counts itself down.
// ---------------------------------------------------------------------------------------------
Task<void> sleeper(std::uint64_t ms, Countdown* done) {
  co_await tether::sleep(std::chrono::milliseconds(ms));
  done->finish();
}

Task<Outcome> sleep_workload(std::uint64_t n, std::uint64_t max_ms, std::uint64_t seed) {
  SplitMix64 rng{seed};
  auto t0 = Clock::now();
  Countdown done(n);
  std::uint64_t check = 0, longest = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t ms = rng.next() % (max_ms + 1);
    check += ms;
    longest = std::max(longest, ms);
    tether::spawn(sleeper(ms, &done)).detach();
  }
  if (n) co_await done.wait();
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  o.extras = field("check", check) + field("longest_ms", longest);
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// idle: n tasks park on one shared release signal (a CancellationToken that is never cancelled
// until the measurement is taken); no per-task allocation by the benchmark, no handles kept.
// ---------------------------------------------------------------------------------------------
Task<void> idler(const tether::CancellationToken* release, std::atomic<std::uint64_t>* parked, Countdown* done) {
  parked->fetch_add(1, std::memory_order_relaxed);
  co_await release->cancelled();
  done->finish();
}

Task<Outcome> idle_workload(std::uint64_t n) {
  std::uint64_t before = rss_bytes();
  auto t0 = Clock::now();
  tether::CancellationToken release;
  std::atomic<std::uint64_t> parked{0};
  Countdown done(n);
  for (std::uint64_t i = 0; i < n; ++i) tether::spawn_detached(idler(&release, &parked, &done));
  while (parked.load(std::memory_order_relaxed) < n) co_await tether::sleep(std::chrono::milliseconds(1));
  co_await tether::sleep(std::chrono::milliseconds(10));
  std::uint64_t after = rss_bytes();
  release.cancel();
  if (n) co_await done.wait();
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  double per_task = n ? (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(n) : 0.0;
  char buf[64];
  std::snprintf(buf, sizeof buf, ",\"bytes_per_task\":%.3f", per_task);
  o.extras = buf + field("rss_before", before) + field("rss_parked", after);
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// mpsc: one bounded channel of `capacity`; `producers` tasks, producer p sends p, p+P, p+2P, ... < n;
// the main task drops its sender and receives exactly n values, checking their sum.
// ---------------------------------------------------------------------------------------------
Task<void> mpsc_producer(tether::mpsc::Sender<std::uint64_t> tx, std::uint64_t first, std::uint64_t step,
                         std::uint64_t n) {
  for (std::uint64_t v = first; v < n; v += step) co_await tx.send(v);
}

Task<Outcome> mpsc_workload(std::uint64_t n, std::uint64_t producers, std::uint64_t capacity) {
  auto t0 = Clock::now();
  auto [tx, rx] = tether::mpsc::channel<std::uint64_t>(capacity);
  std::vector<JoinHandle<void>> hs;
  for (std::uint64_t p = 0; p < producers; ++p) hs.push_back(tether::spawn(mpsc_producer(tx, p, producers, n)));
  { auto drop = std::move(tx); }  // only the producers hold senders now
  std::uint64_t sum = 0, got = 0;
  while (auto v = co_await rx.recv()) {
    sum += *v;
    ++got;
  }
  for (auto& h : hs) co_await h;
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = got;
  o.extras = field("check", sum);
  if (got != n || sum != n * (n - 1) / 2)
    o = failed("mpsc: received " + std::to_string(got) + " values, sum " + std::to_string(sum));
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// pingpong: two channels of capacity 1; the main task sends i and waits for i+1 back.
// ---------------------------------------------------------------------------------------------
Task<void> pong(tether::mpsc::Receiver<std::uint64_t> rx, tether::mpsc::Sender<std::uint64_t> tx) {
  while (auto v = co_await rx.recv()) co_await tx.send(*v + 1);
}

Task<Outcome> pingpong_workload(std::uint64_t n) {
  auto t0 = Clock::now();
  auto [ping_tx, ping_rx] = tether::mpsc::channel<std::uint64_t>(1);
  auto [pong_tx, pong_rx] = tether::mpsc::channel<std::uint64_t>(1);
  auto peer = tether::spawn(pong(std::move(ping_rx), std::move(pong_tx)));
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await ping_tx.send(i);
    auto r = co_await pong_rx.recv();
    if (!r || *r != i + 1) ++bad;
  }
  { auto drop = std::move(ping_tx); }
  co_await peer;
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  if (bad) o = failed("pingpong: " + std::to_string(bad) + " wrong replies");
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// actor-tell: one sender task tells n integers to a summing actor (mailbox 1024: the sender waits
// while it is full), then asks for the sum. actor-ask: a client asks an actor n times in
// sequence, each ask with a 10 s deadline; the reply is the request + 1. (Peer: bench/peers/caf.)
// ---------------------------------------------------------------------------------------------
struct SumOf {
  tether::Reply<std::int64_t> reply;
};
struct Summer {
  using Message = std::variant<std::int64_t, SumOf>;
  std::int64_t sum = 0;
  void handle(std::int64_t& x) { sum += x; }
  void handle(SumOf& m) { m.reply.send(sum); }
};

Task<Outcome> actor_tell_workload(std::uint64_t n) {
  auto t0 = Clock::now();
  auto summer = tether::spawn_actor<Summer>({.name = "summer", .mailbox = 1024});
  const auto& ref = summer.ref();
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) (void)co_await ref.tell(i);
  std::int64_t sum = co_await ref.ask(SumOf{}, tether::Deadline::after(std::chrono::seconds(60)));
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  o.extras = ",\"check\":" + std::to_string(sum);
  const auto expect = static_cast<std::int64_t>(n * (n - 1) / 2);
  if (sum != expect) o = failed("actor-tell: sum " + std::to_string(sum) + " != " + std::to_string(expect));
  summer.stop(tether::StopMode::kDrain);
  co_await summer.join();
  co_return o;
}

struct PlusOne {
  std::int64_t x = 0;
  tether::Reply<std::int64_t> reply;
};
struct Echo {
  using Message = PlusOne;
  void handle(PlusOne& m) { m.reply.send(m.x + 1); }
};

Task<Outcome> actor_ask_workload(std::uint64_t n) {
  auto t0 = Clock::now();
  auto server = tether::spawn_actor<Echo>({.name = "echo", .mailbox = 64});
  const auto& ref = server.ref();
  std::uint64_t bad = 0;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
    std::int64_t r = co_await ref.ask(PlusOne{i, {}}, tether::Deadline::after(std::chrono::seconds(10)));
    if (r != i + 1) ++bad;
  }
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = n;
  if (bad) o = failed("actor-ask: " + std::to_string(bad) + " wrong replies");
  server.stop(tether::StopMode::kDrain);
  co_await server.join();
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// mutex: `tasks` tasks each increment one tether::sync::Mutex<uint64_t> `iters` times with with().
// ---------------------------------------------------------------------------------------------
Task<void> mutex_worker(tether::sync::Mutex<std::uint64_t>* m, std::uint64_t iters) {
  for (std::uint64_t i = 0; i < iters; ++i) co_await m->with([](std::uint64_t& c) { ++c; });
}

Task<Outcome> mutex_workload(std::uint64_t tasks, std::uint64_t iters) {
  auto t0 = Clock::now();
  tether::sync::Mutex<std::uint64_t> m(0);
  std::vector<JoinHandle<void>> hs;
  hs.reserve(tasks);
  for (std::uint64_t t = 0; t < tasks; ++t) hs.push_back(tether::spawn(mutex_worker(&m, iters)));
  for (auto& h : hs) co_await h;
  std::uint64_t count = co_await m.with([](std::uint64_t& c) { return c; });
  Outcome o;
  o.elapsed_ns = since_ns(t0);
  o.ops = tasks * iters;
  o.extras = field("check", count);
  if (count != tasks * iters) o = failed("mutex: counter " + std::to_string(count));
  co_return o;
}

// ---------------------------------------------------------------------------------------------
// echo-server (PROTOCOL.md "Server mode"): the I/O engineer's function. A TcpListener on
// 127.0.0.1:port, one task per connection (TCP_NODELAY, reads of up to 4096 bytes echoed back until
// EOF), every read and write bounded by the runtime's io_timeout as tether code always is; SIGTERM
// or SIGINT -> ShutdownOnSignal -> Runtime::shutdown(200 ms), then the result line and exit 0.
// ---------------------------------------------------------------------------------------------
Task<void> echo_connection(tether::io::TcpStream s) {
  s.set_nodelay(true);
  char buf[4096];
  try {
    for (;;) {
      std::size_t n = co_await s.read(buf);
      if (n == 0) co_return;
      co_await s.write_all(tether::io::ConstBuffer(buf, n));
    }
  } catch (const tether::io::Error&) {
    // reset by the load generator at the end of the run
  }
}

Task<void> echo_accept_loop(tether::io::TcpListener& listener) {
  for (;;) {
    auto s = co_await listener.accept(tether::Deadline::never());
    tether::spawn(echo_connection(std::move(s))).detach();
  }
}

int echo_server() {
  spdlog::set_level(spdlog::level::warn);
  auto port = static_cast<std::uint16_t>(param("port", 0));
  std::uint64_t connections = 0;
  tether::RuntimeMetrics metrics;
  {
    // stdout carries only the protocol's lines: the runtime logs (warn and up) go to stderr.
    auto log = spdlog::stderr_logger_mt("tether-echo");
    log->set_level(spdlog::level::warn);
    // uring=1: sockets on the io_uring backend instead of epoll.
    tether::Runtime rt({.workers = static_cast<unsigned>(param("workers", 2)),
                        .name = "peer",
                        .io_backend = param("uring", 0) ? tether::IoBackend::kIoUring : tether::IoBackend::kEpoll,
                        .spin_before_park = std::chrono::microseconds(param("spin_us", 0)),
                        .logger = log});
    tether::io::ShutdownOnSignal on_signal(rt, {.grace = std::chrono::milliseconds(200)});
    try {
      rt.block_on([](std::uint16_t port, std::uint64_t* connections) -> Task<void> {
        auto listener =
            tether::io::TcpListener::bind(tether::io::SocketAddress::loopback_v4(port), {.max_connections = 100'000});
        std::printf("{\"ready\":true,\"runtime\":\"tether\",\"workload\":\"echo-server\",\"port\":%u}\n",
                    static_cast<unsigned>(listener.local_address().port()));
        std::fflush(stdout);
        struct Count {
          tether::io::TcpListener& l;
          std::uint64_t* out;
          ~Count() { *out = l.stats().accepted; }
        } count{listener, connections};
        co_await echo_accept_loop(listener);
      }(port, &connections));
    } catch (const tether::Cancelled&) {
      // the signal's shutdown: expected
    } catch (const std::exception& e) {
      std::printf("{\"runtime\":\"tether\",\"workload\":\"echo-server\",\"ok\":false,\"error\":\"%s\"}\n",
                  json_escape(e.what()).c_str());
      return 1;
    }
    metrics = rt.metrics();
  }
  // parks and steals: how often the workers slept and took work from each other (scheduler tuning).
  std::printf(
      "{\"runtime\":\"tether\",\"workload\":\"echo-server\",\"ok\":true,\"connections\":%llu,\"parks\":%llu,"
      "\"steals\":%llu}\n",
      static_cast<unsigned long long>(connections), static_cast<unsigned long long>(metrics.parks),
      static_cast<unsigned long long>(metrics.steals));
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tether_peer <workload> [key=value ...]\n");
    return 2;
  }
  workload = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos || eq + 1 == a.size()) {
      std::fprintf(stderr, "tether_peer: argument '%s' is not key=value\n", a.c_str());
      return 2;
    }
    params[a.substr(0, eq)] = std::strtoull(a.c_str() + eq + 1, nullptr, 10);
  }

  if (workload == "echo-server") return echo_server();
  if (workload != "spawn" && workload != "skynet" && workload != "sleep" && workload != "idle" && workload != "mpsc" &&
      workload != "pingpong" && workload != "mutex" && workload != "actor-tell" && workload != "actor-ask") {
    std::fprintf(stderr, "tether_peer: unknown workload '%s'\n", workload.c_str());
    return 2;
  }

  // Task lifecycle logging is measured too: keep it at warn (failures still reach the log).
  spdlog::set_level(spdlog::level::warn);
  Outcome o;
  try {
    tether::Runtime rt({.workers = static_cast<unsigned>(param("workers", 2)),
                        .name = "peer",
                        .spin_before_park = std::chrono::microseconds(param("spin_us", 0))});
    // block_on spawns the body as a task on the workers, so its spawns go where any task's go.
    if (workload == "spawn") {
      o = rt.block_on(spawn_workload(param("n", 1'000'000)));
    } else if (workload == "skynet") {
      o = rt.block_on(skynet_workload(param("n", 1'000'000), param("branch", 10)));
    } else if (workload == "mpsc") {
      o = rt.block_on(mpsc_workload(param("n", 10'000'000), param("producers", 1), param("capacity", 1024)));
    } else if (workload == "pingpong") {
      o = rt.block_on(pingpong_workload(param("n", 1'000'000)));
    } else if (workload == "actor-tell") {
      o = rt.block_on(actor_tell_workload(param("n", 1'000'000)));
    } else if (workload == "actor-ask") {
      o = rt.block_on(actor_ask_workload(param("n", 100'000)));
    } else if (workload == "mutex") {
      o = rt.block_on(mutex_workload(param("tasks", 1000), param("iters", 1000)));
    } else if (workload == "sleep") {
      o = rt.block_on(sleep_workload(param("n", 1'000'000), param("max_ms", 100), param("seed", 42)));
    } else {
      o = rt.block_on(idle_workload(param("n", 1'000'000)));
    }
  } catch (const std::exception& e) {
    o = failed(std::string("exception: ") + e.what());
  }
  print_line(o);
  return o.ok ? 0 : 1;
}
