// Tests for resp.hpp: framing under arbitrary chunking, Redis's exact protocol errors, limits
// that bound memory, and the reply encoder's bytes.
#include "resp.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tether::kv {
namespace {

using Cmd = std::vector<std::string>;

struct Parsed {
  std::vector<Cmd> commands;
  RequestParser::Status last = RequestParser::Status::kNeedMore;
  std::string error;
};

// Drains every complete command currently buffered, copying the views out.
void drain(RequestParser& p, Parsed& out) {
  std::vector<std::string_view> args;
  for (;;) {
    out.last = p.next(args);
    if (out.last != RequestParser::Status::kCommand) break;
    out.commands.emplace_back(args.begin(), args.end());
  }
  if (out.last == RequestParser::Status::kError) out.error = p.error_message();
}

Parsed parse_chunks(const std::vector<std::string_view>& chunks, ParserOptions o = {}) {
  RequestParser p(o);
  Parsed out;
  for (const auto c : chunks) {
    p.feed(c);
    drain(p, out);
    if (out.last == RequestParser::Status::kError) break;
  }
  return out;
}

Parsed parse(std::string_view s, ParserOptions o = {}) { return parse_chunks({s}, o); }

std::string resp_command(const Cmd& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  append_command(out, views);
  return out;
}

TEST(RespParserTest, ParsesMultibulkCommand) {
  const auto r = parse("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.commands[0], (Cmd{"SET", "k", "value"}));
  EXPECT_EQ(r.last, RequestParser::Status::kNeedMore);
}

TEST(RespParserTest, BulkStringsAreBinarySafe) {
  const std::string value("a\r\nb\0c*$", 8);
  const auto r = parse(resp_command({"SET", std::string("k\0ey", 4), value}));
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.commands[0][1], std::string("k\0ey", 4));
  EXPECT_EQ(r.commands[0][2], value);
}

TEST(RespParserTest, EmptyBulkAndEmptyArraysAreHandledLikeRedis) {
  // *0 and *-1 are skipped without a reply; an empty bulk string is a valid argument.
  const auto r = parse("*0\r\n*-1\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.commands[0], (Cmd{"ECHO", ""}));
}

TEST(RespParserTest, ParsesInlineCommands) {
  const auto r = parse("PING\r\nSET k  v\r\n\r\n   \r\nGET k\n");
  ASSERT_EQ(r.commands.size(), 3u);
  EXPECT_EQ(r.commands[0], (Cmd{"PING"}));
  EXPECT_EQ(r.commands[1], (Cmd{"SET", "k", "v"}));
  EXPECT_EQ(r.commands[2], (Cmd{"GET", "k"}));
}

TEST(RespParserTest, InlineQuotingFollowsRedis) {
  const auto r = parse(
      "ECHO \"a b\\x41\\n\\\"\" 'it\\'s' x\"y z\" w\r\n"
      "ECHO \"\\q\" '\\n'\r\n");
  ASSERT_EQ(r.commands.size(), 2u);
  EXPECT_EQ(r.commands[0], (Cmd{"ECHO", "a bA\n\"", "it's", "xy z", "w"}));
  EXPECT_EQ(r.commands[1], (Cmd{"ECHO", "q", "\\n"}));
}

TEST(RespParserTest, InlineUnbalancedQuotesIsProtocolError) {
  for (const std::string_view bad : {"PING \"a\r\n", "PING \"a\"b\r\n", "PING 'a\r\n", "PING 'a'b\r\n"}) {
    const auto r = parse(bad);
    EXPECT_EQ(r.last, RequestParser::Status::kError) << bad;
    EXPECT_EQ(r.error, "ERR Protocol error: unbalanced quotes in request") << bad;
  }
}

TEST(RespParserTest, InlineNulEndsTheLine) {
  const auto r = parse(std::string_view("GET a\0b c\r\nPING\r\n", 17));
  ASSERT_EQ(r.commands.size(), 2u);
  EXPECT_EQ(r.commands[0], (Cmd{"GET", "a"}));
}

// Property: however a pipelined stream is cut into two chunks, and whether or not the parser is
// drained between them, it yields the same commands.
TEST(RespParserTest, EverySplitPointParsesIdentically) {
  const std::string stream = resp_command({"SET", "key:1", std::string("v\r\n\0x", 5)}) + "PING\r\n" +
                             resp_command({"MGET", "a", "", "ccc"}) + "*0\r\n" + "ECHO \"q q\" 'r'\r\n" +
                             resp_command({"GET", "key:1"});
  const auto whole = parse(stream);
  ASSERT_EQ(whole.commands.size(), 5u);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    const std::string_view sv(stream);
    const auto split = parse_chunks({sv.substr(0, i), sv.substr(i)});
    EXPECT_EQ(split.commands, whole.commands) << "split at " << i;
    EXPECT_EQ(split.last, RequestParser::Status::kNeedMore);
  }
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    for (std::size_t j = i; j <= stream.size(); j += 7) {
      const std::string_view sv(stream);
      const auto split = parse_chunks({sv.substr(0, i), sv.substr(i, j - i), sv.substr(j)});
      ASSERT_EQ(split.commands, whole.commands) << "split at " << i << "," << j;
    }
  }
}

