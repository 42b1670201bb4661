// Tests for aof.hpp: a log produced by the command layer replays to the same state (including
// deadlines, after "restart" at a later time), a torn final record is dropped and measured at
// every possible cut, and corruption is refused with its offset.
#include "aof.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace tether::kv {
namespace {

struct Snapshot {
  std::map<std::string, std::pair<std::string, Millis>> keys;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Keyspace& ks, Millis now) {
  Snapshot s;
  for (std::size_t i = 0; i < ks.shard_count(); ++i) {
    ks.shard(i).for_each([&](const Shard::Entry& e) {
      if (e.expire_at != kNoExpiry && now > e.expire_at) return;
      s.keys[e.key] = {e.value, e.expire_at};
    });
  }
  return s;
}

// A new empty file under /tmp (empty string if it could not be made); the test removes it.
std::string temp_file_path() {
  char path_template[] = "/tmp/tether_kv_aof_XXXXXX";
  const int fd = mkstemp(path_template);
  if (fd < 0) return {};
  close(fd);
  return path_template;
}

std::size_t file_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  return static_cast<std::size_t>(in.tellg());
}

// Runs commands against `ks`, collecting their AOF records in `log`.
void run_all(Keyspace& ks, Millis now, std::string& log, const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) {
    std::vector<std::string_view> args(c.begin(), c.end());
    std::string reply;
    ks.execute(args, ExecContext{.now = now, .aof = &log}, reply);
  }
}

AofLoadResult replay(Keyspace& ks, std::string_view bytes, Millis now, std::size_t chunk = 0) {
  AofReplayer r(ks, now);
  if (chunk == 0) {
    r.feed(bytes);
  } else {
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
      if (!r.feed(bytes.substr(i, chunk))) break;
    }
  }
  return r.finish();
}

const Millis kT0 = 1'700'000'000'000;

std::vector<std::vector<std::string>> workload() {
  return {
      {"SET", "a", "1"},
      {"SET", "b", std::string("bin\0\r\n", 6), "EX", "100"},
      {"MSET", "c", "3", "d", "4", "e", "5"},
      {"INCR", "a"},
      {"INCRBY", "c", "10"},
      {"APPEND", "d", "xyz"},
      {"SET", "f", "gone", "PX", "10"},
      {"PEXPIRE", "c", "60000"},
      {"SET", "c", "ignored", "NX"},
      {"GETSET", "e", "55"},
      {"DEL", "d", "nothing"},
      {"SET", "g", "7", "PX", "1000"},
      {"PERSIST", "g"},
      {"SET", "h", "8", "EX", "50"},
      {"SET", "h", "9", "KEEPTTL"},
      {"SETNX", "i", "10"},
      {"GETDEL", "i"},
      {"EXPIRE", "a", "-1"},
      {"SET", "j", "11"},
  };
}

TEST(AofTest, ReplayReproducesStateAndDeadlines) {
  Keyspace live{KeyspaceOptions{.shards = 4}};
  std::string log;
  run_all(live, kT0, log, workload());
  // Restart later, with a different shard count: the log does not depend on sharding.
  Keyspace restored{KeyspaceOptions{.shards = 3}};
  const Millis later = kT0 + 20;
  const AofLoadResult r = replay(restored, log, later);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.truncated_bytes, 0u);
  EXPECT_EQ(r.valid_bytes, log.size());
  EXPECT_GT(r.records, 10u);
  EXPECT_EQ(snapshot(restored, later), snapshot(live, later));
  // The key set with PX 10 was logged with its absolute deadline, so it is gone after restart.
  std::string reply;
  std::vector<std::string_view> get_f = {"GET", "f"};
  restored.execute(get_f, ExecContext{.now = later}, reply);
  EXPECT_EQ(reply, "$-1\r\n");
  // And relative TTLs kept their absolute deadline: b expires at kT0 + 100 s.
  reply.clear();
  std::vector<std::string_view> pttl_b = {"PTTL", "b"};
  restored.execute(pttl_b, ExecContext{.now = later}, reply);
  EXPECT_EQ(reply, ":" + std::to_string(100000 - 20) + "\r\n");
}

