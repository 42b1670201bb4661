// The AOF writer and compaction: see persistence.hpp for the loop and the rewrite protocol.
#include "persistence.hpp"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "aof.hpp"
#include "tether/core/error.hpp"
#include "tether/time/deadline.hpp"
#include "tether/time/interval.hpp"
#include "tether/time/timeout.hpp"

namespace tether::kv {

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxGroupBytes = 4u << 20;  // one write call covers at most this much
constexpr auto kFileDeadline = 30s;               // every log write, fsync, open and rename

Deadline file_deadline() { return Deadline::after(kFileDeadline); }

// A tail record kept while a rewrite runs (protocol step 3).
struct TailRecord {
  std::uint32_t shard;
  std::uint64_t seq;
  std::string data;
};

class Writer {
 public:
  Writer(ServerContext& ctx, mpsc::Receiver<AofMsg> rx, io::File log, TaskTracker& background)
      : ctx_(ctx), rx_(std::move(rx)), log_(std::move(log)), background_(background) {}

  Task<void> run() {
    size_ = read(ctx_.stats.aof_current_size);
    for (;;) {
      // Waiting for records is this task's idle state, spelled out as a wait without end (so the
      // watchdog does not report an idle server's writer as possibly hung).
      auto next = timeout_at(Deadline::never(), rx_.recv(), "aof queue");
      auto first = co_await std::move(next);
      if (!first) break;  // every sender gone: nothing more can arrive
      Group g;
      take(std::move(*first), g);
      while (!g.shutdown && g.bytes.size() < kMaxGroupBytes) {
        auto more = rx_.try_recv();
        if (!more) break;
        take(std::move(*more), g);
      }
      bool ok = co_await write_group(g);
      for (auto& ack : g.acks) (void)ack.send(ok);
      if (g.rewrite_done) co_await finish_rewrite(std::move(*g.rewrite_done));
      if (g.shutdown) co_return;
      maybe_start_rewrite();
    }
    // Every sender gone without kShutdown: still leave the log synced.
    if (dirty_) co_await sync();
  }

 private:
  struct Group {
    std::string bytes;
    std::vector<oneshot::Sender<bool>> acks;
    bool want_sync = false;
    bool shutdown = false;
    std::optional<AofMsg> rewrite_done;
  };

  void take(AofMsg m, Group& g) {
    switch (m.kind) {
      case AofMsg::Kind::kRecord:
        if (rewriting_) tail_.push_back({m.shard, m.seq, m.data});
        if (g.bytes.empty()) {
          g.bytes = std::move(m.data);
        } else {
          g.bytes += m.data;
        }
        break;
      case AofMsg::Kind::kBarrier:
        if (m.ack) g.acks.push_back(std::move(*m.ack));
        g.want_sync = true;
        break;
      case AofMsg::Kind::kSync:
        g.want_sync = true;
        break;
      case AofMsg::Kind::kRewriteDone:
        g.rewrite_done = std::move(m);
        break;
      case AofMsg::Kind::kShutdown:
        if (m.ack) g.acks.push_back(std::move(*m.ack));
        g.want_sync = true;
        g.shutdown = true;
        break;
    }
  }

  Task<bool> write_group(Group& g) {
    bool ok = true;
    if (!g.bytes.empty()) {
      try {
        co_await log_.write_all(g.bytes, file_deadline());
        size_ += g.bytes.size();
        ctx_.stats.aof_current_size.store(size_, std::memory_order_relaxed);  // relaxed: a statistic
        dirty_ = true;
      } catch (const Cancelled&) {
        throw;
      } catch (const Error& e) {
        ok = false;
        log_line('#', std::string("AOF write failed: ") + e.what());
      }
    }
    if (g.want_sync && dirty_) ok = (co_await sync()) && ok;
    ctx_.stats.aof_last_write_ok.store(ok, std::memory_order_relaxed);  // relaxed: a statistic
    co_return ok;
  }

  Task<bool> sync() {
    try {
      co_await log_.sync(file_deadline());
      dirty_ = false;
      bump(ctx_.stats.aof_fsyncs);
      co_return true;
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      log_line('#', std::string("AOF fsync failed: ") + e.what());
      co_return false;
    }
  }

  void maybe_start_rewrite() {
    if (rewriting_) return;
    const std::uint64_t base = read(ctx_.stats.aof_base_size);
    if (size_ < ctx_.config.aof_rewrite_min_size || size_ < 2 * base) return;
    rewriting_ = true;
    tail_.clear();
    ctx_.stats.aof_rewrite_in_progress.store(true, std::memory_order_relaxed);  // relaxed: a statistic
    log_line('*', "Background append only file rewriting started (log is " + std::to_string(size_) + " bytes)");
    try {
      background_.spawn_background(aof_rewrite(ctx_), {.name = "aof rewrite"});
    } catch (const Error& e) {  // the tracker is closed: shutting down
      rewriting_ = false;
      ctx_.stats.aof_rewrite_in_progress.store(false, std::memory_order_relaxed);
    }
  }

