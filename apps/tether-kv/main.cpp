// tether-kv: a Redis-protocol key-value server on tether.
//
// Run:  tether-kv                          127.0.0.1:6380, data in ./tether-kv-data
//       tether-kv --port 7000 --appendfsync always --dir /tmp/kv
//   then: redis-cli -p 6380
//
// Startup replays the append-only log (on this thread, before the runtime starts, so the shards
// are still one plain Keyspace); a corrupt log stops the server rather than serving a silently
// partial dataset, while a torn final record (a crash mid-append) is cut off and reported.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

#include "aof.hpp"
#include "server.hpp"
#include "tether/core/error.hpp"
#include "tether/core/runtime.hpp"
#include "tether/observe/dump_on_signal.hpp"

int main(int argc, char** argv) {
  using namespace tether::kv;
  ServerConfig config;
  bool help = false;
  if (std::string err = parse_args(argc, argv, config, help); !err.empty()) {
    std::fprintf(stderr, "tether-kv: %s (try --help)\n", err.c_str());
    return 2;
  }
  if (help) {
    print_usage(argv[0]);
    return 0;
  }
  // A client that disconnects mid-write must be an error on that write, not a signal that kills us.
  ::signal(SIGPIPE, SIG_IGN);

  ServerStats stats;
  Keyspace keyspace({.shards = config.shards});
  hold_stop_signals();  // until run_server listens: a SIGTERM during the replay ends it cleanly
  if (config.appendonly) {
    std::error_code ec;
    std::filesystem::create_directories(config.dir, ec);
    if (ec) {
      std::fprintf(stderr, "tether-kv: cannot create data dir %s: %s\n", config.dir.c_str(), ec.message().c_str());
      return 1;
    }
    const std::string path = config.dir + "/appendonly.aof";
    std::filesystem::remove(path + ".rewrite", ec);  // an interrupted compaction's leftovers
    log_line('*', "Loading the append only file " + path);
    AofLoadResult r = load_aof_file(path, keyspace, unix_millis(), /*truncate_torn_tail=*/true,
                                    [] { return stop_signal_before_serving() != 0; });
    if (r.interrupted) {
      log_line('#', std::string("Received ") + stop_signal_name(stop_signal_before_serving()) +
                        " while loading the append only file: exiting before serving (the file is unchanged)");
      return 0;
    }
    if (!r.ok()) {
      log_line('#', "Bad file format reading the append only file " + path + ": " + r.error);
      return 1;
    }
    stats.aof_loaded_records = r.records;
    stats.aof_truncated_bytes = r.truncated_bytes;
    stats.aof_current_size.store(r.valid_bytes, std::memory_order_relaxed);
    stats.aof_base_size.store(r.valid_bytes, std::memory_order_relaxed);
    if (r.truncated_bytes > 0) {
      log_line('#', "AOF had an incomplete final record: " + std::to_string(r.truncated_bytes) +
                        " bytes dropped (crash during a write)");
    }
    log_line('*', "DB loaded from append only file: " + std::to_string(r.records) + " records, " +
                      std::to_string(keyspace.size()) + " keys");
  }

  try {
    tether::Runtime runtime({.workers = config.workers, .name = "tether-kv"});
    // This thread only waits in block_on (a futex): let the runtime's threads take SIGINT/SIGTERM.
    // (Under ThreadSanitizer a signal that lands on a thread blocked in a raw futex is deferred
    // until that thread wakes, i.e. never; the workers wait in intercepted calls.) Threads started
    // before this line keep the signals unblocked.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    // `kill -USR1 <pid>` logs every task with its async backtrace (tether/observe/dump_on_signal.hpp).
    tether::observe::DumpOnSignal task_dumps(runtime, SIGUSR1);
    return runtime.block_on(run_server(config, runtime, stats, keyspace));
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "tether-kv: %s\n", e.what());
    return 1;
  }
}
