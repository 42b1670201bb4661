// INFO, COMMAND, CONFIG and HELLO: see commands.hpp.
#include "commands.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "glob.hpp"
#include "pubsub.hpp"
#include "resp.hpp"

namespace tether::kv {

namespace {

constexpr std::array<std::string_view, 43> kCommandNames = {
    "ping",        "echo",       "select",       "dbsize",  "flushdb", "flushall", "get",      "set",       "mget",
    "mset",        "setnx",      "getset",       "getdel",  "del",     "unlink",   "exists",   "incr",      "decr",
    "incrby",      "decrby",     "append",       "strlen",  "expire",  "pexpire",  "expireat", "pexpireat", "ttl",
    "pttl",        "persist",    "type",         "keys",    "scan",    "quit",     "info",     "publish",   "subscribe",
    "unsubscribe", "psubscribe", "punsubscribe", "command", "client",  "config",   "hello"};

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

void append_command_info(std::string& out, const CommandSpec& spec) {
  append_array_header(out, 10);
  append_bulk(out, spec.name);
  append_integer(out, spec.arity);
  append_array_header(out, 1);
  append_simple_string(out, spec.write ? "write" : "readonly");
  int first = 0, last = 0, step = 0;
  if (spec.route == Route::kOneKey) {
    first = last = step = 1;
  } else if (spec.route == Route::kKeys) {
    first = 1;
    last = -1;
    step = spec.id == CommandId::kMset ? 2 : 1;
  }
  append_integer(out, first);
  append_integer(out, last);
  append_integer(out, step);
  for (int i = 0; i < 4; ++i) append_array_header(out, 0);  // ACL categories, tips, key specs, subcommands
}

void line(std::string& s, std::string_view key, const std::string& value) {
  s.append(key);
  s += ':';
  s += value;
  s += "\r\n";
}
template <class N>
void line(std::string& s, std::string_view key, N n) {
  line(s, key, std::to_string(n));
}

const char* fsync_name(AppendFsync f) {
  switch (f) {
    case AppendFsync::kAlways:
      return "always";
    case AppendFsync::kEverySec:
      return "everysec";
    case AppendFsync::kNo:
      return "no";
  }
  return "?";
}

}  // namespace

Task<std::string> info_text(ServerContext& ctx, std::string section) {
  const bool all = section.empty() || section == "default" || section == "all" || section == "everything";
  auto want = [&](std::string_view s) { return all || section == s; };
  ServerStats& st = ctx.stats;
  std::string s;
  if (want("server")) {
    auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx.started_at);
    s += "# Server\r\n";
    line(s, "redis_version", std::string("7.0.0"));
    line(s, "tether_kv_version", std::string("0.1.0"));
    line(s, "redis_mode", std::string("standalone"));
    line(s, "os", std::string("Linux"));
    line(s, "multiplexing_api", std::string("tether"));
    line(s, "process_id", static_cast<long>(::getpid()));
    line(s, "tcp_port", ctx.config.port);
    line(s, "uptime_in_seconds", static_cast<long long>(up.count()));
    line(s, "uptime_in_days", static_cast<long long>(up.count() / 86400));
    line(s, "shards", ctx.shards.size());
    s += "\r\n";
  }
  if (want("clients")) {
    s += "# Clients\r\n";
    line(s, "connected_clients", read(st.connected_clients));
    line(s, "maxclients", ctx.config.maxclients);
    line(s, "blocked_clients", 0);
    s += "\r\n";
  }
  if (want("stats")) {
    auto [channels, patterns] = co_await ctx.pubsub.counts();
    s += "# Stats\r\n";
    line(s, "total_connections_received", read(st.connections_received));
    line(s, "total_commands_processed", read(st.commands_processed));
    line(s, "total_net_input_bytes", read(st.net_input_bytes));
    line(s, "total_net_output_bytes", read(st.net_output_bytes));
    line(s, "rejected_connections", read(st.rejected_connections));
    line(s, "expired_keys", read(st.expired_keys));
    line(s, "protocol_errors", read(st.protocol_errors));
    line(s, "idle_disconnects", read(st.idle_disconnects));
    line(s, "write_timeouts", read(st.write_timeouts));
    line(s, "pubsub_channels", channels);
    line(s, "pubsub_patterns", patterns);
    line(s, "pubsub_overflow_disconnects", read(st.pubsub_overflows));
    s += "\r\n";
  }
  if (want("persistence")) {
    s += "# Persistence\r\n";
    line(s, "loading", 0);
    line(s, "aof_enabled", ctx.aof ? 1 : 0);
    line(s, "aof_appendfsync", std::string(fsync_name(ctx.config.appendfsync)));
    line(s, "aof_rewrite_in_progress", st.aof_rewrite_in_progress.load(std::memory_order_relaxed) ? 1 : 0);
    line(s, "aof_rewrites", read(st.aof_rewrites));
    line(s, "aof_last_write_status", std::string(st.aof_last_write_ok.load(std::memory_order_relaxed) ? "ok" : "err"));
    line(s, "aof_current_size", read(st.aof_current_size));
    line(s, "aof_base_size", read(st.aof_base_size));
    line(s, "aof_fsyncs", read(st.aof_fsyncs));
    line(s, "aof_loaded_records", st.aof_loaded_records);
    line(s, "aof_loaded_truncated_bytes", st.aof_truncated_bytes);
    s += "\r\n";
  }
  if (want("runtime")) {
    RuntimeMetrics m = ctx.runtime.metrics();
    std::uint64_t local = 0;
    for (auto d : m.local_queue_depths) local += d;
    s += "# Runtime\r\n";
    line(s, "runtime_workers", m.workers);
    line(s, "runtime_tasks_alive", m.tasks_alive);
    line(s, "runtime_tasks_spawned", m.tasks_spawned);
    line(s, "runtime_tasks_completed", m.tasks_completed);
    line(s, "runtime_tasks_failed", m.tasks_failed);
    line(s, "runtime_tasks_cancelled", m.tasks_cancelled);
    line(s, "runtime_polls", m.polls);
    line(s, "runtime_steals", m.steals);
    line(s, "runtime_parks", m.parks);
    line(s, "runtime_global_queue_depth", m.global_queue_depth);
    line(s, "runtime_local_queue_depth", local);
    line(s, "runtime_timers", m.timers);
    line(s, "runtime_blocking_threads", m.blocking_threads);
    line(s, "runtime_blocking_queue_depth", m.blocking_queue_depth);
    s += "\r\n";
  }
  if (want("keyspace")) {
    std::uint64_t keys = 0, expires = 0;
    for (auto& shard : ctx.shards) {
      auto [k, e] = co_await shard->with([](ShardCell& c) {
        return std::pair<std::size_t, std::size_t>{c.shard.size(), c.shard.keys_with_ttl()};
      });
      keys += k;
      expires += e;
    }
    s += "# Keyspace\r\n";
    if (keys > 0) {
      line(s, "db0", "keys=" + std::to_string(keys) + ",expires=" + std::to_string(expires) + ",avg_ttl=0");
    }
    s += "\r\n";
  }
  if (s.size() >= 2) s.resize(s.size() - 2);  // no blank line after the last section
  co_return s;
}

