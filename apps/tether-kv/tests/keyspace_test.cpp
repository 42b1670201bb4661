// Tests for keyspace.hpp: every command's reply bytes as Redis 7.0 gives them (the expected
// strings were captured from redis-server 7.0.15), expiry with an injected clock, SCAN's
// guarantee under concurrent growth, sharding of multi-key commands, and the AOF records that
// writes produce.
#include "keyspace.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "resp.hpp"

namespace tether::kv {
namespace {

class KeyspaceTest : public ::testing::Test {
 protected:
  // Runs one command at time `now_` and returns its reply bytes.
  std::string run(std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    std::string out;
    ExecContext ctx{.now = now_, .aof = &aof_};
    const auto kind = ks_.execute(views, ctx, out);
    if (kind == Execution::Kind::kServer) return "<server>";
    return out;
  }

  Keyspace ks_{KeyspaceOptions{.shards = 4}};
  Millis now_ = 1'700'000'000'000;
  std::string aof_;
};

std::string bulk(std::string_view s) {
  std::string out;
  append_bulk(out, s);
  return out;
}

constexpr const char* kNil = "$-1\r\n";
constexpr const char* kOk = "+OK\r\n";

TEST_F(KeyspaceTest, PingEchoSelect) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"ping", "hi"}), bulk("hi"));
  EXPECT_EQ(run({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
  EXPECT_EQ(run({"ECHO", std::string("a\0b", 3)}), bulk(std::string("a\0b", 3)));
  EXPECT_EQ(run({"ECHO"}), "-ERR wrong number of arguments for 'echo' command\r\n");
  EXPECT_EQ(run({"SELECT", "0"}), kOk);
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "-1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "abc"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"SELECT", "99999999999"}),
            "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n");
}

TEST_F(KeyspaceTest, UnknownCommandAndArityErrorsMatchRedis) {
  EXPECT_EQ(run({"foo"}), "-ERR unknown command 'foo', with args beginning with: \r\n");
  EXPECT_EQ(run({"foo", "a", "b"}), "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(run({"FOO", "a\r\nb", "c"}), "-ERR unknown command 'FOO', with args beginning with: 'a  b' 'c' \r\n");
  EXPECT_EQ(run({"foo", std::string(200, 'x'), "y"}),
            "-ERR unknown command 'foo', with args beginning with: '" + std::string(128, 'x') + "' \r\n");
  EXPECT_EQ(run({"foo", "a", std::string(130, 'b'), "c"}),
            "-ERR unknown command 'foo', with args beginning with: 'a' '" + std::string(124, 'b') + "' \r\n");
  EXPECT_EQ(run({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"get", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"MSET", "a"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(run({"MSET", "a", "b", "c"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(run({"DEL"}), "-ERR wrong number of arguments for 'del' command\r\n");
  EXPECT_EQ(run({"DBSIZE", "x"}), "-ERR wrong number of arguments for 'dbsize' command\r\n");
  EXPECT_EQ(run({"KEYS"}), "-ERR wrong number of arguments for 'keys' command\r\n");
  EXPECT_EQ(run({"SeTnX", "a"}), "-ERR wrong number of arguments for 'setnx' command\r\n");
  // The connection stays usable: nothing is consumed by an error.
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
}

TEST_F(KeyspaceTest, ServerCommandsAreLeftToTheHost) {
  EXPECT_EQ(run({"QUIT"}), "<server>");
  EXPECT_EQ(run({"subscribe", "ch"}), "<server>");
  EXPECT_EQ(run({"SUBSCRIBE"}), "-ERR wrong number of arguments for 'subscribe' command\r\n");
  EXPECT_EQ(lookup_command("Publish")->id, CommandId::kPublish);
  EXPECT_EQ(lookup_command("nope"), nullptr);
}

TEST_F(KeyspaceTest, GetSetBasics) {
  EXPECT_EQ(run({"GET", "k"}), kNil);
  EXPECT_EQ(run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(run({"GET", "k"}), bulk("v"));
  const std::string key("\0\xff\r\n", 4), value(300, '\0');
  EXPECT_EQ(run({"SET", key, value}), kOk);
  EXPECT_EQ(run({"GET", key}), bulk(value));
  EXPECT_EQ(run({"TYPE", key}), "+string\r\n");
  EXPECT_EQ(run({"TYPE", "missing"}), "+none\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":2\r\n");
}

TEST_F(KeyspaceTest, SetOptionErrorsMatchRedis) {
  const std::string syntax = "-ERR syntax error\r\n";
  const std::string bad_expire = "-ERR invalid expire time in 'set' command\r\n";
  const std::string not_int = "-ERR value is not an integer or out of range\r\n";
  EXPECT_EQ(run({"SET", "k", "v", "EX", "10", "PX", "100"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "NX", "XX"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "XX", "NX"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "EX"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "KEEPTTL", "EX", "5"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "PX", "5", "KEEPTTL"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "bogus"}), syntax);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "0"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "-5"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "9223372036854775"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "PX", "9223372036854775807"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "EXAT", "0"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "PXAT", "-1"}), bad_expire);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "abc"}), not_int);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "01"}), not_int);
  EXPECT_EQ(run({"DBSIZE"}), ":0\r\n");  // no error wrote anything
  EXPECT_EQ(run({"SET", "k", "v", "PXAT", "9223372036854775807"}), kOk);
  EXPECT_EQ(run({"SET", "k", "v", "EX", "5", "EX", "6"}), kOk);  // same option twice: last wins
  EXPECT_EQ(run({"TTL", "k"}), ":6\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "keepttl", "keepttl"}), kOk);
  EXPECT_EQ(run({"set", "k", "v", "nx", "NX"}), kNil);
}

TEST_F(KeyspaceTest, SetNxXxGetKeepttl) {
  EXPECT_EQ(run({"SET", "k", "1", "XX"}), kNil);
  EXPECT_EQ(run({"GET", "k"}), kNil);
  EXPECT_EQ(run({"SET", "k", "1", "NX"}), kOk);
  EXPECT_EQ(run({"SET", "k", "2", "NX"}), kNil);
  EXPECT_EQ(run({"SET", "k", "2", "XX", "GET"}), bulk("1"));
  EXPECT_EQ(run({"SET", "k", "3", "NX", "GET"}), bulk("2"));  // not set, old value returned
  EXPECT_EQ(run({"GET", "k"}), bulk("2"));
  EXPECT_EQ(run({"SET", "new", "x", "GET"}), kNil);
  EXPECT_EQ(run({"SET", "k", "v", "PX", "5000"}), kOk);
  EXPECT_EQ(run({"SET", "k", "w", "KEEPTTL"}), kOk);
  EXPECT_EQ(run({"PTTL", "k"}), ":5000\r\n");
  EXPECT_EQ(run({"SET", "k", "x"}), kOk);  // plain SET drops the TTL
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"SET", "k", "x", "EXAT", std::to_string(now_ / 1000 + 100)}), kOk);
  EXPECT_EQ(run({"TTL", "k"}), ":100\r\n");
}

