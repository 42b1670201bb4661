// One task per client connection.
//
// The loop: read what the socket has (idle deadline), parse every complete request in it, execute
// them in order into one reply buffer, then (appendfsync always) wait for the AOF barrier, then
// write the replies with one write (write deadline). A batch runs shielded: a shutdown lets the
// commands already read finish and their replies go out; the connection stops at its next read.
//
// Pub/sub mode: the first SUBSCRIBE/PSUBSCRIBE gives the connection a Subscriber (a bounded queue)
// and a pusher task that writes the queue to the socket. From then on every reply goes through
// the queue too, so replies and messages keep one order and only one task writes the socket. A
// subscriber whose queue overflows is told so and disconnected by its pusher.
//
// Error handling: a protocol error gets Redis's error reply, then the connection closes (the
// stream can no longer be framed). Timeouts and resets end the connection quietly (counted in
// INFO stats); anything unexpected is logged.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "persistence.hpp"
#include "pubsub.hpp"
#include "resp.hpp"
#include "server.hpp"
#include "tether/core/error.hpp"
#include "tether/core/join_handle.hpp"
#include "tether/core/scope_exit.hpp"
#include "tether/core/shield.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/timeout.hpp"

namespace tether::kv {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kFlushAt = 1u << 20;  // replies buffered before a mid-batch write

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// The pusher: writes a subscriber's queue to the socket until the queue closes, the client stops
// reading (write deadline), or the subscriber overflows.
Task<void> push_loop(ServerContext& ctx, io::TcpStream& stream, std::shared_ptr<std::atomic<bool>> overflowed,
                     mpsc::Receiver<std::string> rx) {
  std::string batch;
  try {
    for (;;) {
      // A subscriber may wait for messages forever (Redis exempts subscribers from the idle
      // timeout): spelled out, so the watchdog does not report it as possibly hung.
      auto next = timeout_at(Deadline::never(), rx.recv(), "subscriber queue");
      auto first = co_await std::move(next);
      if (!first) break;
      batch = std::move(*first);
      while (batch.size() < 64 * 1024) {
        auto more = rx.try_recv();
        if (!more) break;
        batch += *more;
      }
      if (overflowed->load(std::memory_order_acquire)) {  // acquire: pairs with deliver()
        std::string err;
        append_error(err, "ERR pubsub output buffer overflow: subscriber could not keep up; disconnecting");
        co_await stream.write_all(err, Deadline::after(ctx.config.write_timeout));
        break;
      }
      co_await stream.write_all(batch, Deadline::after(ctx.config.write_timeout));
      bump(ctx.stats.net_output_bytes, batch.size());
    }
  } catch (const Cancelled&) {
    throw;
  } catch (const TimedOut&) {
    bump(ctx.stats.write_timeouts);
  } catch (const io::Error&) {
    // The client went away.
  }
  // Mark the queue dead for publishers and wake the reader (its read returns end of stream).
  overflowed->store(true, std::memory_order_release);  // release: pairs with deliver()
  rx.close();
  try {
    stream.shutdown(io::Shutdown::kBoth);
  } catch (const Error&) {
  }
}

class Connection {
 public:
  Connection(ServerContext& ctx, io::TcpStream& stream, std::uint64_t id)
      : ctx_(ctx), stream_(stream), id_(id), parser_(ParserOptions{.max_bulk_length = ctx.config.proto_max_bulk_len}) {}

  // Reads and serves until the client leaves, QUITs, errs, idles out, or the task is cancelled.
  Task<void> run() {
    for (;;) {
      std::span<char> buf = parser_.prepare(kReadChunk);
      Deadline idle = (subscribed() || sub_ || ctx_.config.timeout_s <= 0)
                          ? Deadline::never()  // Redis exempts subscribers; timeout 0 means none
                          : Deadline::after(std::chrono::seconds(ctx_.config.timeout_s));
      std::size_t n;
      try {
        n = co_await stream_.read(io::MutableBuffer(buf.data(), buf.size()), idle);
      } catch (const TimedOut&) {
        bump(ctx_.stats.idle_disconnects);
        co_return;
      }
      if (n == 0) co_return;
      bump(ctx_.stats.net_input_bytes, n);
      parser_.commit(n);
      // In-flight commands finish even when a shutdown cancels this task.
      co_await shield(process_batch());
      if (closing_) co_return;
    }
  }

