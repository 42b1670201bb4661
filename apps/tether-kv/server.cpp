// The server as a whole: options, the accept loop with its client bound, the expiry task, the
// metrics endpoint and the shutdown sequence.
//
// Task tree (every task is tracked; nothing is fire-and-forget):
//   run_server                      owns everything below; waits for SIGINT/SIGTERM
//   ├─ accept loop                  one per listener; spawns into `connections`
//   ├─ connections (TaskTracker)    one task per client (+ its pusher in pub/sub mode)
//   ├─ background (TaskTracker)     expiry sampler, everysec ticker, metrics endpoint, AOF rewrite
//   └─ AOF writer                   the only task that writes the log
//
// Shutdown sequence (first SIGINT/SIGTERM; a second one exits at once with 130):
//   1. stop accepting: abort the accept loops and close the listeners;
//   2. cancel the connections: each finishes the batch it is executing (shielded), writes its
//      replies, and stops at its next read; wait for them within the grace period;
//   3. cancel the background tasks;
//   4. send kShutdown to the AOF writer: it writes and fsyncs everything queued, then stops;
//   5. report (stderr) and return 0, or 1 if something outlived the grace period.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "commands.hpp"
#include "persistence.hpp"
#include "pubsub.hpp"
#include "server.hpp"
#include "tether/core/error.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/signal.hpp"
#include "tether/observe/metrics_registry.hpp"
#include "tether/observe/metrics_server.hpp"
#include "tether/observe/prometheus.hpp"
#include "tether/time/interval.hpp"
#include "tether/time/sleep.hpp"
#include "tether/time/timeout.hpp"