void command_command(std::span<const std::string_view> args, std::string& out) {
  if (args.size() == 1) {
    append_array_header(out, kCommandNames.size());
    for (auto name : kCommandNames) append_command_info(out, *lookup_command(name));
    return;
  }
  const std::string sub = lower(args[1]);
  if (sub == "count" && args.size() == 2) {
    append_integer(out, static_cast<std::int64_t>(kCommandNames.size()));
  } else if (sub == "docs") {
    append_array_header(out, 0);  // redis-cli falls back to its built-in help
  } else if (sub == "info") {
    append_array_header(out, args.size() - 2);
    for (std::size_t i = 2; i < args.size(); ++i) {
      const CommandSpec* spec = lookup_command(args[i]);
      if (spec == nullptr) {
        append_null_array(out);
      } else {
        append_command_info(out, *spec);
      }
    }
  } else if (sub == "count") {
    append_error(out, "ERR wrong number of arguments for 'command|count' command");
  } else {
    append_error(out, "ERR unknown subcommand '" + std::string(args[1]) + "'. Try COMMAND HELP.");
  }
}

void config_command(ServerContext& ctx, std::span<const std::string_view> args, std::string& out) {
  const std::string sub = lower(args[1]);
  if (sub == "get" && args.size() >= 3) {
    const ServerConfig& c = ctx.config;
    const std::vector<std::pair<std::string, std::string>> params = {
        {"appendonly", c.appendonly ? "yes" : "no"},
        {"appendfsync", fsync_name(c.appendfsync)},
        {"bind", c.bind},
        {"databases", "1"},
        {"dir", c.dir},
        {"maxclients", std::to_string(c.maxclients)},
        {"port", std::to_string(c.port)},
        {"proto-max-bulk-len", std::to_string(c.proto_max_bulk_len)},
        {"save", ""},
        {"timeout", std::to_string(c.timeout_s)},
    };
    std::vector<const std::pair<std::string, std::string>*> hits;
    for (std::size_t i = 2; i < args.size(); ++i) {
      const std::string pattern = lower(args[i]);
      for (auto& p : params) {
        if (glob_match(pattern, p.first) && std::find(hits.begin(), hits.end(), &p) == hits.end()) {
          hits.push_back(&p);
        }
      }
    }
    append_array_header(out, hits.size() * 2);
    for (auto* p : hits) {
      append_bulk(out, p->first);
      append_bulk(out, p->second);
    }
  } else if (sub == "resetstat" && args.size() == 2) {
    append_simple_string(out, "OK");
  } else if (sub == "set") {
    append_error(out, "ERR CONFIG SET is not supported by tether-kv; restart with the option instead");
  } else if (sub == "get" || sub == "resetstat") {
    append_error(out, "ERR wrong number of arguments for 'config|" + sub + "' command");
  } else {
    append_error(out, "ERR unknown subcommand '" + std::string(args[1]) + "'. Try CONFIG HELP.");
  }
}

void hello_command(ServerContext& ctx, std::uint64_t client_id, std::span<const std::string_view> args,
                   std::string& out) {
  if (args.size() > 1) {
    std::int64_t ver = 0;
    if (!parse_int64(args[1], ver)) {
      append_error(out, "ERR Protocol version is not an integer or out of range");
      return;
    }
    if (ver != 2) {
      append_error(out, "NOPROTO sorry, this protocol version is not supported.");
      return;
    }
  }
  append_array_header(out, 14);
  append_bulk(out, "server");
  append_bulk(out, "redis");
  append_bulk(out, "version");
  append_bulk(out, "7.0.0");
  append_bulk(out, "proto");
  append_integer(out, 2);
  append_bulk(out, "id");
  append_integer(out, static_cast<std::int64_t>(client_id));
  append_bulk(out, "mode");
  append_bulk(out, "standalone");
  append_bulk(out, "role");
  append_bulk(out, "master");
  append_bulk(out, "modules");
  append_array_header(out, 0);
  (void)ctx;
}

}  // namespace tether::kv