  // Teardown, run shielded: leave the pub/sub registry and stop the pusher.
  Task<void> finish(bool graceful) {
    if (!sub_) co_return;
    std::vector<std::string> chans(channels_.begin(), channels_.end());
    std::vector<std::string> pats(patterns_.begin(), patterns_.end());
    co_await ctx_.pubsub.remove_all(sub_, std::move(chans), std::move(pats));
    sub_.reset();  // the last Sender: the pusher drains the queue, then sees it closed
    if (!graceful) pusher_.abort();
    try {
      co_await pusher_;
    } catch (const Error&) {
    }
  }

  bool closing() const noexcept { return closing_; }

 private:
  bool subscribed() const noexcept { return !channels_.empty() || !patterns_.empty(); }
  std::int64_t subscription_count() const noexcept {
    return static_cast<std::int64_t>(channels_.size() + patterns_.size());
  }

  Task<void> process_batch() {
    out_.clear();
    wrote_aof_ = false;
    for (;;) {
      RequestParser::Status st = parser_.next(args_);
      if (st == RequestParser::Status::kNeedMore) break;
      if (st == RequestParser::Status::kError) {
        bump(ctx_.stats.protocol_errors);
        append_error(out_, parser_.error_message());
        closing_ = true;
        break;
      }
      co_await execute();
      if (closing_) break;
      if (out_.size() >= kFlushAt) co_await flush();
    }
    co_await flush();
  }

  // Makes the batch's writes durable (appendfsync always), then sends the replies.
  Task<void> flush() {
    if (wrote_aof_ && ctx_.config.appendfsync == AppendFsync::kAlways) {
      wrote_aof_ = false;
      auto [tx, rx] = oneshot::channel<bool>();
      AofMsg barrier{.kind = AofMsg::Kind::kBarrier};
      barrier.ack.emplace(std::move(tx));
      if (!co_await ctx_.aof->send(std::move(barrier))) throw Error("AOF writer stopped");
      auto ok = co_await rx;
      // Not durable: do not acknowledge. The client sees the connection close without a reply.
      if (!ok || !*ok) throw Error("AOF fsync failed; closing the connection unacknowledged");
    }
    if (out_.empty()) co_return;
    if (sub_) {
      if (!co_await sub_->tx.send(std::move(out_))) throw io::Error(io::ErrorKind::kConnectionReset, "pusher gone");
      out_.clear();
      co_return;
    }
    co_await stream_.write_all(out_, Deadline::after(ctx_.config.write_timeout));
    bump(ctx_.stats.net_output_bytes, out_.size());
    out_.clear();
  }

