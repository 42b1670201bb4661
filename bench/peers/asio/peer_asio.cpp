// peer-asio: the Boost.Asio (C++20 coroutines) side of tether's side-by-side
// benchmark suite.
//
// Usage: peer-asio <workload> [key=value ...]
// Prints exactly one JSON object on stdout (see bench/suite/PROTOCOL.md) and
// exits non-zero when the workload's own result check fails.
// Workload semantics are specified in docs/benchmarks.md.
//
// Runtime shape: one io_context, `workers` (default 2) threads calling run(),
// tasks are coroutines started with co_spawn, channels are
// experimental::concurrent_channel. The async mutex is a capacity-1
// concurrent_channel used as a lock (send = lock, try_receive = unlock).
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using Channel = asio::experimental::concurrent_channel<void(error_code, std::uint64_t)>;
using Signal = asio::experimental::concurrent_channel<void(error_code)>;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_workload;

// One result line: a flat JSON object of numbers, booleans and one string.
class Line {
 public:
  Line() { out_ << "{\"runtime\":\"asio\",\"workload\":\"" << g_workload << '"'; }
  Line& num(const char* k, std::uint64_t v) {
    out_ << ",\"" << k << "\":" << v;
    return *this;
  }
  Line& real(const char* k, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    out_ << ",\"" << k << "\":" << buf;
    return *this;
  }
  Line& flag(const char* k, bool v) {
    out_ << ",\"" << k << "\":" << (v ? "true" : "false");
    return *this;
  }
  Line& str(const char* k, const std::string& v) {
    out_ << ",\"" << k << "\":\"";
    for (char c : v) out_ << (c == '"' || c == '\\' ? '_' : c);
    out_ << '"';
    return *this;
  }
  void print() {
    out_ << "}\n";
    std::fputs(out_.str().c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  std::ostringstream out_;
};

[[noreturn]] void fail(const std::string& msg) {
  Line().flag("ok", false).str("error", msg).print();
  std::_Exit(1);
}

struct Params {
  std::map<std::string, std::string> kv;
  std::uint64_t get(const std::string& k, std::uint64_t def) const {
    auto it = kv.find(k);
    if (it == kv.end()) return def;
    char* end = nullptr;
    auto v = std::strtoull(it->second.c_str(), &end, 10);
    if (end == it->second.c_str() || *end) fail("bad value for " + k);
    return v;
  }
};

// splitmix64: the shared pseudo-random generator of the suite (same constants in every peer).
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};

std::uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::uint64_t since_ns(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

Line ok_line(Clock::time_point t0, std::uint64_t ops) {
  Line l;
  l.flag("ok", true).num("elapsed_ns", since_ns(t0)).num("ops", ops);
  return l;
}

// Any exception escaping a task ends the process loudly.
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// Counts finished tasks; the last one signals the waiter (a WaitGroup).
struct Countdown {
  std::atomic<std::uint64_t> left;
  Signal done;
  Countdown(asio::any_io_executor ex, std::uint64_t n) : left(n), done(ex, 1) {}
  void finish() {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) done.try_send(error_code{});
  }
  awaitable<void> wait() {
    if (left.load(std::memory_order_acquire) == 0) co_return;
    co_await done.async_receive(use_awaitable);
  }
};

awaitable<std::uint64_t> trivial() { co_return 1; }

awaitable<void> spawn_wl(Params p) {
  auto n = p.get("n", 1'000'000);
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Countdown cd(ex, n);
  std::atomic<std::uint64_t> sum{0};
  for (std::uint64_t i = 0; i < n; ++i)
    asio::co_spawn(ex, trivial(), [&](std::exception_ptr e, std::uint64_t v) {
      rethrow(e);
      sum.fetch_add(v, std::memory_order_relaxed);
      cd.finish();
    });
  co_await cd.wait();
  if (sum.load() != n) fail("spawn: wrong number of tasks ran");
  ok_line(t0, n).print();
}

awaitable<void> skynet_node(std::uint64_t num, std::uint64_t size, std::uint64_t branch, Channel* out) {
  if (size == 1) {
    co_await out->async_send(error_code{}, num, use_awaitable);
    co_return;
  }
  auto ex = co_await asio::this_coro::executor;
  Channel in(ex, branch);
  std::uint64_t child = size / branch;
  for (std::uint64_t i = 0; i < branch; ++i)
    asio::co_spawn(ex, skynet_node(num + i * child, child, branch, &in), rethrow);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < branch; ++i) sum += co_await in.async_receive(use_awaitable);
  co_await out->async_send(error_code{}, sum, use_awaitable);
}