TEST_F(KeyspaceTest, ExpiryIsLazyAndUsesRedisBoundary) {
  EXPECT_EQ(run({"SET", "k", "v", "PX", "100"}), kOk);
  now_ += 100;  // expire_at == now: still visible (Redis expires when now > expire_at)
  EXPECT_EQ(run({"GET", "k"}), bulk("v"));
  EXPECT_EQ(run({"PTTL", "k"}), ":0\r\n");
  now_ += 1;
  EXPECT_EQ(ks_.size(), 1u);  // nothing deleted it yet
  EXPECT_EQ(run({"GET", "k"}), kNil);
  EXPECT_EQ(ks_.size(), 0u);  // the read deleted it
  EXPECT_EQ(run({"TTL", "k"}), ":-2\r\n");
}

TEST_F(KeyspaceTest, TtlRoundsLikeRedis) {
  run({"SET", "a", "v", "PX", "1500"});
  run({"SET", "b", "v", "PX", "1499"});
  EXPECT_EQ(run({"TTL", "a"}), ":2\r\n");
  EXPECT_EQ(run({"PTTL", "a"}), ":1500\r\n");
  EXPECT_EQ(run({"TTL", "b"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "none"}), ":-2\r\n");
  run({"SET", "c", "v"});
  EXPECT_EQ(run({"PTTL", "c"}), ":-1\r\n");
}