namespace tether::kv {

using namespace std::chrono_literals;

Millis unix_millis() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void log_line(char level, const std::string& message) {
  char stamp[64];
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::size_t n = std::strftime(stamp, sizeof stamp, "%d %b %Y %H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03lld", static_cast<long long>(ms));
  std::fprintf(stderr, "%d:M %s %c %s\n", static_cast<int>(::getpid()), stamp, level, message.c_str());
}

void print_usage(const char* argv0) {
  std::printf(
      "usage: %s [options]\n"
      "  --port N                 TCP port (default 6380)\n"
      "  --bind ADDR              numeric address to listen on (default 127.0.0.1)\n"
      "  --dir PATH               data directory (default ./tether-kv-data)\n"
      "  --appendonly yes|no      keep an append-only log (default yes)\n"
      "  --appendfsync always|everysec|no   (default everysec)\n"
      "  --maxclients N           connected clients at most (default 10000)\n"
      "  --timeout SECONDS        idle client timeout, 0 = none (default 300)\n"
      "  --write-timeout-ms N     deadline of every write to a client (default 10000)\n"
      "  --shards N               keyspace shards (default 64)\n"
      "  --proto-max-bulk-len N   largest bulk string accepted (default 536870912)\n"
      "  --workers N              runtime worker threads, 0 = one per core (default 0)\n"
      "  --metrics-port N         serve Prometheus metrics at http://BIND:N/metrics (default off)\n"
      "  --aof-rewrite-min-size N compact the log past this many bytes (default 67108864)\n"
      "  --subscriber-queue N     messages buffered per subscriber before it is dropped (default 1024)\n"
      "  --shutdown-grace-ms N    graceful shutdown bound (default 5000)\n",
      argv0);
}

std::string parse_args(int argc, char** argv, ServerConfig& c, bool& help) {
  help = false;
  auto number = [](const char* s, unsigned long long max, unsigned long long& out) {
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && out <= max && s[0] != '-';
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help = true;
      return {};
    }
    if (a.rfind("--", 0) != 0) return "unexpected argument '" + a + "'";
    std::string value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else {
      if (i + 1 >= argc) return "option " + a + " needs a value";
      value = argv[++i];
    }
    unsigned long long n = 0;
    auto need_number = [&](unsigned long long max) {
      if (!number(value.c_str(), max, n)) throw std::invalid_argument("bad value '" + value + "' for " + a);
    };
    try {
      if (a == "--port") {
        need_number(65535);
        c.port = static_cast<std::uint16_t>(n);
      } else if (a == "--bind") {
        c.bind = value;
      } else if (a == "--dir") {
        c.dir = value;
      } else if (a == "--appendonly") {
        if (value != "yes" && value != "no") return "--appendonly must be yes or no";
        c.appendonly = value == "yes";
      } else if (a == "--appendfsync") {
        if (value == "always") {
          c.appendfsync = AppendFsync::kAlways;
        } else if (value == "everysec") {
          c.appendfsync = AppendFsync::kEverySec;
        } else if (value == "no") {
          c.appendfsync = AppendFsync::kNo;
        } else {
          return "--appendfsync must be always, everysec or no";
        }
      } else if (a == "--maxclients") {
        need_number(1'000'000);
        if (n == 0) return "--maxclients must be at least 1";
        c.maxclients = n;
      } else if (a == "--timeout") {
        need_number(100'000'000);
        c.timeout_s = static_cast<std::int64_t>(n);
      } else if (a == "--write-timeout-ms") {
        need_number(3'600'000);
        if (n == 0) return "--write-timeout-ms must be at least 1";
        c.write_timeout = std::chrono::milliseconds(n);
      } else if (a == "--shards") {
        need_number(65536);
        if (n == 0) return "--shards must be at least 1";
        c.shards = n;
      } else if (a == "--proto-max-bulk-len") {
        need_number(1ull << 40);
        if (n < 1024) return "--proto-max-bulk-len must be at least 1024";
        c.proto_max_bulk_len = n;
      } else if (a == "--workers") {
        need_number(1024);
        c.workers = static_cast<unsigned>(n);
      } else if (a == "--metrics-port") {
        need_number(65535);
        c.metrics_port = static_cast<std::uint16_t>(n);
      } else if (a == "--aof-rewrite-min-size") {
        need_number(1ull << 50);
        c.aof_rewrite_min_size = n;
      } else if (a == "--subscriber-queue") {
        need_number(1'000'000);
        if (n == 0) return "--subscriber-queue must be at least 1";
        c.subscriber_queue = n;
      } else if (a == "--shutdown-grace-ms") {
        need_number(3'600'000);
        c.shutdown_grace = std::chrono::milliseconds(n);
      } else {
        return "unknown option '" + a + "'";
      }
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  }
  return {};
}

namespace {

// Over the client bound: Redis's error, then close. Bounded by a short write deadline.
Task<void> reject_client(io::TcpStream stream) {
  try {
    co_await stream.write_all(std::string_view("-ERR max number of clients reached\r\n"), Deadline::after(1s));
  } catch (const Cancelled&) {
    throw;
  } catch (const Error&) {
  }
}

Task<void> accept_loop(ServerContext& ctx, io::TcpListener& listener, TaskTracker& connections) {
  for (;;) {
    io::TcpStream stream;
    bool failed = false;
    try {
      // An accept loop waits for clients without bound, and says so.
      stream = co_await listener.accept(Deadline::never());
    } catch (const io::Error& e) {
      log_line('#', std::string("accept: ") + e.what());
      failed = true;
    }
    if (failed) {
      co_await sleep(10ms);
      continue;
    }
    bump(ctx.stats.connections_received);
    // Connection tasks are tracked (shutdown waits for them) and a failure is logged by the
    // runtime, so their handles are not kept.
    if (read(ctx.stats.connected_clients) >= ctx.config.maxclients) {
      bump(ctx.stats.rejected_connections);
      connections.spawn_background(reject_client(std::move(stream)), {.name = "reject client"});
      continue;
    }
    bump(ctx.stats.connected_clients);  // released by serve_connection
    connections.spawn_background(serve_connection(ctx, std::move(stream)), {.name = "client"});
  }
}

// Active expiry, Redis's way: ten times a second, sample each shard's keys with a TTL and delete
// the expired ones; repeat on a shard while more than a quarter of its sample had expired (within
// a bound), so memory held by expired keys stays small without scanning everything.
Task<void> expiry_loop(ServerContext& ctx) {
  Interval every(100ms, MissedTick::kSkip);
  for (;;) {
    co_await every.tick();
    for (auto& shard : ctx.shards) {
      for (int round = 0; round < 16; ++round) {
        const Millis now = unix_millis();
        ExpireStats st = co_await shard->with([now](ShardCell& c) { return c.shard.expire_sample(now, 20); });
        bump(ctx.stats.expired_keys, st.expired);
        if (st.expired * 4 <= st.sampled) break;
      }
    }
  }
}

// The server's own counters in the Prometheus text format, after the runtime's and the
// registry's (observe::prometheus_text()).
std::string kv_metrics_text(const ServerStats& st) {
  std::string out;
  auto family = [&out](const char* name, const char* type, const char* help, std::uint64_t value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(value) + "\n";
  };
  family("tether_kv_connections_received_total", "counter", "Client connections accepted.",
         read(st.connections_received));
  family("tether_kv_connected_clients", "gauge", "Clients connected now.", read(st.connected_clients));
  family("tether_kv_rejected_connections_total", "counter", "Connections refused at maxclients.",
         read(st.rejected_connections));
  family("tether_kv_commands_processed_total", "counter", "Commands executed.", read(st.commands_processed));
  family("tether_kv_expired_keys_total", "counter", "Keys removed by expiry.", read(st.expired_keys));
  family("tether_kv_protocol_errors_total", "counter", "Clients dropped for protocol errors.",
         read(st.protocol_errors));
  family("tether_kv_write_timeouts_total", "counter", "Clients dropped because they stopped reading.",
         read(st.write_timeouts));
  family("tether_kv_net_input_bytes_total", "counter", "Bytes read from clients.", read(st.net_input_bytes));
  family("tether_kv_net_output_bytes_total", "counter", "Bytes written to clients.", read(st.net_output_bytes));
  family("tether_kv_aof_size_bytes", "gauge", "Size of the append-only file.", read(st.aof_current_size));
  family("tether_kv_aof_fsyncs_total", "counter", "fsync calls on the append-only file.", read(st.aof_fsyncs));
  return out;
}

// The opt-in /metrics endpoint (--metrics-port): bounded connections, deadlines on every read and
// write (observe::MetricsServer). Runs until the background tracker cancels it at shutdown.
Task<void> metrics_loop(ServerContext& ctx, observe::MetricsServer server, const observe::MetricsRegistry& registry) {
  const ServerStats* stats = &ctx.stats;
  Runtime* runtime = &ctx.runtime;
  const observe::MetricsRegistry* reg = &registry;
  co_await server.run(
      [stats, runtime, reg] { return observe::prometheus_text(*runtime, *reg) + kv_metrics_text(*stats); });
}

std::atomic<int> g_stop_before_serving{0};  // written by a signal handler: lock-free, see below
static_assert(std::atomic<int>::is_always_lock_free);

void record_stop_signal(int sig) { g_stop_before_serving.store(sig, std::memory_order_relaxed); }

// A second SIGINT/SIGTERM during the graceful shutdown: exit at once, as Redis does.
Task<void> exit_on_second_signal(io::Signals signals) {
  int sig = co_await signals.recv(Deadline::never());
  log_line('#',
           std::string("Received ") + stop_signal_name(sig) + " again: exiting now without finishing the shutdown");
  std::_Exit(130);
}

}  // namespace

void hold_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = &record_stop_signal;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal_before_serving() noexcept { return g_stop_before_serving.load(std::memory_order_relaxed); }

const char* stop_signal_name(int sig) noexcept { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

Task<int> run_server(const ServerConfig& config, Runtime& runtime, ServerStats& stats, Keyspace& keyspace) {
  io::Signals signals{SIGINT, SIGTERM};
  // A signal after main's replay but before the line above went to hold_stop_signals()'s handler.
  if (int sig = stop_signal_before_serving()) {
    log_line('#', std::string("Received ") + stop_signal_name(sig) + " during startup: exiting before serving");
    co_return 0;
  }

  std::vector<std::unique_ptr<sync::Mutex<ShardCell>>> shards;
  shards.reserve(keyspace.shard_count());
  for (std::size_t i = 0; i < keyspace.shard_count(); ++i) {
    shards.push_back(std::make_unique<sync::Mutex<ShardCell>>(ShardCell{std::move(keyspace.shard(i)), 0}));
  }
  PubSub pubsub(stats);
  ServerContext ctx{.config = config,
                    .runtime = runtime,
                    .stats = stats,
                    .shards = shards,
                    .pubsub = pubsub,
                    .aof = std::nullopt,
                    .started_at = std::chrono::steady_clock::now(),
                    .aof_path = config.dir + "/appendonly.aof"};

  io::TcpListener listener = io::TcpListener::bind(io::SocketAddress::from(config.bind, config.port),
                                                   {.max_connections = config.maxclients + 64});
  std::optional<observe::MetricsServer> metrics_server;
  if (config.metrics_port) {
    metrics_server.emplace(observe::MetricsServer::bind(io::SocketAddress::from(config.bind, *config.metrics_port)));
  }
  // What /metrics shows besides the runtime: the client listener, the AOF queue, the shard locks.
  // Declared before the background tracker's tasks start and outliving them (step 3 below).
  observe::MetricsRegistry registry;
  std::vector<observe::MetricsRegistry::Registration> registered;
  registered.push_back(registry.add_listener("clients", listener));
  for (std::size_t i = 0; i < shards.size(); ++i) {
    registered.push_back(registry.add_mutex("shard-" + std::to_string(i), *shards[i]));
  }

  TaskTracker background({.name = "background"});
  TaskTracker connections({.name = "client"});

  JoinHandle<void> writer;
  if (config.appendonly) {
    auto [tx, rx] = mpsc::channel<AofMsg>(config.aof_queue);
    ctx.aof.emplace(std::move(tx));
    registered.push_back(registry.add_channel("aof", ctx.aof->gauge()));
    io::File log = co_await open_aof_for_append(ctx.aof_path);
    writer = spawn(aof_writer(ctx, std::move(rx), std::move(log), background), {.name = "aof writer"});
    if (config.appendfsync == AppendFsync::kEverySec) {
      background.spawn_background(aof_sync_ticker(ctx), {.name = "aof everysec"});
    }
  }
  background.spawn_background(expiry_loop(ctx), {.name = "active expiry"});
  if (metrics_server) {
    log_line('*', "Serving metrics on http://" + metrics_server->local_address().to_string() + "/metrics");
    background.spawn_background(metrics_loop(ctx, std::move(*metrics_server), registry), {.name = "metrics"});
  }
  JoinHandle<void> acceptor = spawn(accept_loop(ctx, listener, connections), {.name = "accept loop"});

  log_line('*', "Ready to accept connections tcp on " + listener.local_address().to_string());
  std::printf("tether-kv ready on %s (redis-cli -h %s -p %u)\n", listener.local_address().to_string().c_str(),
              config.bind.c_str(), static_cast<unsigned>(listener.local_address().port()));
  std::fflush(stdout);

  // ---- serve until a signal ----
  int sig = co_await signals.recv(Deadline::never());
  const auto shutdown_started = std::chrono::steady_clock::now();
  const auto grace_deadline = Deadline::after(config.shutdown_grace);
  log_line('#', std::string("Received ") + stop_signal_name(sig) + " scheduling shutdown...");
  spawn(exit_on_second_signal(std::move(signals)), {.name = "second signal"})
      .detach();  // until exit: a second signal ends the process even if shutdown hangs

  // 1. Stop accepting.
  co_await acceptor.abort_and_wait();
  listener.close();

  // 2. Let in-flight commands finish, within the grace period.
  const std::uint64_t clients_at_shutdown = read(stats.connected_clients);
  connections.close();
  connections.cancel();
  bool clean = true;
  try {
    co_await timeout_at(grace_deadline, connections.wait(), "connections to finish");
  } catch (const TimedOut&) {
    clean = false;
    log_line('#', std::to_string(connections.len()) + " connection task(s) still running after the grace period");
  }

  // 3. Background tasks (expiry, ticker, metrics, a rewrite in progress).
  background.close();
  background.cancel();
  try {
    co_await timeout(1s, background.wait(), "background tasks to stop");
  } catch (const TimedOut&) {
    clean = false;
    log_line('#', "background tasks still running after cancellation");
  }

  // 4. Flush and fsync the log.
  bool log_ok = true;
  if (ctx.aof) {
    auto [tx, rx] = oneshot::channel<bool>();
    AofMsg msg{.kind = AofMsg::Kind::kShutdown};
    msg.ack.emplace(std::move(tx));
    try {
      co_await timeout(10s, ctx.aof->send(std::move(msg)), "AOF shutdown request");
      auto ok = co_await timeout(10s, rx.recv(), "AOF final fsync");
      log_ok = ok.has_value() && *ok;
      co_await timeout(10s, std::move(writer), "AOF writer to stop");
    } catch (const Error& e) {
      log_ok = false;
      log_line('#', std::string("AOF shutdown: ") + e.what());
    }
    ctx.aof.reset();
  }

  // 5. Report.
  auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - shutdown_started);
  log_line('#', "Shutdown report: " + std::to_string(clients_at_shutdown) + " client(s) closed, " +
                    std::to_string(read(stats.commands_processed)) + " commands served, AOF " +
                    (ctx.config.appendonly ? (log_ok ? "flushed and fsynced" : "NOT fully synced") : "disabled") +
                    ", took " + std::to_string(took.count()) + " ms" + (clean ? "" : ", NOT clean"));
  log_line('#', "tether-kv is now ready to exit, bye bye...");
  co_return (clean && log_ok) ? 0 : 1;
}

}  // namespace tether::kv