awaitable<void> skynet(Params p) {
  auto n = p.get("n", 1'000'000), branch = p.get("branch", 10);
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Channel out(ex, 1);
  asio::co_spawn(ex, skynet_node(0, n, branch, &out), rethrow);
  auto sum = co_await out.async_receive(use_awaitable);
  if (sum != n * (n - 1) / 2) fail("skynet: wrong sum " + std::to_string(sum));
  std::uint64_t tasks = 0;
  for (std::uint64_t level = 1; level <= n; level *= branch) tasks += level;
  ok_line(t0, tasks).num("check", sum).print();
}

awaitable<void> producer(Channel& ch, std::uint64_t first, std::uint64_t step, std::uint64_t n) {
  for (std::uint64_t v = first; v < n; v += step) co_await ch.async_send(error_code{}, v, use_awaitable);
}

awaitable<void> mpsc_wl(Params p) {
  auto n = p.get("n", 10'000'000), producers = p.get("producers", 1), capacity = p.get("capacity", 1024);
  if (n % producers) fail("n must be a multiple of producers");
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Channel ch(ex, capacity);
  for (std::uint64_t pr = 0; pr < producers; ++pr) asio::co_spawn(ex, producer(ch, pr, producers, n), rethrow);
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; ++i) sum += co_await ch.async_receive(use_awaitable);
  if (sum != n * (n - 1) / 2) fail("mpsc: wrong sum");
  ok_line(t0, n).num("check", sum).print();
}

awaitable<void> ponger(Channel& ping, Channel& pong, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    auto v = co_await ping.async_receive(use_awaitable);
    co_await pong.async_send(error_code{}, v + 1, use_awaitable);
  }
}

awaitable<void> pingpong(Params p) {
  auto n = p.get("n", 1'000'000);
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Channel ping(ex, 1), pong(ex, 1);
  asio::co_spawn(ex, ponger(ping, pong, n), rethrow);
  for (std::uint64_t i = 0; i < n; ++i) {
    co_await ping.async_send(error_code{}, i, use_awaitable);
    auto r = co_await pong.async_receive(use_awaitable);
    if (r != i + 1) fail("pingpong: wrong reply");
  }
  ok_line(t0, n).print();
}

awaitable<void> sleeper(std::uint64_t ms, Countdown& cd) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(use_awaitable);
  cd.finish();
}

awaitable<void> sleep_wl(Params p) {
  auto n = p.get("n", 1'000'000), max_ms = p.get("max_ms", 100);
  SplitMix64 rng{p.get("seed", 42)};
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Countdown cd(ex, n);
  std::uint64_t check = 0, longest = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto ms = rng.next() % (max_ms + 1);
    check += ms;
    longest = std::max(longest, ms);
    asio::co_spawn(ex, sleeper(ms, cd), rethrow);
  }
  co_await cd.wait();
  ok_line(t0, n).num("check", check).num("longest_ms", longest).print();
}

awaitable<void> idler(Signal& release, std::atomic<std::uint64_t>& parked, Countdown& cd) {
  parked.fetch_add(1, std::memory_order_relaxed);
  // close() completes every pending receive with an error: that is the release
  co_await release.async_receive(asio::experimental::as_tuple(use_awaitable));
  cd.finish();
}

awaitable<void> idle(Params p) {
  auto n = p.get("n", 1'000'000);
  auto ex = co_await asio::this_coro::executor;
  auto before = rss_bytes();
  auto t0 = Clock::now();
  Signal release(ex, 0);
  std::atomic<std::uint64_t> parked{0};
  Countdown cd(ex, n);
  for (std::uint64_t i = 0; i < n; ++i) asio::co_spawn(ex, idler(release, parked, cd), rethrow);
  asio::steady_timer t(ex);
  while (parked.load(std::memory_order_relaxed) < n) {
    t.expires_after(std::chrono::milliseconds(1));
    co_await t.async_wait(use_awaitable);
  }
  t.expires_after(std::chrono::milliseconds(10));
  co_await t.async_wait(use_awaitable);
  auto after = rss_bytes();
  release.close();
  co_await cd.wait();
  ok_line(t0, n)
      .real("bytes_per_task", (double(after) - double(before)) / double(n))
      .num("rss_before", before)
      .num("rss_parked", after)
      .print();
}

// The async lock: a capacity-1 channel. Sending parks while another task holds
// the slot; try_receive frees it and hands it to the first waiting sender.
awaitable<void> locker(Signal& lock, std::uint64_t& counter, std::uint64_t iters) {
  for (std::uint64_t i = 0; i < iters; ++i) {
    co_await lock.async_send(error_code{}, use_awaitable);
    ++counter;
    lock.try_receive([](error_code) {});
  }
}