TEST_F(KeyspaceTest, MultiKeyCommandsAcrossShards) {
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 40; ++i) {
    mset.push_back("key" + std::to_string(i));
    mset.push_back("val" + std::to_string(i));
  }
  EXPECT_EQ(run(mset), kOk);
  std::set<std::size_t> used;
  for (int i = 0; i < 40; ++i) used.insert(ks_.shard_of("key" + std::to_string(i)));
  EXPECT_GT(used.size(), 1u);  // the test really spans shards

  std::string want = "*41\r\n";
  std::vector<std::string> mget = {"MGET"};
  for (int i = 39; i >= 0; --i) {
    mget.push_back("key" + std::to_string(i));
    want += bulk("val" + std::to_string(i));
  }
  mget.push_back("missing");
  want += kNil;
  EXPECT_EQ(run(mget), want);
  EXPECT_EQ(run({"MGET", "key1", "zz", "key1"}), "*3\r\n" + bulk("val1") + kNil + bulk("val1"));
  EXPECT_EQ(run({"EXISTS", "key1", "key1", "zz", "key2"}), ":3\r\n");
  EXPECT_EQ(run({"DEL", "key1", "key1", "zz", "key2"}), ":2\r\n");
  EXPECT_EQ(run({"UNLINK", "key3"}), ":1\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":37\r\n");
  EXPECT_EQ(run({"FLUSHALL", "x"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"FLUSHDB", "async", "x"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"FLUSHDB", "sYnc"}), kOk);
  EXPECT_EQ(run({"DBSIZE"}), ":0\r\n");
}

TEST_F(KeyspaceTest, MsetClearsTtl) {
  run({"SET", "a", "1", "EX", "100"});
  EXPECT_EQ(run({"MSET", "a", "2", "b", "3"}), kOk);
  EXPECT_EQ(run({"TTL", "a"}), ":-1\r\n");
}

TEST_F(KeyspaceTest, SetnxGetsetGetdel) {
  EXPECT_EQ(run({"SETNX", "k", "1"}), ":1\r\n");
  EXPECT_EQ(run({"SETNX", "k", "2"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "100"}), ":1\r\n");
  EXPECT_EQ(run({"GETSET", "k", "3"}), bulk("1"));
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");  // GETSET drops the TTL
  EXPECT_EQ(run({"GETSET", "new", "1"}), kNil);
  EXPECT_EQ(run({"GETDEL", "k"}), bulk("3"));
  EXPECT_EQ(run({"GETDEL", "k"}), kNil);
  EXPECT_EQ(run({"EXISTS", "k"}), ":0\r\n");
}

