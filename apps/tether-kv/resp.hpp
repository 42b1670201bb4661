// RESP2 wire format: an incremental request parser and a reply encoder, as Redis 7 speaks them.
//
// Defines:
//   ParserOptions    limits on what one request may claim (bulk length, element count, line length)
//   ProtocolError    the named ways a request stream can be malformed, each with Redis's error text
//   RequestParser    turns a byte stream (arbitrary chunks, pipelined requests) into commands
//   append_*()       reply encoders that append one RESP2 value to an output buffer
//   parse_int64()    Redis's strict integer syntax (string2ll), shared with the command layer
//
// Which parser should you use? RequestParser reads what clients send: multibulk arrays of bulk
// strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands (`PING\r\n`, as telnet,
// redis-cli's inline mode and redis-benchmark's inline tests send). It does not read replies or
// nested arrays: Redis refuses a nested array in a request ("expected '$', got '*'"), so a
// request's nesting depth is fixed at one and needs no option. The AOF reader (aof.hpp) reuses it
// with inline commands turned off.
//
// Example: apps/tether-kv/tests/resp_test.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tether::kv {

// tether::kv::ParserOptions
//
// Limits checked while a request arrives, so that a client cannot make the server allocate more
// than it actually sends. Defaults are Redis 7's.
struct ParserOptions {
  // Largest bulk string accepted ($<len>), Redis's proto-max-bulk-len. A larger claim is
  // rejected at its header, before any of its bytes are buffered.
  std::size_t max_bulk_length = 512u * 1024 * 1024;
  // Most elements accepted in one multibulk request (*<n>). Redis accepts up to INT_MAX; the
  // default here is lower because no real command needs more and each element costs
  // bookkeeping. A larger claim gets Redis's "invalid multibulk length" error.
  std::size_t max_array_elements = 1024 * 1024;
  // Longest inline command line, and longest `*<n>` / `$<len>` header line, Redis's
  // PROTO_INLINE_MAX_SIZE (64 KiB). Redis checks it only while the line's end has not arrived,
  // so there the verdict depends on how the bytes were chunked; here a longer line is refused
  // however it arrives, so that parsing is independent of chunking (a property the tests and the
  // fuzzer check). No client can rely on Redis accepting such a line anyway.
  std::size_t max_inline_length = 64 * 1024;
  // Accept inline (non-multibulk) commands. The AOF reader turns this off.
  bool allow_inline = true;
};

// tether::kv::ProtocolError
//
// Why a request stream was rejected. After any of these the connection must be closed once the
// error reply has been written (Redis does the same: the stream can no longer be framed).
enum class ProtocolError : std::uint8_t {
  kNone,
  kInvalidMultibulkLength,  // "*abc", "*01", "*3000000000", or more than max_array_elements
  kInvalidBulkLength,       // "$-1", "$abc", "$04", or more than max_bulk_length
  kExpectedDollar,          // an array element that is not a bulk string
  kExpectedArray,           // a non-'*' request while inline commands are off (AOF only)
  kTooBigInlineRequest,     // no '\n' within max_inline_length bytes of an inline command
  kTooBigMbulkCountString,  // no '\r' within max_inline_length bytes of a '*' header
  kTooBigBulkCountString,   // no '\r' within max_inline_length bytes of a '$' header
  kUnbalancedQuotes,        // inline command with an unterminated or ill-closed quote
};

// tether::kv::RequestParser
//
// Incremental RESP2 request parser that owns its input buffer. Bytes are written straight into
// the buffer (prepare() + commit(), so a socket read needs no extra copy) or copied in with
// feed(); next() then yields one command at a time as views of that buffer. A request may be
// split anywhere across chunks and several requests may arrive in one chunk (pipelining); the
// parser resumes where it stopped and never rescans bytes it has already examined.
//
// Memory: the buffer grows only as bytes actually arrive (at most doubling), never to a length a
// header merely claims; limits are checked at each header. Consumed bytes are reclaimed when
// prepare()/feed() next runs, and a buffer grown by a large request shrinks back once drained.
// Thread safety: thread-compatible (one owner at a time; in the server, the connection's task).
// Lifetime: views handed out by next() stay valid until the next call to prepare() or feed()
//   (which may move the buffer); next() itself never moves it, so all commands of one chunk can
//   be parsed first and executed afterwards.
// Example: apps/tether-kv/tests/resp_test.cpp (RespParserTest)
class RequestParser {
 public:
  enum class Status : std::uint8_t {
    kCommand,   // `args` holds a command (never empty)
    kNeedMore,  // every complete request has been returned; feed more bytes
    kError,     // the stream is malformed: see error(); every later call returns kError too
  };

