// The tether-kv server: configuration, the shared state every connection sees, and the entry
// points of each part. Built only on tether's public headers and the runtime-independent core
// (resp.hpp, keyspace.hpp, aof.hpp).
//
// Defines:
//   ServerConfig    every command-line option, with Redis-like defaults (parse_args())
//   ServerStats     counters for INFO and the metrics endpoint (atomics, relaxed)
//   ShardCell       one shard of the keyspace with its AOF sequence number, behind a Mutex
//   ServerContext   the dependency bundle a connection, the AOF writer and the expiry task share
//   run_server()    the whole server as one task: accept loop, background tasks, graceful shutdown
//
// Reading map:
//   server.cpp       startup (AOF replay), the accept loop with the client bound, the expiry task,
//                    the metrics endpoint, the shutdown sequence
//   connection.cpp   one task per connection: read, parse the pipeline, execute, one write
//   commands.cpp     connection-level commands (INFO, COMMAND, CLIENT, CONFIG, HELLO)
//   pubsub.hpp/.cpp  channels and patterns, per-subscriber bounded queues
//   persistence.*    the AOF writer task (group commit, fsync policies) and compaction
//
// Shard ownership, the choice made: each shard is a tether::sync::Mutex<ShardCell> entered only
// through `co_await mutex.with([](ShardCell&){...})`. A command takes one shard at a time, does
// its O(1) work in a closure that cannot suspend, and never holds a shard while it waits for a
// socket or the disk, so a read never waits behind a slow client. Shard actors fed by mpsc
// channels were the alternative; a lock handoff is one atomic operation on the uncontended path
// where an actor costs two channel hops and a wake-up per command. (Not yet measured side by side;
// bench/kv/run.sh measures this design against redis-server.)
//
// AOF ordering protocol (the one subtle invariant):
//   1. A write reserves an AOF channel slot (mpsc::Permit) *before* taking its shard.
//   2. Inside the shard's closure it applies the command and, if the command changed anything,
//      sends its record through the permit and bumps ShardCell::aof_seq; sending never waits.
//   3. So records of one shard enter the channel in exactly the order they were applied, and a
//      record's seq says whether a snapshot taken under the same lock already contains it
//      (compaction relies on this: persistence.hpp).
//   Every record touches one shard only (FLUSHALL is logged as per-shard DELs), so records of
//   different shards commute.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keyspace.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/task.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/task/task_tracker.hpp"