TEST(RespParserTest, ByteAtATimeParsesIdentically) {
  std::string stream;
  for (int i = 0; i < 50; ++i) stream += resp_command({"SET", "k" + std::to_string(i), std::string(i * 37, 'x')});
  stream += "INLINE a b\r\n";
  const auto whole = parse(stream);
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < stream.size(); ++i) chunks.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(parse_chunks(chunks).commands, whole.commands);
  EXPECT_EQ(whole.commands.size(), 51u);
}

TEST(RespParserTest, ViewsStayValidUntilNextFeed) {
  RequestParser p;
  p.feed(resp_command({"GET", "a"}) + resp_command({"GET", "b"}));
  std::vector<std::string_view> first, second;
  ASSERT_EQ(p.next(first), RequestParser::Status::kCommand);
  ASSERT_EQ(p.next(second), RequestParser::Status::kCommand);
  EXPECT_EQ(first[1], "a");  // still valid: next() never moves the buffer
  EXPECT_EQ(second[1], "b");
}

TEST(RespParserTest, PrepareCommitReadsWithoutExtraCopy) {
  RequestParser p;
  const std::string req = resp_command({"PING"});
  auto space = p.prepare(req.size());
  ASSERT_GE(space.size(), req.size());
  std::copy(req.begin(), req.end(), space.begin());
  p.commit(req.size());
  std::vector<std::string_view> args;
  ASSERT_EQ(p.next(args), RequestParser::Status::kCommand);
  EXPECT_EQ(args[0], "PING");
  EXPECT_EQ(p.consumed_offset(), req.size());
  EXPECT_EQ(p.pending_bytes(), 0u);
}

struct ErrorCase {
  std::string input;
  std::string error;
};

TEST(RespParserTest, MalformedInputGetsRedisErrorText) {
  const std::vector<ErrorCase> cases = {
      {"*1\r\nx\r\n", "ERR Protocol error: expected '$', got 'x'"},
      {"*2\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'"},
      {"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$04\r\nPING\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$+4\r\nPING\r\n", "ERR Protocol error: invalid bulk length"},
      {"*1\r\n$\r\n", "ERR Protocol error: invalid bulk length"},
      {"*abc\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*01\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"},
      {"*\r\n", "ERR Protocol error: invalid multibulk length"},
  };
  for (const auto& c : cases) {
    const auto r = parse(c.input);
    EXPECT_EQ(r.last, RequestParser::Status::kError) << c.input;
    EXPECT_EQ(r.error, c.error) << c.input;
  }
}

TEST(RespParserTest, CommandsBeforeAnErrorAreStillReturned) {
  // Redis answers the good requests of a pipeline, then the error, then closes.
  const auto r = parse("*1\r\n$4\r\nPING\r\n*1\r\nx\r\n*1\r\n$4\r\nPING\r\n");
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.last, RequestParser::Status::kError);
}