TEST(AofTest, ReplayDoesNotExpireWhileLoading) {
  // INCR on a key whose deadline passed before the restart must not resurrect it without a TTL:
  // during loading nothing expires, so the INCR applies to the old key and keeps its deadline.
  Keyspace live{KeyspaceOptions{.shards = 2}};
  std::string log;
  run_all(live, kT0, log, {{"SET", "n", "1", "PX", "100"}, {"INCR", "n"}});
  Keyspace restored{KeyspaceOptions{.shards = 2}};
  ASSERT_TRUE(replay(restored, log, kT0 + 1000).ok());
  std::string reply;
  std::vector<std::string_view> get = {"GET", "n"};
  restored.execute(get, ExecContext{.now = kT0 + 1000}, reply);
  EXPECT_EQ(reply, "$-1\r\n");
  reply.clear();
  restored.execute(get, ExecContext{.now = kT0 + 50}, reply);
  // (already deleted by the read above, so nothing to see at an earlier time either)
  EXPECT_EQ(reply, "$-1\r\n");
}

// Property: cutting the log at any byte (a crash mid-write) replays every complete record before
// the cut and reports exactly the bytes after the last complete record as truncated.
TEST(AofTest, TornTailAtEveryCutIsDroppedAndMeasured) {
  Keyspace live{KeyspaceOptions{.shards = 4}};
  std::string log;
  run_all(live, kT0, log, workload());
  // Record boundaries (one command may write several records, e.g. MSET, one per shard).
  std::vector<std::size_t> boundaries = {0};
  {
    RequestParser p;
    p.feed(log);
    std::vector<std::string_view> args;
    while (p.next(args) == RequestParser::Status::kCommand) boundaries.push_back(p.consumed_offset());
    ASSERT_EQ(boundaries.back(), log.size());
  }
  for (std::size_t cut = 0; cut <= log.size(); ++cut) {
    Keyspace ks{KeyspaceOptions{.shards = 2}};
    const AofLoadResult r = replay(ks, std::string_view(log).substr(0, cut), kT0, cut % 5 + 1);
    ASSERT_TRUE(r.ok()) << "cut " << cut << ": " << r.error;
    std::size_t last = 0;
    for (const std::size_t b : boundaries) {
      if (b <= cut) last = b;
    }
    EXPECT_EQ(r.valid_bytes, last) << cut;
    EXPECT_EQ(r.truncated_bytes, cut - last) << cut;
  }
}

TEST(AofTest, CorruptLogIsRefusedWithOffset) {
  std::string log;
  const std::string_view set[] = {"SET", "a", "1"};
  append_command(log, set);
  const std::size_t good = log.size();

  Keyspace ks;
  AofLoadResult r = replay(ks, log + "garbage\r\n", kT0);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "corrupt AOF at offset " + std::to_string(good) + ": ERR Protocol error: expected '*', got 'g'");
  EXPECT_EQ(r.records, 1u);

  r = replay(ks, log + "*1\r\n$x\r\n", kT0);
  EXPECT_EQ(r.error, "corrupt AOF at offset " + std::to_string(good) + ": ERR Protocol error: invalid bulk length");

  std::string unknown = log;
  const std::string_view bad[] = {"NOSUCH", "x"};
  append_command(unknown, bad);
  r = replay(ks, unknown, kT0);
  EXPECT_EQ(r.error, "corrupt AOF at offset " + std::to_string(good) +
                         ": record 2 failed: ERR unknown command 'NOSUCH', with args beginning with: 'x' ");

  std::string server = log;
  const std::string_view sub[] = {"SUBSCRIBE", "x"};
  append_command(server, sub);
  EXPECT_FALSE(replay(ks, server, kT0).ok());
}