namespace tether::kv {

enum class AppendFsync : std::uint8_t { kAlways, kEverySec, kNo };

// tether::kv::ServerConfig
//
// Every option of the server. Defaults follow Redis 7 where Redis has the option.
struct ServerConfig {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 6380;
  std::string dir = "./tether-kv-data";
  bool appendonly = true;
  AppendFsync appendfsync = AppendFsync::kEverySec;
  std::size_t maxclients = 10000;
  // Idle seconds before a client is disconnected (0: never). Redis's `timeout`; subscribers are
  // exempt, as in Redis.
  std::int64_t timeout_s = 300;
  // Deadline of every write to a client: a client that stops reading is dropped after this.
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t shards = 64;
  std::size_t proto_max_bulk_len = 512u * 1024 * 1024;
  unsigned workers = 0;  // runtime workers; 0: one per core
  std::optional<std::uint16_t> metrics_port;
  // Compaction: rewrite once the log is larger than this and has doubled since the last rewrite.
  std::uint64_t aof_rewrite_min_size = 64u * 1024 * 1024;
  // Bounded buffers.
  std::size_t aof_queue = 4096;         // AOF records waiting for the writer
  std::size_t subscriber_queue = 1024;  // messages waiting for one slow subscriber
  std::chrono::milliseconds shutdown_grace{5'000};
};

// Parses argv into `config`. Returns an error message, or an empty string on success; sets
// `help` for --help.
std::string parse_args(int argc, char** argv, ServerConfig& config, bool& help);
void print_usage(const char* argv0);

// Counters for INFO. Relaxed: each is an independent statistic; nobody infers other memory from it.
struct ServerStats {
  std::atomic<std::uint64_t> connections_received{0};
  std::atomic<std::uint64_t> connected_clients{0};
  std::atomic<std::uint64_t> rejected_connections{0};
  std::atomic<std::uint64_t> commands_processed{0};
  std::atomic<std::uint64_t> expired_keys{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> idle_disconnects{0};
  std::atomic<std::uint64_t> write_timeouts{0};
  std::atomic<std::uint64_t> pubsub_overflows{0};
  std::atomic<std::uint64_t> net_input_bytes{0};
  std::atomic<std::uint64_t> net_output_bytes{0};
  std::atomic<std::uint64_t> next_client_id{1};
  // Persistence, written by the AOF writer.
  std::atomic<std::uint64_t> aof_current_size{0};
  std::atomic<std::uint64_t> aof_base_size{0};
  std::atomic<std::uint64_t> aof_fsyncs{0};
  std::atomic<std::uint64_t> aof_rewrites{0};
  std::atomic<bool> aof_rewrite_in_progress{false};
  std::atomic<bool> aof_last_write_ok{true};
  std::uint64_t aof_loaded_records = 0;   // constant after startup
  std::uint64_t aof_truncated_bytes = 0;  // constant after startup
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.fetch_add(n, std::memory_order_relaxed);  // relaxed: a statistic (see ServerStats)
}
inline std::uint64_t read(const std::atomic<std::uint64_t>& c) noexcept {
  return c.load(std::memory_order_relaxed);  // relaxed: a statistic (see ServerStats)
}

// One AOF channel message. Records carry their shard and per-shard sequence number (protocol
// above); barriers ask the writer to fsync everything before them and then answer.
struct AofMsg {
  enum class Kind : std::uint8_t {
    kRecord,       // `data` is one or more RESP records of shard `shard`, sequence `seq`
    kBarrier,      // fsync everything received so far, then send true (or false on failure)
    kSync,         // everysec tick: fsync if anything was written since the last fsync
    kRewriteDone,  // the compaction task finished its snapshot (persistence.cpp)
    kShutdown,     // write and fsync everything, answer, and stop
  };
  Kind kind = Kind::kRecord;
  std::uint32_t shard = 0;
  std::uint64_t seq = 0;
  std::string data{};
  std::optional<oneshot::Sender<bool>> ack{};
  std::shared_ptr<std::vector<std::uint64_t>> snapshot_seqs{};  // kRewriteDone
};

// tether::kv::ShardCell
//
// One shard and the sequence number of the last AOF record it produced (protocol rule 2).
// Thread safety: only inside its Mutex.
struct ShardCell {
  Shard shard;
  std::uint64_t aof_seq = 0;
};

class PubSub;

// tether::kv::ServerContext
//
// The dependency bundle of the server, passed by reference to every part. Collaborators that may
// be absent are optional: without an AOF, `aof` is empty and writes are not logged.
// Thread safety: the fields are constant after startup; what they point to is thread-safe.
struct ServerContext {
  const ServerConfig& config;
  Runtime& runtime;
  ServerStats& stats;
  std::vector<std::unique_ptr<sync::Mutex<ShardCell>>>& shards;
  PubSub& pubsub;
  std::optional<mpsc::Sender<AofMsg>> aof;  // absent with --appendonly no
  std::chrono::steady_clock::time_point started_at;
  std::string aof_path;
};

// Unix time in milliseconds (what the keyspace calls "now").
Millis unix_millis() noexcept;

// Startup, until run_server listens for signals: hold_stop_signals() makes SIGINT and SIGTERM
// recorded rather than fatal, so that one arriving during the AOF replay ends the process cleanly
// (exit 0, the log untouched) instead of killing it mid-read. stop_signal_before_serving() is the
// signal recorded, or 0; run_server() checks it once it listens itself, so none is lost between.
void hold_stop_signals();
int stop_signal_before_serving() noexcept;
// "SIGINT" or "SIGTERM", for the log lines about them.
const char* stop_signal_name(int sig) noexcept;

// The server, from a replayed keyspace to a graceful exit. Returns the process exit code.
Task<int> run_server(const ServerConfig& config, Runtime& runtime, ServerStats& stats, Keyspace& keyspace);

// One client connection, from accept to close (connection.cpp). Never throws: every failure
// ends the connection and is counted or logged.
Task<void> serve_connection(ServerContext& ctx, io::TcpStream stream);

// Logging to stderr with a timestamp, Redis-style ("<pid>:M <time> * message").
void log_line(char level, const std::string& message);

}  // namespace tether::kv