TEST_F(KeyspaceTest, IncrDecrFamily) {
  const std::string not_int = "-ERR value is not an integer or out of range\r\n";
  EXPECT_EQ(run({"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(run({"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9"}), ":50\r\n");
  EXPECT_EQ(run({"GET", "n"}), bulk("50"));
  EXPECT_EQ(run({"INCRBY", "n", "x"}), not_int);
  EXPECT_EQ(run({"INCRBY", "n", "01"}), not_int);
  EXPECT_EQ(run({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  run({"SET", "n", "9223372036854775807"});
  EXPECT_EQ(run({"INCR", "n"}), "-ERR increment or decrement would overflow\r\n");
  run({"SET", "n", "-9223372036854775808"});
  EXPECT_EQ(run({"DECR", "n"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "9223372036854775807"}), ":-1\r\n");
  for (const char* bad : {"abc", "", "-0", " 1", "1.5", "007"}) {
    run({"SET", "s", bad});
    EXPECT_EQ(run({"INCR", "s"}), not_int) << bad;
  }
  // INCR keeps the TTL.
  run({"SET", "t", "5", "PX", "10000"});
  EXPECT_EQ(run({"INCR", "t"}), ":6\r\n");
  EXPECT_EQ(run({"PTTL", "t"}), ":10000\r\n");
}

TEST_F(KeyspaceTest, AppendAndStrlen) {
  EXPECT_EQ(run({"APPEND", "k", "v"}), ":1\r\n");
  EXPECT_EQ(run({"APPEND", "k", "xyz"}), ":4\r\n");
  EXPECT_EQ(run({"STRLEN", "k"}), ":4\r\n");
  EXPECT_EQ(run({"STRLEN", "q"}), ":0\r\n");
  EXPECT_EQ(run({"GET", "k"}), bulk("vxyz"));
  EXPECT_EQ(run({"APPEND", "k"}), "-ERR wrong number of arguments for 'append' command\r\n");
  std::vector<std::string_view> args = {"APPEND", "k", "12345"};
  std::string out;
  ks_.execute(args, ExecContext{.now = now_, .max_string_length = 8}, out);
  EXPECT_EQ(out, "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
}

TEST_F(KeyspaceTest, ExpireFamilyOptionsAndErrors) {
  EXPECT_EQ(run({"EXPIRE", "k", "10"}), ":0\r\n");  // missing key
  run({"SET", "k", "v"});
  EXPECT_EQ(run({"EXPIRE", "k", "10", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10", "GT", "LT"}), "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10", "foo"}), "-ERR Unsupported option foo\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "abc", "foo"}), "-ERR Unsupported option foo\r\n");
  EXPECT_EQ(run({"EXPIREAT", "k", "abc", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "abc"}), "-ERR value is not an integer or out of range\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "9223372036854775807"}), "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(run({"PEXPIRE", "k", "9223372036854775807"}), "-ERR invalid expire time in 'pexpire' command\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "100", "XX"}), ":0\r\n");  // no TTL yet
  EXPECT_EQ(run({"EXPIRE", "k", "100", "GT"}), ":0\r\n");  // no TTL counts as infinite
  EXPECT_EQ(run({"EXPIRE", "k", "100", "LT"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "100", "nx", "NX"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "200", "GT"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "150", "GT"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "150", "LT", "XX"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":150\r\n");
  EXPECT_EQ(run({"PEXPIRE", "k", "1234"}), ":1\r\n");
  EXPECT_EQ(run({"PTTL", "k"}), ":1234\r\n");
  EXPECT_EQ(run({"PEXPIREAT", "k", std::to_string(now_ + 777)}), ":1\r\n");
  EXPECT_EQ(run({"PTTL", "k"}), ":777\r\n");
  EXPECT_EQ(run({"EXPIREAT", "k", std::to_string(now_ / 1000 + 60)}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":60\r\n");
  EXPECT_EQ(run({"PERSIST", "k"}), ":1\r\n");
  EXPECT_EQ(run({"PERSIST", "k"}), ":0\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  // A time in the past deletes the key at once (and still answers 1).
  EXPECT_EQ(run({"EXPIRE", "k", "-1"}), ":1\r\n");
  EXPECT_EQ(run({"EXISTS", "k"}), ":0\r\n");
  EXPECT_EQ(ks_.size(), 0u);
}

TEST_F(KeyspaceTest, KeysWithPatterns) {
  run({"MSET", "user:1", "a", "user:2", "b", "item:1", "c"});
  run({"SET", "user:3", "d", "PX", "10"});
  EXPECT_EQ(run({"KEYS", "nomatch*"}), "*0\r\n");
  const std::string reply = run({"KEYS", "user:*"});
  EXPECT_EQ(reply.substr(0, 4), "*3\r\n");
  EXPECT_NE(reply.find(bulk("user:1")), std::string::npos);
  EXPECT_NE(reply.find(bulk("user:3")), std::string::npos);
  now_ += 11;
  EXPECT_EQ(run({"KEYS", "user:*"}).substr(0, 4), "*2\r\n");  // expired keys are not listed
  EXPECT_EQ(run({"KEYS", "*"}).substr(0, 4), "*3\r\n");
}

// Parses a SCAN reply into (cursor, keys).
std::pair<std::string, std::vector<std::string>> parse_scan(const std::string& reply) {
  RequestParser p;                            // a SCAN reply has the same shape as a request minus the nesting
  std::size_t i = reply.find("\r\n", 0) + 2;  // "*2"
  std::size_t j = reply.find("\r\n", i);      // "$n"
  const std::size_t n = std::stoul(reply.substr(i + 1, j - i - 1));
  std::string cursor = reply.substr(j + 2, n);
  std::string rest = reply.substr(j + 2 + n + 2);
  p.feed(rest);
  std::vector<std::string_view> args;
  std::vector<std::string> keys;
  if (rest != "*0\r\n") {
    EXPECT_EQ(p.next(args), RequestParser::Status::kCommand);
    keys.assign(args.begin(), args.end());
  }
  return {cursor, keys};
}

TEST_F(KeyspaceTest, ScanErrorsMatchRedis) {
  EXPECT_EQ(run({"SCAN", "abc"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", " 5"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "+"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "18446744073709551616"}), "-ERR invalid cursor\r\n");
  EXPECT_EQ(run({"SCAN", "0", "COUNT", "0"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SCAN", "0", "COUNT"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SCAN", "0", "bogus", "1"}), "-ERR syntax error\r\n");
  EXPECT_EQ(run({"SCAN", "0", "COUNT", "x"}), "-ERR value is not an integer or out of range\r\n");
  // Accepted like strtoul: "", "-1", "-05".
  for (const char* ok : {"", "-1", "-05", "18446744073709551615"}) {
    EXPECT_EQ(run({"SCAN", ok}).substr(0, 4), "*2\r\n") << ok;
  }
  EXPECT_EQ(run({"SCAN", "0", "TYPE", "list"}), "*2\r\n$1\r\n1\r\n*0\r\n");
}

TEST_F(KeyspaceTest, ScanWalksEverything) {
  std::set<std::string> all;
  for (int i = 0; i < 500; ++i) {
    all.insert("k" + std::to_string(i));
    run({"SET", "k" + std::to_string(i), "v"});
  }
  std::set<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    auto [next, keys] = parse_scan(run({"SCAN", cursor, "COUNT", "7"}));
    seen.insert(keys.begin(), keys.end());
    cursor = next;
    ASSERT_LT(++calls, 10000);
  } while (cursor != "0");
  EXPECT_EQ(seen, all);
}

// Property: a key present for the whole scan is returned at least once, even when the shards'
// tables grow (many inserts) and keys are deleted between calls.
TEST_F(KeyspaceTest, ScanReturnsKeysPresentThroughoutDespiteGrowthAndDeletes) {
  std::set<std::string> stable;
  for (int i = 0; i < 300; ++i) {
    stable.insert("stable" + std::to_string(i));
    run({"SET", "stable" + std::to_string(i), "v"});
    run({"SET", "victim" + std::to_string(i), "v"});
  }
  std::set<std::string> seen;
  std::string cursor = "0";
  int step = 0;
  do {
    auto [next, keys] = parse_scan(run({"SCAN", cursor, "COUNT", "5", "MATCH", "stable*"}));
    for (const auto& k : keys) EXPECT_EQ(k.rfind("stable", 0), 0u) << k;
    seen.insert(keys.begin(), keys.end());
    cursor = next;
    // Grow the table a lot between calls and delete other keys.
    for (int i = 0; i < 8; ++i) run({"SET", "new" + std::to_string(step) + "_" + std::to_string(i), "v"});
    run({"DEL", "victim" + std::to_string(step)});
    ++step;
    ASSERT_LT(step, 100000);
  } while (cursor != "0");
  for (const auto& k : stable) EXPECT_TRUE(seen.count(k)) << k;
}

TEST_F(KeyspaceTest, ScanSkipsExpiredKeys) {
  run({"SET", "gone", "v", "PX", "5"});
  run({"SET", "here", "v"});
  now_ += 10;
  std::set<std::string> seen;
  std::string cursor = "0";
  do {
    auto [next, keys] = parse_scan(run({"SCAN", cursor}));
    seen.insert(keys.begin(), keys.end());
    cursor = next;
  } while (cursor != "0");
  EXPECT_EQ(seen, std::set<std::string>{"here"});
}

TEST_F(KeyspaceTest, WritesProduceAbsoluteAofRecords) {
  auto record = [](std::vector<std::string_view> args) {
    std::string out;
    append_command(out, args);
    return out;
  };
  const std::string at = std::to_string(now_ + 5000);
  aof_.clear();
  run({"SET", "k", "v", "EX", "5"});
  EXPECT_EQ(aof_, record({"SET", "k", "v", "PXAT", at}));
  aof_.clear();
  run({"GET", "k"});
  run({"SET", "k", "x", "NX"});  // not performed: not logged
  run({"EXPIRE", "missing", "5"});
  EXPECT_EQ(aof_, "");
  run({"PEXPIRE", "k", "100"});
  EXPECT_EQ(aof_, record({"PEXPIREAT", "k", std::to_string(now_ + 100)}));
  aof_.clear();
  run({"EXPIRE", "k", "-1"});
  EXPECT_EQ(aof_, record({"DEL", "k"}));
  aof_.clear();
  run({"INCR", "n"});
  EXPECT_EQ(aof_, record({"SET", "n", "1", "KEEPTTL"}));
  aof_.clear();
  run({"DEL", "n", "nothing"});
  EXPECT_EQ(aof_, record({"DEL", "n"}));
}

TEST(ShardTest, ExpireSampleDeletesOnlyExpiredKeys) {
  Shard shard;
  const Millis now = 1000;
  for (int i = 0; i < 100; ++i) {
    bool created = false;
    const std::string key = "k" + std::to_string(i);
    auto* e = shard.upsert(key, hash_key(key), now, created);
    if (i % 2 == 0) shard.set_expire(e, i < 50 ? now - 1 : now + 1000);
  }
  EXPECT_EQ(shard.keys_with_ttl(), 50u);
  std::size_t expired = 0;
  for (int round = 0; round < 200 && shard.keys_with_ttl() > 25; ++round) {
    const ExpireStats st = shard.expire_sample(now, 20);
    EXPECT_LE(st.sampled, 20u);
    expired += st.expired;
  }
  EXPECT_EQ(expired, 25u);
  EXPECT_EQ(shard.size(), 75u);
  EXPECT_EQ(shard.keys_with_ttl(), 25u);
  const ExpireStats none = shard.expire_sample(now, 100);
  EXPECT_EQ(none.expired, 0u);
  Shard empty;
  EXPECT_EQ(empty.expire_sample(now, 10).sampled, 0u);
}

// Property: each shard of a multi-key command can run independently (here in reverse order),
// and the merged reply is the same as running them in any other order.
TEST(ExecutionTest, ShardsMayRunInAnyOrder) {
  std::vector<Shard> shards(8);
  std::vector<std::string> args_storage = {"MSET"};
  for (int i = 0; i < 30; ++i) {
    args_storage.push_back("k" + std::to_string(i));
    args_storage.push_back(std::to_string(i));
  }
  std::vector<std::string_view> args(args_storage.begin(), args_storage.end());
  Execution mset(args, shards.size());
  ASSERT_EQ(mset.kind(), Execution::Kind::kShards);
  const auto list = mset.shards();
  for (auto it = list.rbegin(); it != list.rend(); ++it) mset.run(*it, shards[*it], ExecContext{});
  std::string out;
  mset.finish(out);
  EXPECT_EQ(out, "+OK\r\n");

  std::vector<std::string_view> mget = {"MGET", "k3", "k1", "k2"};
  Execution get(mget, shards.size());
  for (const auto s : get.shards()) get.run(s, shards[s], ExecContext{});
  out.clear();
  get.finish(out);
  EXPECT_EQ(out, "*3\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n");
}

TEST(ExecutionTest, RepliedCommandsNeedNoShard) {
  std::vector<std::string_view> args = {"PING"};
  Execution ex(args, 4);
  EXPECT_EQ(ex.kind(), Execution::Kind::kReplied);
  EXPECT_TRUE(ex.shards().empty());
  std::string out = "+PREVIOUS\r\n";
  ex.finish(out);
  EXPECT_EQ(out, "+PREVIOUS\r\n+PONG\r\n");
}

TEST(ShardTest, HashSpreadsKeysOverShards) {
  std::vector<int> count(16, 0);
  for (int i = 0; i < 16000; ++i) ++count[shard_for_hash(hash_key("key:" + std::to_string(i)), 16)];
  for (const int c : count) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
}

}  // namespace
}  // namespace tether::kv
