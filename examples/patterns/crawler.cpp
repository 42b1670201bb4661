// examples/patterns/crawler.cpp
//
// Shows bounded fan-out / fan-in: a crawler visits a small web of pages served by a loopback TCP
// server inside this program, level by level, fetching each level's pages with map_concurrent and a
// limit of 4 connections. The server counts connections open at once, so the run proves the limit
// held; every fetch has a deadline; the first failed fetch would cancel the rest of its level.
// Also shows when_all for two independent lookups.
//
// Run: build/<dir>/examples/example_patterns_crawler   (exits 0 on success, in well under a second)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/buffered.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/patterns/map_concurrent.hpp"
#include "tether/patterns/when_all.hpp"
#include "tether/task/task_tracker.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

constexpr int kPages = 60;
constexpr std::size_t kLimit = 4;

// The site: page N links to 2N+1, 2N+2 and N/2 (a tree with back links), pages 0..kPages-1.
std::string page_body(int n) {
  std::string links;
  for (int l : {2 * n + 1, 2 * n + 2, n / 2}) {
    if (l < kPages) links += " " + std::to_string(l);
  }
  return "links" + links;
}

struct ServerStats {
  std::atomic<int> open{0};
  std::atomic<int> max_open{0};
  std::atomic<int> requests{0};
};

// One connection: reads "GET N", answers with the page's links after a short "think time".
Task<void> serve(io::TcpStream s, ServerStats* stats) {
  int now = stats->open.fetch_add(1) + 1;
  int seen = stats->max_open.load();
  while (now > seen && !stats->max_open.compare_exchange_weak(seen, now)) {
  }
  io::BufReader reader(s);
  std::string line;
  if (co_await reader.read_line(line, Deadline::after(2s))) {
    stats->requests.fetch_add(1);
    int n = std::stoi(line.substr(4));
    co_await tether::sleep(2ms);  // the server's work
    co_await s.write_all(page_body(n) + "\n", Deadline::after(2s));
  }
  stats->open.fetch_sub(1);
}

Task<void> accept_loop(io::TcpListener* l, ServerStats* stats, tether::TaskTracker* connections) {
  // Each connection is its own task, tracked so that none outlives the server (they use `stats`);
  // a failure in one is logged by the runtime, not lost.
  for (;;) connections->spawn_background(serve(co_await l->accept(Deadline::never()), stats), {.name = "page server"});
}

// The client side of one fetch: connect, ask, read one line, all under deadlines.
Task<std::vector<int>> fetch(io::SocketAddress addr, int page) {
  io::TcpStream s = co_await io::TcpStream::connect(addr, Deadline::after(2s));
  co_await s.write_all("GET " + std::to_string(page) + "\n", Deadline::after(2s));
  io::BufReader reader(s);
  std::string line;
  if (!co_await reader.read_line(line, Deadline::after(2s)))
    throw tether::Error("empty reply for page " + std::to_string(page));
  std::istringstream words(line.substr(5));
  std::vector<int> links;
  for (int l; words >> l;) links.push_back(l);
  co_return links;
}

// Counts fetches in flight on the client side (the number map_concurrent bounds).
struct InFlight {
  std::atomic<int> now{0};
  std::atomic<int> max{0};
};

Task<std::vector<int>> counted_fetch(io::SocketAddress addr, int page, InFlight* f) {
  int n = f->now.fetch_add(1) + 1;
  int m = f->max.load();
  while (n > m && !f->max.compare_exchange_weak(m, n)) {
  }
  auto links = co_await fetch(addr, page);
  f->now.fetch_sub(1);
  co_return links;
}

Task<int> crawl() {
  auto listener = io::TcpListener::bind(io::SocketAddress::loopback_v4(0));
  io::SocketAddress addr = listener.local_address();
  ServerStats stats;
  tether::TaskTracker connections({.name = "page server"});
  auto server = tether::spawn(accept_loop(&listener, &stats, &connections), {.name = "accept loop"});

  InFlight in_flight;
  std::set<int> visited{0};
  std::vector<int> frontier{0};
  int levels = 0;
  while (!frontier.empty()) {
    // Fan out over this level with at most kLimit fetches in flight; results in frontier order.
    auto pages =
        co_await tether::map_concurrent(frontier, kLimit, [&](int p) { return counted_fetch(addr, p, &in_flight); });
    std::vector<int> next;
    for (const auto& links : pages) {
      for (int l : links) {
        if (visited.insert(l).second) next.push_back(l);
      }
    }
    frontier = std::move(next);
    ++levels;
  }

  // Two independent lookups at once.
  auto [first, last] = co_await tether::when_all(fetch(addr, 0), fetch(addr, kPages - 1));

  co_await server.abort_and_wait();
  // The connection tasks use `stats`: stop them and wait before it goes out of scope.
  connections.close();
  connections.cancel();
  co_await connections.wait();
  std::printf(
      "crawled %zu pages in %d levels with %d requests; at most %d fetches in flight (limit %zu), "
      "%d connections open on the server; page 0 links to %zu pages, page %d to %zu\n",
      visited.size(), levels, stats.requests.load(), in_flight.max.load(), kLimit, stats.max_open.load(), first.size(),
      kPages - 1, last.size());
  bool ok = visited.size() == static_cast<std::size_t>(kPages) && in_flight.max.load() <= static_cast<int>(kLimit);
  co_return ok ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2, .name = "crawler"});
  try {
    return rt.block_on(crawl());
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "crawler: %s\n", e.what());
    return 1;
  }
}