TEST(AofTest, CompactionDumpReplaysToSameState) {
  Keyspace live{KeyspaceOptions{.shards = 4}};
  std::string log;
  run_all(live, kT0, log, workload());
  for (int i = 0; i < 300; ++i) {
    run_all(live, kT0, log, {{"SET", "bulk" + std::to_string(i), std::string(i, 'x'), "PX", std::to_string(1000 + i)}});
  }
  const Millis at = kT0 + 20;
  std::string dump;
  std::string flushed;
  std::size_t keys = 0;
  for (std::size_t i = 0; i < live.shard_count(); ++i) {
    keys += dump_shard(
        live.shard(i), at, dump,
        [&](std::string& buf) {
          flushed += buf;
          buf.clear();
        },
        4096);
  }
  flushed += dump;
  EXPECT_EQ(keys, snapshot(live, at).keys.size());
  EXPECT_LT(flushed.size(), log.size());

  Keyspace restored{KeyspaceOptions{.shards = 5}};
  const AofLoadResult r = replay(restored, flushed, at, 1000);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.records, keys);
  EXPECT_EQ(snapshot(restored, at), snapshot(live, at));
}

TEST(AofTest, LoadFileTruncatesTornTail) {
  const std::string path = temp_file_path();
  ASSERT_FALSE(path.empty());

  std::string log;
  Keyspace live;
  run_all(live, kT0, log, {{"SET", "a", "1"}, {"SET", "b", "2"}});
  const std::size_t complete = log.size();
  {
    std::ofstream f(path, std::ios::binary);
    f << log << "*3\r\n$3\r\nSET\r\n$1\r\nc";  // torn third record
  }
  Keyspace ks;
  const AofLoadResult r = load_aof_file(path, ks, kT0);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.valid_bytes, complete);
  EXPECT_EQ(r.truncated_bytes, 18u);
  EXPECT_EQ(ks.size(), 2u);
  EXPECT_EQ(file_size(path), complete);  // file cut back to the last record
  std::remove(path.c_str());

  Keyspace empty;
  const AofLoadResult missing = load_aof_file(path + ".none", empty, kT0);
  EXPECT_TRUE(missing.ok());
  EXPECT_EQ(missing.records, 0u);
}

// Property: a replay asked to stop ends between chunks with `interrupted`, applies only whole
// chunks read before the request, and leaves the file exactly as it was, torn tail included (the
// next start replays it all and cuts the tail then).
TEST(AofTest, LoadFileStopsWhenAskedAndLeavesTheFileAlone) {
  const std::string path = temp_file_path();
  ASSERT_FALSE(path.empty());

  std::string log;
  Keyspace live;
  std::vector<std::vector<std::string>> sets;
  for (int i = 0; i < 20'000; ++i) sets.push_back({"SET", "key:" + std::to_string(i), std::string(40, 'v')});
  run_all(live, kT0, log, sets);
  ASSERT_GT(log.size(), 2u * 256 * 1024);  // several chunks
  const std::string torn = "*3\r\n$3\r\nSET\r\n$1\r\nc";
  {
    std::ofstream f(path, std::ios::binary);
    f << log << torn;
  }
  const std::size_t size_before = log.size() + torn.size();

  Keyspace none;
  const AofLoadResult at_once = load_aof_file(path, none, kT0, true, [] { return true; });
  EXPECT_TRUE(at_once.interrupted);
  EXPECT_EQ(at_once.records, 0u);
  EXPECT_EQ(none.size(), 0u);

  Keyspace some;
  int asked = 0;
  const AofLoadResult after_one = load_aof_file(path, some, kT0, true, [&asked] { return ++asked > 1; });
  EXPECT_TRUE(after_one.interrupted);
  EXPECT_GT(after_one.records, 0u);
  EXPECT_LT(after_one.records, sets.size());
  EXPECT_EQ(some.size(), after_one.records);
  EXPECT_EQ(file_size(path), size_before);  // not truncated

  Keyspace all;
  const AofLoadResult whole = load_aof_file(path, all, kT0, true, [] { return false; });
  ASSERT_TRUE(whole.ok()) << whole.error;
  EXPECT_FALSE(whole.interrupted);
  EXPECT_EQ(whole.records, sets.size());
  EXPECT_EQ(whole.truncated_bytes, torn.size());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tether::kv