  explicit RequestParser(ParserOptions options = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;
  RequestParser(RequestParser&&) noexcept = default;
  RequestParser& operator=(RequestParser&&) noexcept = default;
  ~RequestParser() = default;

  // Returns writable space of at least `min_bytes` at the end of the buffered input; write into
  // it, then commit() what was written. Invalidates views from earlier next() calls.
  [[nodiscard]] std::span<char> prepare(std::size_t min_bytes);
  // Marks the first `n` bytes of the span from the last prepare() as received.
  void commit(std::size_t n) noexcept;
  // Copies `bytes` in (prepare + memcpy + commit). Invalidates views from earlier next() calls.
  void feed(std::string_view bytes);

  // Parses the next complete command into `args` (cleared first). Empty requests (`*0`, `*-1`,
  // blank inline lines) are skipped silently, as Redis skips them.
  // Allocation: only when `args` or the internal element table must grow.
  [[nodiscard]] Status next(std::vector<std::string_view>& args);

  [[nodiscard]] ProtocolError error() const noexcept { return error_; }
  // The error reply text without the leading '-', exactly as Redis 7 words it, e.g.
  // "ERR Protocol error: expected '$', got 'x'". Empty while there is no error.
  [[nodiscard]] const std::string& error_message() const noexcept { return error_message_; }

  // Stream offset (bytes since construction) just past the last command returned by next().
  [[nodiscard]] std::uint64_t consumed_offset() const noexcept;
  // Bytes received but not yet returned as part of a command (a partial request, or requests
  // next() has not been asked for yet).
  [[nodiscard]] std::size_t pending_bytes() const noexcept;
  // Bytes of buffer currently allocated (for memory accounting, e.g. INFO clients).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

 private:
  enum class State : std::uint8_t { kIdle, kInline, kArrayHeader, kBulkHeader, kBulkBody };
  struct Span {
    std::size_t offset;  // relative to begin_, so that compaction need not rewrite it
    std::size_t length;
  };

  Status fail(ProtocolError e, char got = 0);
  Status parse_inline(std::size_t line_end, std::vector<std::string_view>& args);
  std::size_t keep_from() const noexcept;

  ParserOptions options_;
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;              // start of the request being parsed
  std::size_t pos_ = 0;                // parse cursor: everything before it has been examined
  std::size_t scan_ = 0;               // where the search for a line terminator resumes
  std::size_t end_ = 0;                // end of received bytes
  std::uint64_t base_offset_ = 0;      // stream offset of data_[0]
  std::uint64_t consumed_offset_ = 0;  // stream offset just past the last returned command
  State state_ = State::kIdle;
  std::size_t remaining_ = 0;  // elements of the current multibulk still to read
  std::size_t bulk_len_ = 0;   // length of the bulk string being read
  std::vector<Span> spans_;    // elements read so far of the current multibulk
  ProtocolError error_ = ProtocolError::kNone;
  std::string error_message_;
};

// Redis's strict decimal integer syntax (string2ll): optional '-', no '+', no leading zeros, no
// spaces, within int64. Returns false for anything else. Used for lengths and for every integer
// argument of a command, so that "01" or " 1" are refused exactly where Redis refuses them.
[[nodiscard]] bool parse_int64(std::string_view s, std::int64_t& out) noexcept;

// Reply encoders. Each appends one RESP2 value to `out`; none clears it, so a pipeline's replies
// accumulate in one buffer that the connection writes with a single send.
// Thread safety: pure functions on the caller's buffer. Allocation: only `out` growing.
void append_simple_string(std::string& out, std::string_view s);
// `message` is the error text without '-', e.g. "ERR syntax error". CR and LF inside it (which
// could come from client data echoed in the message) are replaced by spaces, as Redis does, so
// that an error reply is always exactly one line.
void append_error(std::string& out, std::string_view message);
void append_integer(std::string& out, std::int64_t value);
void append_bulk(std::string& out, std::string_view s);
void append_null_bulk(std::string& out);
void append_array_header(std::string& out, std::size_t count);
void append_null_array(std::string& out);
// Encodes a whole command as a multibulk array of bulk strings (requests, AOF records).
void append_command(std::string& out, std::span<const std::string_view> args);

}  // namespace tether::kv
