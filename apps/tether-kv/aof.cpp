// AOF replay and compaction: see aof.hpp.
#include "aof.hpp"

#include <unistd.h>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tether::kv {

namespace {

ParserOptions aof_parser_options() {
  ParserOptions o;
  o.allow_inline = false;                                      // every AOF record is a multibulk
  o.max_array_elements = static_cast<std::size_t>(INT32_MAX);  // MSET records can be long
  return o;
}

}  // namespace

AofReplayer::AofReplayer(Keyspace& keyspace, Millis now)
    : keyspace_(keyspace), now_(now), parser_(aof_parser_options()) {}

bool AofReplayer::feed(std::string_view chunk) {
  if (!result_.ok()) return false;
  parser_.feed(chunk);
  const ExecContext ctx{.now = now_, .loading = true};
  for (;;) {
    const std::uint64_t record_at = parser_.consumed_offset();
    switch (parser_.next(args_)) {
      case RequestParser::Status::kNeedMore:
        return true;
      case RequestParser::Status::kError:
        result_.error = "corrupt AOF at offset " + std::to_string(record_at) + ": " + parser_.error_message();
        return false;
      case RequestParser::Status::kCommand:
        break;
    }
    scratch_.clear();
    const auto kind = keyspace_.execute(args_, ctx, scratch_);
    if (kind == Execution::Kind::kServer || (!scratch_.empty() && scratch_[0] == '-')) {
      std::string why = kind == Execution::Kind::kServer ? "'" + std::string(args_[0]) + "' is not a keyspace command"
                                                         : scratch_.substr(1, scratch_.size() - 3);
      result_.error = "corrupt AOF at offset " + std::to_string(record_at) + ": record " +
                      std::to_string(result_.records + 1) + " failed: " + why;
      return false;
    }
    ++result_.records;
    result_.valid_bytes = parser_.consumed_offset();
  }
}

AofLoadResult AofReplayer::finish() {
  if (result_.ok()) {
    result_.valid_bytes = parser_.consumed_offset();
    result_.truncated_bytes = parser_.pending_bytes();
  }
  return result_;
}

AofLoadResult load_aof_file(const std::string& path, Keyspace& keyspace, Millis now, bool truncate_torn_tail,
                            const std::function<bool()>& stop_requested) {
  AofReplayer replayer(keyspace, now);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return replayer.finish();
    AofLoadResult r;
    r.error = "cannot open AOF " + path + ": " + std::strerror(errno);
    return r;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  std::string chunk(256 * 1024, '\0');
  for (;;) {
    if (stop_requested && stop_requested()) {
      AofLoadResult r = replayer.finish();
      r.interrupted = true;
      return r;
    }
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), f);
    if (n > 0 && !replayer.feed({chunk.data(), n})) break;
    if (n < chunk.size()) {
      if (std::ferror(f) != 0) {
        AofLoadResult r = replayer.finish();
        r.error = "cannot read AOF " + path + ": " + std::strerror(errno);
        return r;
      }
      break;
    }
  }
  closer.reset();
  AofLoadResult r = replayer.finish();
  if (r.ok() && r.truncated_bytes > 0 && truncate_torn_tail) {
    if (::truncate(path.c_str(), static_cast<off_t>(r.valid_bytes)) != 0) {
      r.error = "cannot truncate torn AOF tail of " + path + ": " + std::strerror(errno);
    }
  }
  return r;
}

std::size_t dump_shard(const Shard& shard, Millis now, std::string& out, const std::function<void(std::string&)>& flush,
                       std::size_t flush_at) {
  std::size_t written = 0;
  shard.for_each([&](const Shard::Entry& e) {
    if (e.expire_at != kNoExpiry && now > e.expire_at) return;
    if (e.expire_at == kNoExpiry) {
      const std::string_view rec[] = {"SET", e.key, e.value};
      append_command(out, rec);
    } else {
      char num[24];
      const auto res = std::to_chars(num, num + sizeof(num), e.expire_at);
      const std::string_view rec[] = {"SET", e.key, e.value, "PXAT", {num, static_cast<std::size_t>(res.ptr - num)}};
      append_command(out, rec);
    }
    ++written;
    if (flush && out.size() >= flush_at) flush(out);
  });
  return written;
}

}  // namespace tether::kv