TEST(RespParserTest, ErrorIsSticky) {
  RequestParser p;
  p.feed("*1\r\n$x\r\n");
  std::vector<std::string_view> args;
  EXPECT_EQ(p.next(args), RequestParser::Status::kError);
  EXPECT_EQ(p.error(), ProtocolError::kInvalidBulkLength);
  p.feed("*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(p.next(args), RequestParser::Status::kError);
}

TEST(RespParserTest, BulkLengthLimitRejectsAtTheHeader) {
  ParserOptions o;
  o.max_bulk_length = 10;
  EXPECT_EQ(parse("*1\r\n$10\r\n0123456789\r\n", o).commands.size(), 1u);
  const auto r = parse("*1\r\n$11\r\n", o);
  EXPECT_EQ(r.error, "ERR Protocol error: invalid bulk length");
  // Default limit is Redis's 512 MB.
  EXPECT_EQ(parse("*1\r\n$536870913\r\n").error, "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parse("*1\r\n$536870912\r\n").last, RequestParser::Status::kNeedMore);
}

TEST(RespParserTest, HugeClaimedBulkDoesNotReserveMemory) {
  RequestParser p;
  p.feed("*2\r\n$3\r\nGET\r\n$536870912\r\nabc");
  std::vector<std::string_view> args;
  EXPECT_EQ(p.next(args), RequestParser::Status::kNeedMore);
  EXPECT_LE(p.capacity(), 64u * 1024);
}

TEST(RespParserTest, ArrayElementLimit) {
  ParserOptions o;
  o.max_array_elements = 3;
  EXPECT_EQ(parse(resp_command({"a", "b", "c"}), o).commands.size(), 1u);
  EXPECT_EQ(parse("*4\r\n", o).error, "ERR Protocol error: invalid multibulk length");
}

TEST(RespParserTest, InlineLengthLimit) {
  ParserOptions o;
  o.max_inline_length = 16;
  EXPECT_EQ(parse(std::string(16, 'a'), o).last, RequestParser::Status::kNeedMore);
  EXPECT_EQ(parse(std::string(17, 'a'), o).error, "ERR Protocol error: too big inline request");
  // A complete long line is refused too, so the verdict does not depend on chunking.
  EXPECT_EQ(parse(std::string(15, 'a') + "\r\n", o).commands.size(), 1u);  // the CR counts
  EXPECT_EQ(parse(std::string(17, 'a') + "\r\n", o).error, "ERR Protocol error: too big inline request");
  EXPECT_EQ(parse("*" + std::string(17, '1') + "\r\n", o).error, "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(parse("*" + std::string(17, '1'), o).error, "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(parse("*1\r\n$" + std::string(17, '1'), o).error, "ERR Protocol error: too big bulk count string");
  // Default: 64 KiB.
  EXPECT_EQ(parse(std::string(64 * 1024 + 1, 'a')).error, "ERR Protocol error: too big inline request");
}

TEST(RespParserTest, InlineCanBeDisabled) {
  ParserOptions o;
  o.allow_inline = false;
  const auto r = parse("PING\r\n", o);
  EXPECT_EQ(r.error, "ERR Protocol error: expected '*', got 'P'");
}

TEST(RespParserTest, SlowTrickleOfLongLineIsLinear) {
  // 60 KiB inline line fed one byte at a time: must not rescan (would be ~1.8e9 steps).
  RequestParser p;
  std::vector<std::string_view> args;
  const std::string line(60 * 1024, 'x');
  for (const char c : line) {
    p.feed(std::string_view(&c, 1));
    ASSERT_EQ(p.next(args), RequestParser::Status::kNeedMore);
  }
  p.feed("\n");
  ASSERT_EQ(p.next(args), RequestParser::Status::kCommand);
  EXPECT_EQ(args[0].size(), line.size());
}

TEST(RespParserTest, BufferShrinksAfterLargeRequest) {
  RequestParser p;
  const std::string big = resp_command({"SET", "k", std::string(8 * 1024 * 1024, 'v')});
  p.feed(big);
  std::vector<std::string_view> args;
  ASSERT_EQ(p.next(args), RequestParser::Status::kCommand);
  EXPECT_GE(p.capacity(), big.size());
  p.feed(resp_command({"PING"}));
  EXPECT_LE(p.capacity(), 64u * 1024);
  ASSERT_EQ(p.next(args), RequestParser::Status::kCommand);
  EXPECT_EQ(args[0], "PING");
}

TEST(RespParserTest, ConsumedOffsetTracksCommandBoundaries) {
  RequestParser p;
  const std::string a = resp_command({"SET", "a", "1"});
  const std::string b = resp_command({"SET", "b", "2"});
  p.feed(a + b.substr(0, 5));
  std::vector<std::string_view> args;
  ASSERT_EQ(p.next(args), RequestParser::Status::kCommand);
  EXPECT_EQ(p.consumed_offset(), a.size());
  EXPECT_EQ(p.next(args), RequestParser::Status::kNeedMore);
  EXPECT_EQ(p.pending_bytes(), 5u);
}

TEST(RespIntTest, ParsesLikeRedisString2ll) {
  std::int64_t v = 0;
  EXPECT_TRUE(parse_int64("0", v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(parse_int64("-9223372036854775808", v));
  EXPECT_EQ(v, INT64_MIN);
  EXPECT_TRUE(parse_int64("9223372036854775807", v));
  EXPECT_EQ(v, INT64_MAX);
  for (const std::string_view bad : {"", "-", "-0", "01", "+1", " 1", "1 ", "9223372036854775808",
                                     "-9223372036854775809", "1e3", "0x10", "123456789012345678901"}) {
    EXPECT_FALSE(parse_int64(bad, v)) << bad;
  }
}

TEST(RespEncoderTest, EncodesEveryReplyType) {
  std::string out;
  append_simple_string(out, "OK");
  append_error(out, "ERR bad\r\nthing");
  append_integer(out, -42);
  append_integer(out, INT64_MIN);
  append_bulk(out, std::string_view("a\0b", 3));
  append_bulk(out, "");
  append_null_bulk(out);
  append_array_header(out, 2);
  append_null_array(out);
  static constexpr char kWant[] =
      "+OK\r\n-ERR bad  thing\r\n:-42\r\n:-9223372036854775808\r\n"
      "$3\r\na\0b\r\n$0\r\n\r\n$-1\r\n*2\r\n*-1\r\n";
  EXPECT_EQ(out, std::string(kWant, sizeof(kWant) - 1));
}

TEST(RespEncoderTest, EncodedCommandRoundTrips) {
  const Cmd cmd = {"SET", std::string("\0\r\n", 3), std::string(1000, 'z')};
  const auto r = parse(resp_command(cmd));
  ASSERT_EQ(r.commands.size(), 1u);
  EXPECT_EQ(r.commands[0], cmd);
}

}  // namespace
}  // namespace tether::kv