awaitable<void> mutex_wl(Params p) {
  auto tasks = p.get("tasks", 1000), iters = p.get("iters", 1000);
  auto ex = co_await asio::this_coro::executor;
  auto t0 = Clock::now();
  Signal lock(ex, 1);
  std::uint64_t counter = 0;
  Countdown cd(ex, tasks);
  for (std::uint64_t t = 0; t < tasks; ++t)
    asio::co_spawn(ex, locker(lock, counter, iters), [&](std::exception_ptr e) {
      rethrow(e);
      cd.finish();
    });
  co_await cd.wait();
  co_await lock.async_send(error_code{}, use_awaitable);
  auto final_count = counter;
  if (final_count != tasks * iters) fail("mutex: wrong counter " + std::to_string(final_count));
  ok_line(t0, tasks * iters).num("check", final_count).print();
}

awaitable<void> echo_conn(asio::ip::tcp::socket sock) {
  sock.set_option(asio::ip::tcp::no_delay(true));
  char buf[4096];
  for (;;) {
    auto [ec, k] = co_await sock.async_read_some(asio::buffer(buf), asio::experimental::as_tuple(use_awaitable));
    if (ec) co_return;
    auto [wec, w] = co_await asio::async_write(sock, asio::buffer(buf, k), asio::experimental::as_tuple(use_awaitable));
    if (wec) co_return;
  }
}

std::atomic<std::uint64_t> g_conns{0};

awaitable<void> accept_loop(asio::ip::tcp::acceptor& acc) {
  for (;;) {
    auto [ec, sock] = co_await acc.async_accept(asio::experimental::as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
    if (ec) continue;
    g_conns.fetch_add(1, std::memory_order_relaxed);
    asio::co_spawn(acc.get_executor(), echo_conn(std::move(sock)), asio::detached);
  }
}

void echo_server(asio::io_context& ctx, const Params& p, std::unique_ptr<asio::ip::tcp::acceptor>& acc,
                 std::unique_ptr<asio::signal_set>& sigs) {
  auto port = static_cast<unsigned short>(p.get("port", 0));
  acc = std::make_unique<asio::ip::tcp::acceptor>(ctx);
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  error_code ec;
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen: " + ec.message());
  std::printf("{\"ready\":true,\"runtime\":\"asio\",\"workload\":\"echo-server\",\"port\":%u}\n",
              acc->local_endpoint().port());
  std::fflush(stdout);
  asio::co_spawn(ctx, accept_loop(*acc), rethrow);
  sigs = std::make_unique<asio::signal_set>(ctx, SIGTERM, SIGINT);
  sigs->async_wait([&ctx](error_code, int) {
    Line().flag("ok", true).num("connections", g_conns.load()).print();
    std::_Exit(0);  // do not wait for open client connections to drain
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: peer-asio <workload> [key=value ...]\n");
    return 2;
  }
  g_workload = argv[1];
  Params p;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos) fail("argument " + a + " is not key=value");
    p.kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto workers = static_cast<int>(p.get("workers", 2));
  asio::io_context ctx(workers);
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
  std::unique_ptr<asio::signal_set> sigs;
  // The workload's main task is a coroutine on the io_context, like every other task.
  if (g_workload == "spawn")
    asio::co_spawn(ctx, spawn_wl(p), rethrow);
  else if (g_workload == "skynet")
    asio::co_spawn(ctx, skynet(p), rethrow);
  else if (g_workload == "mpsc")
    asio::co_spawn(ctx, mpsc_wl(p), rethrow);
  else if (g_workload == "pingpong")
    asio::co_spawn(ctx, pingpong(p), rethrow);
  else if (g_workload == "sleep")
    asio::co_spawn(ctx, sleep_wl(p), rethrow);
  else if (g_workload == "idle")
    asio::co_spawn(ctx, idle(p), rethrow);
  else if (g_workload == "mutex")
    asio::co_spawn(ctx, mutex_wl(p), rethrow);
  else if (g_workload == "echo-server")
    echo_server(ctx, p, acceptor, sigs);
  else {
    std::fprintf(stderr, "peer-asio: unknown workload %s\n", argv[1]);
    return 2;
  }
  std::vector<std::thread> threads;
  for (int i = 1; i < workers; ++i) threads.emplace_back([&] { ctx.run(); });
  ctx.run();
  for (auto& t : threads) t.join();
  return 0;
}