  Task<void> execute() {
    bump(ctx_.stats.commands_processed);
    Execution ex(args_, ctx_.shards.size());
    const CommandSpec* spec = ex.spec();
    if (spec != nullptr && subscribed() && !allowed_while_subscribed(spec->id)) {
      append_error(out_,
                   "ERR Can't execute '" + std::string(spec->name) +
                       "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
      co_return;
    }
    switch (ex.kind()) {
      case Execution::Kind::kReplied:
        if (spec != nullptr && spec->id == CommandId::kPing && subscribed()) {
          // RESP2 subscriber PING: ["pong", message or ""].
          append_array_header(out_, 2);
          append_bulk(out_, "pong");
          append_bulk(out_, args_.size() > 1 ? args_[1] : std::string_view());
          co_return;
        }
        ex.finish(out_);
        co_return;
      case Execution::Kind::kServer:
        co_await server_command(spec->id);
        co_return;
      case Execution::Kind::kShards:
        if (spec->id == CommandId::kFlushdb || spec->id == CommandId::kFlushall) {
          co_await flush_all();
          append_simple_string(out_, "OK");
          co_return;
        }
        co_await run_on_shards(ex, spec->write && ctx_.aof.has_value());
        ex.finish(out_);
        co_return;
    }
  }

  static bool allowed_while_subscribed(CommandId id) {
    switch (id) {
      case CommandId::kSubscribe:
      case CommandId::kUnsubscribe:
      case CommandId::kPsubscribe:
      case CommandId::kPunsubscribe:
      case CommandId::kPing:
      case CommandId::kQuit:
        return true;
      default:
        return false;
    }
  }

  // server.hpp's AOF ordering protocol, rules 1 and 2.
  Task<void> run_on_shards(Execution& ex, bool log) {
    const Millis now = unix_millis();
    for (std::uint32_t i : ex.shards()) {
      std::optional<mpsc::Permit<AofMsg>> permit;
      if (log) {
        permit = co_await ctx_.aof->reserve();
        if (!permit) throw Error("AOF writer stopped");
      }
      bool logged = co_await ctx_.shards[i]->with([&](ShardCell& cell) {
        std::string record;
        ExecContext ec{.now = now, .aof = log ? &record : nullptr, .max_string_length = ctx_.config.proto_max_bulk_len};
        ex.run(i, cell.shard, ec);
        if (record.empty()) return false;
        std::move(*permit).send(
            AofMsg{.kind = AofMsg::Kind::kRecord, .shard = i, .seq = ++cell.aof_seq, .data = std::move(record)});
        return true;
      });
      wrote_aof_ = wrote_aof_ || logged;
    }
  }

  // FLUSHDB/FLUSHALL: each shard is cleared under its lock and logged as DELs of the keys it held,
  // so that the log stays a per-shard sequence (server.hpp) and replays to the same state.
  Task<void> flush_all() {
    const bool log = ctx_.aof.has_value();
    for (std::uint32_t i = 0; i < ctx_.shards.size(); ++i) {
      std::optional<mpsc::Permit<AofMsg>> permit;
      if (log) {
        permit = co_await ctx_.aof->reserve();
        if (!permit) throw Error("AOF writer stopped");
      }
      bool logged = co_await ctx_.shards[i]->with([&](ShardCell& cell) {
        std::string record;
        if (log && cell.shard.size() > 0) {
          std::vector<std::string_view> del{"DEL"};
          cell.shard.for_each([&](const Shard::Entry& e) {
            del.push_back(e.key);
            if (del.size() > 1024) {
              append_command(record, del);
              del.resize(1);
            }
          });
          if (del.size() > 1) append_command(record, del);
        }
        cell.shard.clear();
        if (record.empty()) return false;
        std::move(*permit).send(
            AofMsg{.kind = AofMsg::Kind::kRecord, .shard = i, .seq = ++cell.aof_seq, .data = std::move(record)});
        return true;
      });
      wrote_aof_ = wrote_aof_ || logged;
    }
  }

  Task<void> server_command(CommandId id) {
    switch (id) {
      case CommandId::kQuit:
        append_simple_string(out_, "OK");
        closing_ = true;
        co_return;
      case CommandId::kInfo: {
        std::string section = args_.size() > 1 ? lower(args_[1]) : std::string();
        append_bulk(out_, co_await info_text(ctx_, section));
        co_return;
      }
      case CommandId::kPublish: {
        std::int64_t n = co_await ctx_.pubsub.publish(args_[1], args_[2]);
        append_integer(out_, n);
        co_return;
      }
      case CommandId::kSubscribe:
      case CommandId::kPsubscribe:
        co_await subscribe(id == CommandId::kPsubscribe);
        co_return;
      case CommandId::kUnsubscribe:
      case CommandId::kPunsubscribe:
        co_await unsubscribe(id == CommandId::kPunsubscribe);
        co_return;
      case CommandId::kClient:
        client_command();
        co_return;
      case CommandId::kCommand:
        command_command(args_, out_);
        co_return;
      case CommandId::kConfig:
        config_command(ctx_, args_, out_);
        co_return;
      case CommandId::kHello:
        hello_command(ctx_, id_, args_, out_);
        co_return;
      default:
        append_error(out_, "ERR unknown command");
        co_return;
    }
  }

  // Gives the connection its Subscriber and pusher (once).
  void ensure_subscriber() {
    if (sub_) return;
    auto [tx, rx] = mpsc::channel<std::string>(ctx_.config.subscriber_queue);
    sub_ = std::make_shared<Subscriber>(id_, std::move(tx));
    pusher_ = spawn(push_loop(ctx_, stream_, sub_->overflowed, std::move(rx)), {.name = "subscriber pusher"});
  }

  Task<void> subscribe(bool pattern) {
    ensure_subscriber();
    co_await flush();  // replies of earlier commands go first
    auto& set = pattern ? patterns_ : channels_;
    std::string reply;
    std::vector<std::string> names;
    for (std::size_t i = 1; i < args_.size(); ++i) {
      std::string name(args_[i]);
      if (set.insert(name).second) names.push_back(name);
      append_array_header(reply, 3);
      append_bulk(reply, pattern ? "psubscribe" : "subscribe");
      append_bulk(reply, name);
      append_integer(reply, subscription_count());
    }
    co_await ctx_.pubsub.subscribe(sub_, std::move(names), pattern, std::move(reply));
  }

  Task<void> unsubscribe(bool pattern) {
    auto& set = pattern ? patterns_ : channels_;
    const std::string_view kind = pattern ? "punsubscribe" : "unsubscribe";
    std::vector<std::string> targets;
    if (args_.size() > 1) {
      for (std::size_t i = 1; i < args_.size(); ++i) targets.emplace_back(args_[i]);
    } else {
      targets.assign(set.begin(), set.end());
    }
    std::string reply;
    std::vector<std::string> removed;
    if (targets.empty()) {
      append_array_header(reply, 3);
      append_bulk(reply, kind);
      append_null_bulk(reply);
      append_integer(reply, subscription_count());
    }
    for (auto& t : targets) {
      if (set.erase(t) > 0) removed.push_back(t);
      append_array_header(reply, 3);
      append_bulk(reply, kind);
      append_bulk(reply, t);
      append_integer(reply, subscription_count());
    }
    if (!sub_) {  // never subscribed: a plain reply
      out_ += reply;
      co_return;
    }
    co_await flush();
    co_await ctx_.pubsub.unsubscribe(sub_, std::move(removed), pattern, std::move(reply));
  }

  void client_command() {
    const std::string sub = lower(args_[1]);
    if (sub == "setname" && args_.size() == 3) {
      std::string_view name = args_[2];
      for (char c : name) {
        if (c < '!' || c > '~') {
          append_error(out_, "ERR Client names cannot contain spaces, newlines or special characters.");
          return;
        }
      }
      name_ = std::string(name);
      append_simple_string(out_, "OK");
    } else if (sub == "getname" && args_.size() == 2) {
      if (name_.empty()) {
        append_null_bulk(out_);
      } else {
        append_bulk(out_, name_);
      }
    } else if (sub == "id" && args_.size() == 2) {
      append_integer(out_, static_cast<std::int64_t>(id_));
    } else if (sub == "info" && args_.size() == 2) {
      append_bulk(out_, "id=" + std::to_string(id_) + " name=" + name_ + " db=0 sub=" +
                            std::to_string(channels_.size()) + " psub=" + std::to_string(patterns_.size()) + "\n");
    } else if (sub == "setinfo" && args_.size() == 4) {
      append_simple_string(out_, "OK");
    } else if (sub == "setname" || sub == "getname" || sub == "id" || sub == "info" || sub == "setinfo") {
      append_error(out_, "ERR wrong number of arguments for 'client|" + sub + "' command");
    } else {
      append_error(out_, "ERR unknown subcommand '" + std::string(args_[1]) + "'. Try CLIENT HELP.");
    }
  }

  ServerContext& ctx_;
  io::TcpStream& stream_;
  const std::uint64_t id_;
  std::string name_;
  RequestParser parser_;
  std::vector<std::string_view> args_;
  std::string out_;
  bool wrote_aof_ = false;
  bool closing_ = false;
  // Pub/sub
  std::shared_ptr<Subscriber> sub_;
  JoinHandle<void> pusher_;
  std::set<std::string> channels_;
  std::set<std::string> patterns_;
};

}  // namespace

Task<void> serve_connection(ServerContext& ctx, io::TcpStream stream) {
  // connected_clients was counted by the accept loop (so that its bound check is exact).
  ScopeExit count([&ctx] { ctx.stats.connected_clients.fetch_sub(1, std::memory_order_relaxed); });
  const std::uint64_t id = ctx.stats.next_client_id.fetch_add(1, std::memory_order_relaxed);
  try {
    stream.set_nodelay(true);
  } catch (const Error&) {
  }
  Connection conn(ctx, stream, id);
  bool graceful = false;
  try {
    co_await conn.run();
    graceful = conn.closing();
  } catch (const Cancelled&) {
    graceful = true;  // shutdown: let the pusher deliver what is queued
  } catch (const TimedOut&) {
    bump(ctx.stats.write_timeouts);
  } catch (const io::Error&) {
    // Reset, broken pipe: the client is gone.
  } catch (const std::exception& e) {
    log_line('#', "client " + std::to_string(id) + " closed: " + e.what());
  }
  try {
    co_await shield(conn.finish(graceful));
  } catch (const std::exception& e) {
    log_line('#', "client " + std::to_string(id) + " teardown: " + e.what());
  }
}

}  // namespace tether::kv
