// examples/observe/metrics_server.cpp
//
// Shows: a program that can be watched while it runs. A producer and two workers share a bounded
// channel and a Mutex; both are registered by name in a MetricsRegistry; a MetricsServer serves
// the runtime's and the registry's metrics at /metrics in the Prometheus text format; and tether
// logs through a bounded asynchronous sink, so a slow terminal can never stall a worker (each line
// a task writes carries its task id and name).
//
// Run:  example_observe_metrics_server                     a bounded session: scrapes itself
//                                                           once, prints the channel series, exits 0
//       example_observe_metrics_server --port 9464 --duration-ms 0   serve until SIGINT/SIGTERM
//   then e.g. curl http://127.0.0.1:9464/metrics
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/io/signal.hpp"
#include "tether/observe/async_log_sink.hpp"
#include "tether/observe/metrics_registry.hpp"
#include "tether/observe/metrics_server.hpp"
#include "tether/observe/prometheus.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace observe = tether::observe;

namespace {

struct Options {
  std::uint16_t port = 0;
  long duration_ms = -1;  // -1: bounded self-scrape session; 0: until a signal; >0: that long
};

Task<void> produce(tether::mpsc::Sender<int> tx, int n) {
  for (int i = 0; i < n; ++i) {
    if (!co_await tx.send(i)) co_return;  // closed: the workers are gone
  }
}

Task<void> consume(tether::mpsc::Receiver<int> rx, tether::sync::Mutex<long>& total) {
  while (auto v = co_await rx.recv()) {
    long value = *v;
    co_await total.with([value](long& t) { t += value; });
  }
}

// One GET, the way a scraper does it: a deadline on the connection and on every read and write.
Task<std::string> scrape(tether::io::SocketAddress addr) {
  auto s = co_await tether::io::TcpStream::connect(addr, Deadline::after(5s));
  co_await s.write_all(tether::io::ConstBuffer("GET /metrics HTTP/1.1\r\nHost: example\r\n\r\n"), Deadline::after(5s));
  std::string response;
  char buf[4096];
  while (std::size_t n = co_await s.read(buf, Deadline::after(5s))) response.append(buf, n);
  co_return response;
}

Task<int> run(tether::Runtime& rt, Options opts) {
  // Register what should be visible; unregistered objects cost nothing.
  observe::MetricsRegistry registry;
  auto [tx, rx] = tether::mpsc::channel<int>(64);
  tether::sync::Mutex<long> total(0);
  auto channel_reg = registry.add_channel("jobs", tx.gauge());
  auto lock_reg = registry.add_mutex("total", total);

  auto server = observe::MetricsServer::bind(tether::io::SocketAddress::loopback_v4(opts.port));
  auto listener_reg = registry.add_listener("metrics", server.listener());
  std::printf("metrics at http://%s/metrics\n", server.local_address().to_string().c_str());
  std::fflush(stdout);
  auto serving =
      tether::spawn(server.run([&] { return observe::prometheus_text(rt, registry); }), {.name = "metrics server"});

  auto producer = tether::spawn(produce(std::move(tx), 10'000), {.name = "producer"});
  auto worker = tether::spawn(consume(std::move(rx), total), {.name = "worker"});
  rt.core().logger().info("producer and worker started");

  if (opts.duration_ms < 0) {
    co_await producer;
    co_await worker;
    std::string response = co_await scrape(server.local_address());
    // Print the channel's samples: the scrape saw the registered channel, closed and drained.
    for (std::size_t pos = 0; (pos = response.find("\ntether_channel_", pos)) != std::string::npos;) {
      std::size_t eol = response.find('\n', pos + 1);
      std::printf("%s\n", response.substr(pos + 1, eol - pos - 1).c_str());
      pos = eol;
    }
    if (response.rfind("HTTP/1.1 200 OK", 0) != 0) co_return 1;
  } else if (opts.duration_ms > 0) {
    co_await tether::sleep(std::chrono::milliseconds(opts.duration_ms));
  } else {
    co_await serving;  // until the shutdown cancels us
  }
  // The server task uses `server` and `registry`, which live in this frame: wait until it has
  // stopped before they go.
  co_await serving.abort_and_wait();
  std::printf("total = %ld\n", total.get_unsynchronized());
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) opts.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--duration-ms") == 0) opts.duration_ms = std::atol(argv[i + 1]);
  }
  // Logging never blocks a worker: a bounded queue in front of stderr; overflow is counted and
  // reported instead of waited for.
  auto logger =
      observe::make_async_logger("example", {std::make_shared<spdlog::sinks::stderr_sink_mt>()}, {.capacity = 4096});
  int rc = 1;
  {
    tether::Runtime rt({.workers = 2, .name = "metrics-example", .logger = logger});
    tether::io::ShutdownOnSignal on_signal(rt, {.grace = 2s});
    try {
      rc = rt.block_on(run(rt, opts));
    } catch (const tether::Cancelled&) {
      std::printf("shut down by signal\n");
      rc = 0;
    } catch (const tether::Error& e) {
      std::fprintf(stderr, "metrics_server: %s\n", e.what());
    }
  }
  logger.reset();  // the sink writes what is queued and joins its thread
  return rc;
}