  Task<void> finish_rewrite(AofMsg done) {
    const std::string tmp = ctx_.aof_path + ".rewrite";
    std::vector<TailRecord> tail = std::move(tail_);
    tail_.clear();
    rewriting_ = false;
    ctx_.stats.aof_rewrite_in_progress.store(false, std::memory_order_relaxed);  // relaxed: a statistic
    if (!done.snapshot_seqs) {
      log_line('#', "Background AOF rewrite failed; keeping the current log");
      co_return;
    }
    const auto& seqs = *done.snapshot_seqs;
    std::string bytes;
    for (auto& r : tail) {
      if (r.seq > seqs[r.shard]) bytes += r.data;  // step 4: what the snapshot lacks
    }
    try {
      io::File f = co_await io::File::open(tmp, {.read = false, .write = true, .append = true}, file_deadline());
      if (!bytes.empty()) co_await f.write_all(bytes, file_deadline());
      co_await f.sync(file_deadline());
      f.close();
      co_await io::rename(tmp, ctx_.aof_path, file_deadline());
      // The rename itself must survive a crash: fsync the directory.
      std::string dir = std::filesystem::path(ctx_.aof_path).parent_path().string();
      if (dir.empty()) dir = ".";
      // (Opened read-only: fsync(2) on a directory descriptor flushes its entries.)
      io::File d = co_await io::File::open(dir, {.read = true}, file_deadline());
      co_await d.sync(file_deadline());
      d.close();
      log_ = co_await open_aof_for_append(ctx_.aof_path);
      io::Metadata md = co_await log_.metadata(file_deadline());
      size_ = md.size;
      dirty_ = false;
      ctx_.stats.aof_current_size.store(size_, std::memory_order_relaxed);  // relaxed: statistics
      ctx_.stats.aof_base_size.store(size_, std::memory_order_relaxed);
      bump(ctx_.stats.aof_rewrites);
      log_line('*', "Background AOF rewrite finished successfully (" + std::to_string(size_) + " bytes)");
    } catch (const Cancelled&) {
      throw;
    } catch (const Error& e) {
      log_line('#', std::string("Background AOF rewrite could not be installed: ") + e.what());
    }
  }

  ServerContext& ctx_;
  mpsc::Receiver<AofMsg> rx_;
  io::File log_;
  TaskTracker& background_;
  std::uint64_t size_ = 0;
  bool dirty_ = false;
  bool rewriting_ = false;
  std::vector<TailRecord> tail_;
};

}  // namespace

Task<io::File> open_aof_for_append(const std::string& path) {
  co_return co_await io::File::open(path, {.read = false, .write = true, .append = true, .create = true},
                                    file_deadline());
}

Task<void> aof_writer(ServerContext& ctx, mpsc::Receiver<AofMsg> rx, io::File log, TaskTracker& background) {
  Writer w(ctx, std::move(rx), std::move(log), background);
  co_await w.run();
}

Task<void> aof_sync_ticker(ServerContext& ctx) {
  Interval every(std::chrono::seconds(1), MissedTick::kSkip);
  for (;;) {
    co_await every.tick();
    // A full queue means the writer is busy; the next tick asks again.
    (void)ctx.aof->try_send(AofMsg{.kind = AofMsg::Kind::kSync});
  }
}

Task<void> aof_rewrite(ServerContext& ctx) {
  auto seqs = std::make_shared<std::vector<std::uint64_t>>(ctx.shards.size(), 0);
  const std::string tmp = ctx.aof_path + ".rewrite";
  bool ok = false;
  try {
    io::File f =
        co_await io::File::open(tmp, {.read = false, .write = true, .create = true, .truncate = true}, file_deadline());
    std::string buf;
    for (std::size_t i = 0; i < ctx.shards.size(); ++i) {
      buf.clear();
      const Millis now = unix_millis();
      co_await ctx.shards[i]->with([&](ShardCell& cell) {
        dump_shard(cell.shard, now, buf);
        (*seqs)[i] = cell.aof_seq;
      });
      if (!buf.empty()) co_await f.write_all(buf, file_deadline());
    }
    co_await f.sync(file_deadline());
    ok = true;
  } catch (const Cancelled&) {
    throw;  // shutting down: the writer stops too; the temp file is removed at the next start
  } catch (const Error& e) {
    log_line('#', std::string("AOF rewrite snapshot failed: ") + e.what());
  }
  AofMsg done{.kind = AofMsg::Kind::kRewriteDone};
  if (ok) done.snapshot_seqs = std::move(seqs);
  (void)co_await ctx.aof->send(std::move(done));
}

}  // namespace tether::kv
