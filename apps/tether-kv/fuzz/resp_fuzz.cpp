// libFuzzer target for the RESP request parser (and, downstream of it, the command layer).
//
// What it checks, beyond "no crash, no sanitizer report":
//   1. Chunking invariance: the input parsed in one piece and parsed in chunks whose sizes come
//      from the input itself yield the same commands and the same final status/error.
//   2. Bounded memory: the parser's buffer never exceeds twice the bytes fed (plus one initial
//      buffer), whatever lengths the input claims.
//   3. Every parsed command runs through Keyspace::execute and yields exactly one RESP reply line
//      start ('+', '-', ':', '$' or '*'), with a clock taken from the input.
// Build: cmake -DTETHER_KV_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...; run with e.g.
//   ./tether_kv_resp_fuzz -max_total_time=60 -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "glob.hpp"
#include "keyspace.hpp"
#include "resp.hpp"

namespace {

using tether::kv::RequestParser;

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  RequestParser::Status last = RequestParser::Status::kNeedMore;
  std::string error;
};

tether::kv::ParserOptions small_limits() {
  tether::kv::ParserOptions o;
  o.max_bulk_length = 1024;  // small limits so the fuzzer reaches them
  o.max_array_elements = 64;
  o.max_inline_length = 256;
  return o;
}

void drain(RequestParser& p, Outcome& out) {
  std::vector<std::string_view> args;
  while ((out.last = p.next(args)) == RequestParser::Status::kCommand) {
    out.commands.emplace_back(args.begin(), args.end());
  }
  if (out.last == RequestParser::Status::kError) out.error = p.error_message();
}

// Reports which invariant broke, then aborts so libFuzzer saves the input.
void check_at(bool ok, const char* what, int line) {
  if (!ok) {
    std::fprintf(stderr, "invariant failed at resp_fuzz.cpp:%d: %s\n", line, what);
    std::abort();
  }
}
#define check(cond) check_at((cond), #cond, __LINE__)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t seed = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  Outcome whole;
  {
    RequestParser p(small_limits());
    p.feed(input);
    drain(p, whole);
    check(p.capacity() <= 2 * input.size() + 16 * 1024);
  }

  Outcome chunked;
  {
    RequestParser p(small_limits());
    std::size_t pos = 0;
    std::size_t step = (seed % 13) + 1;
    while (pos < input.size() && chunked.last != RequestParser::Status::kError) {
      const std::size_t n = std::min(step, input.size() - pos);
      p.feed(input.substr(pos, n));
      pos += n;
      drain(p, chunked);
      step = (step * 7 + seed) % 17 + 1;
    }
  }
  check(chunked.commands == whole.commands);
  check(chunked.last == whole.last);
  check(chunked.error == whole.error);

  tether::kv::Keyspace ks{tether::kv::KeyspaceOptions{.shards = 3}};
  std::string aof;
  tether::kv::Millis now = 1'000'000 + seed;
  for (const auto& cmd : whole.commands) {
    std::vector<std::string_view> args(cmd.begin(), cmd.end());
    std::string reply;
    const auto kind = ks.execute(args, tether::kv::ExecContext{.now = now, .aof = &aof}, reply);
    if (kind != tether::kv::Execution::Kind::kServer) {
      check(!reply.empty());
      const char c = reply[0];
      check(c == '+' || c == '-' || c == ':' || c == '$' || c == '*');
    }
    if (cmd.size() >= 2) (void)tether::kv::glob_match(cmd[0], cmd[1]);
    now += 7;
  }
  // The AOF the commands produced must replay cleanly into a fresh keyspace.
  tether::kv::Keyspace replayed{tether::kv::KeyspaceOptions{.shards = 2}};
  RequestParser ap([] {
    tether::kv::ParserOptions o;
    o.allow_inline = false;
    return o;
  }());
  ap.feed(aof);
  std::vector<std::string_view> args;
  RequestParser::Status st;
  while ((st = ap.next(args)) == RequestParser::Status::kCommand) {
    std::string reply;
    replayed.execute(args, tether::kv::ExecContext{.now = now, .loading = true}, reply);
    check(!reply.empty() && reply[0] != '-');
  }
  check(st == RequestParser::Status::kNeedMore && ap.pending_bytes() == 0);
  return 0;
}
