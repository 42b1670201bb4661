// RESP2 request parser and reply encoder: see resp.hpp.
//
// Reading map: the parser is a small state machine over one growable buffer.
//   kIdle        at a request boundary; the first byte picks multibulk ('*') or inline
//   kArrayHeader waiting for the '\r' that ends "*<n>"
//   kBulkHeader  waiting for the '\r' that ends "$<len>"
//   kBulkBody    waiting until <len> + 2 bytes are buffered
//   kInline      waiting for the '\n' that ends an inline command line
// Searches for terminators resume at scan_, so a request trickling in byte by byte costs linear
// time in total. Element positions are kept relative to the request's start (begin_), so the
// buffer can be compacted (moved to the front) between reads without fixing them up.
//
// Like Redis, the two bytes after a bulk string's payload and the byte after a header's '\r' are
// skipped, not checked: Redis accepts "$4\r\nPINGxx" and so do we, so that clients that work
// against Redis work here.
#include "resp.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <climits>
#include <cstring>
#include <limits>

namespace tether::kv {
namespace {

constexpr std::size_t kInitialCapacity = 16 * 1024;  // one typical socket read (Redis's IOBUF)
// A buffer larger than this is given back once it is mostly empty, so one big request does not
// pin its memory for the connection's lifetime.
constexpr std::size_t kShrinkThreshold = 1024 * 1024;

bool is_c_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* find_byte(const char* first, const char* last, char c) noexcept {
  return static_cast<const char*>(std::memchr(first, c, static_cast<std::size_t>(last - first)));
}

}  // namespace

bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) {
    if (s.size() == 1) return false;
    i = 1;
  }
  // No leading zeros: "0" alone is the only spelling of zero ("-0" is refused too).
  if (s[i] == '0') {
    if (s.size() == 1) {
      out = 0;
      return true;
    }
    return false;
  }
  // Accumulate as a negative number so that INT64_MIN is representable.
  std::int64_t v = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return false;
    const int d = c - '0';
    if (v < (std::numeric_limits<std::int64_t>::min() + d) / 10) return false;
    v = v * 10 - d;
  }
  if (!negative) {
    if (v == std::numeric_limits<std::int64_t>::min()) return false;
    v = -v;
  }
  out = v;
  return true;
}

RequestParser::RequestParser(ParserOptions options) : options_(options) {}

std::size_t RequestParser::keep_from() const noexcept {
  // Between requests everything before pos_ is consumed; inside one, its start must be kept.
  return state_ == State::kIdle ? pos_ : begin_;
}

std::span<char> RequestParser::prepare(std::size_t min_bytes) {
  const std::size_t keep = keep_from();
  const std::size_t live = end_ - keep;
  const std::size_t want = std::max<std::size_t>(min_bytes, 1);

  const bool shrink = capacity_ > kShrinkThreshold && live + want <= capacity_ / 8;
  // Rebasing is free when nothing is live, and worth a memmove once half the buffer is dead.
  const bool rebase = keep > 0 && (live == 0 || keep >= capacity_ / 2);
  if (capacity_ - end_ >= want && !shrink && !rebase) {
    return {data_.get() + end_, capacity_ - end_};
  }
  std::size_t new_capacity = capacity_;
  if (new_capacity == 0) new_capacity = kInitialCapacity;
  if (shrink) new_capacity = std::max(kInitialCapacity, std::bit_ceil(live + want));
  while (new_capacity < live + want) new_capacity *= 2;

  if (new_capacity != capacity_) {
    auto fresh = std::make_unique<char[]>(new_capacity);
    if (live > 0) std::memcpy(fresh.get(), data_.get() + keep, live);
    data_ = std::move(fresh);
    capacity_ = new_capacity;
  } else if (keep > 0 && live > 0) {
    std::memmove(data_.get(), data_.get() + keep, live);
  }
  // Rebase every position onto the new front.
  base_offset_ += keep;
  begin_ -= std::min(begin_, keep);
  pos_ -= keep;
  scan_ = scan_ >= keep ? scan_ - keep : 0;
  end_ = live;
  return {data_.get() + end_, capacity_ - end_};
}

void RequestParser::commit(std::size_t n) noexcept { end_ += std::min(n, capacity_ - end_); }

void RequestParser::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  const auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::uint64_t RequestParser::consumed_offset() const noexcept { return consumed_offset_; }

std::size_t RequestParser::pending_bytes() const noexcept {
  return static_cast<std::size_t>(base_offset_ + end_ - consumed_offset_);
}

RequestParser::Status RequestParser::fail(ProtocolError e, char got) {
  error_ = e;
  switch (e) {
    case ProtocolError::kInvalidMultibulkLength:
      error_message_ = "ERR Protocol error: invalid multibulk length";
      break;
    case ProtocolError::kInvalidBulkLength:
      error_message_ = "ERR Protocol error: invalid bulk length";
      break;
    case ProtocolError::kExpectedDollar:
      error_message_ = "ERR Protocol error: expected '$', got '";
      error_message_ += got;
      error_message_ += '\'';
      break;
    case ProtocolError::kExpectedArray:
      error_message_ = "ERR Protocol error: expected '*', got '";
      error_message_ += got;
      error_message_ += '\'';
      break;
    case ProtocolError::kTooBigInlineRequest:
      error_message_ = "ERR Protocol error: too big inline request";
      break;
    case ProtocolError::kTooBigMbulkCountString:
      error_message_ = "ERR Protocol error: too big mbulk count string";
      break;
    case ProtocolError::kTooBigBulkCountString:
      error_message_ = "ERR Protocol error: too big bulk count string";
      break;
    case ProtocolError::kUnbalancedQuotes:
      error_message_ = "ERR Protocol error: unbalanced quotes in request";
      break;
    case ProtocolError::kNone:
      break;
  }
  return Status::kError;
}

// Splits one inline line [pos_, line_end) into arguments the way redis-cli and Redis do
// (sdssplitargs rules): whitespace separates; "double quotes" understand \n \r \t \b \a \xHH and
// \<any>; 'single quotes' understand only \'; a closing quote must be followed by whitespace or
// the line's end; a NUL byte ends the line. Unquoting happens in place: the output never grows
// past the input, so the arguments become views of the buffer with no allocation.
RequestParser::Status RequestParser::parse_inline(std::size_t line_end, std::vector<std::string_view>& args) {
  char* const buf = data_.get();
  std::size_t e = line_end;
  if (e > pos_ && buf[e - 1] == '\r') --e;
  if (const char* nul = find_byte(buf + pos_, buf + e, '\0')) e = static_cast<std::size_t>(nul - buf);

  spans_.clear();
  std::size_t r = pos_;  // read cursor
  std::size_t w = pos_;  // write cursor (w <= r always)
  for (;;) {
    while (r < e && is_c_space(buf[r])) ++r;
    if (r == e) break;
    const std::size_t token = w;
    enum { kBare, kDouble, kSingle } mode = kBare;
    for (bool done = false; !done;) {
      if (mode == kDouble) {
        if (r == e) return fail(ProtocolError::kUnbalancedQuotes);
        const char c = buf[r];
        if (c == '\\' && r + 3 < e && buf[r + 1] == 'x' && hex_value(buf[r + 2]) >= 0 && hex_value(buf[r + 3]) >= 0) {
          buf[w++] = static_cast<char>(hex_value(buf[r + 2]) * 16 + hex_value(buf[r + 3]));
          r += 4;
        } else if (c == '\\' && r + 1 < e) {
          char out = buf[r + 1];
          switch (out) {
            case 'n':
              out = '\n';
              break;
            case 'r':
              out = '\r';
              break;
            case 't':
              out = '\t';
              break;
            case 'b':
              out = '\b';
              break;
            case 'a':
              out = '\a';
              break;
            default:
              break;
          }
          buf[w++] = out;
          r += 2;
        } else if (c == '"') {
          if (r + 1 < e && !is_c_space(buf[r + 1])) return fail(ProtocolError::kUnbalancedQuotes);
          ++r;
          done = true;
        } else {
          buf[w++] = c;
          ++r;
        }
      } else if (mode == kSingle) {
        if (r == e) return fail(ProtocolError::kUnbalancedQuotes);
        const char c = buf[r];
        if (c == '\\' && r + 1 < e && buf[r + 1] == '\'') {
          buf[w++] = '\'';
          r += 2;
        } else if (c == '\'') {
          if (r + 1 < e && !is_c_space(buf[r + 1])) return fail(ProtocolError::kUnbalancedQuotes);
          ++r;
          done = true;
        } else {
          buf[w++] = c;
          ++r;
        }
      } else {
        if (r == e) break;
        const char c = buf[r];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
          ++r;
          done = true;
        } else if (c == '"') {
          mode = kDouble;
          ++r;
        } else if (c == '\'') {
          mode = kSingle;
          ++r;
        } else {
          buf[w++] = c;
          ++r;
        }
      }
    }
    spans_.push_back({token - begin_, w - token});
  }

  pos_ = line_end + 1;
  state_ = State::kIdle;
  consumed_offset_ = base_offset_ + pos_;
  for (const Span& s : spans_) args.emplace_back(buf + begin_ + s.offset, s.length);
  return args.empty() ? Status::kNeedMore : Status::kCommand;
}

RequestParser::Status RequestParser::next(std::vector<std::string_view>& args) {
  args.clear();
  if (error_ != ProtocolError::kNone) return Status::kError;
  const char* const buf = data_.get();

  for (;;) {
    switch (state_) {
      case State::kIdle: {
        if (pos_ == end_) return Status::kNeedMore;
        begin_ = pos_;
        if (buf[pos_] == '*') {
          state_ = State::kArrayHeader;
          scan_ = pos_ + 1;
        } else if (options_.allow_inline) {
          state_ = State::kInline;
          scan_ = pos_;
        } else {
          return fail(ProtocolError::kExpectedArray, buf[pos_]);
        }
        break;
      }

      case State::kInline: {
        const char* nl = find_byte(buf + scan_, buf + end_, '\n');
        if (nl == nullptr) {
          if (end_ - pos_ > options_.max_inline_length) {
            return fail(ProtocolError::kTooBigInlineRequest);
          }
          scan_ = end_;
          return Status::kNeedMore;
        }
        // Also refused when the whole line arrived at once: otherwise the outcome would depend
        // on how the stream happened to be chunked (Redis only checks while the line is open).
        if (static_cast<std::size_t>(nl - buf) - pos_ > options_.max_inline_length) {
          return fail(ProtocolError::kTooBigInlineRequest);
        }
        const Status s = parse_inline(static_cast<std::size_t>(nl - buf), args);
        if (s == Status::kNeedMore) break;  // blank line: skipped, look for the next request
        return s;
      }

      case State::kArrayHeader:
      case State::kBulkHeader: {
        const bool array = state_ == State::kArrayHeader;
        const char* cr = find_byte(buf + scan_, buf + end_, '\r');
        if (cr == nullptr) {
          if (end_ - pos_ > options_.max_inline_length) {
            return fail(array ? ProtocolError::kTooBigMbulkCountString : ProtocolError::kTooBigBulkCountString);
          }
          scan_ = end_;
          return Status::kNeedMore;
        }
        const auto cr_at = static_cast<std::size_t>(cr - buf);
        if (cr_at - pos_ > options_.max_inline_length) {  // same rule as above, same reason
          return fail(array ? ProtocolError::kTooBigMbulkCountString : ProtocolError::kTooBigBulkCountString);
        }
        if (cr_at + 1 >= end_) {  // the byte after '\r' has not arrived yet
          scan_ = cr_at;
          return Status::kNeedMore;
        }
        if (!array && buf[pos_] != '$') return fail(ProtocolError::kExpectedDollar, buf[pos_]);
        std::int64_t n = 0;
        const bool ok = parse_int64({buf + pos_ + 1, cr_at - pos_ - 1}, n);
        pos_ = cr_at + 2;
        scan_ = pos_;
        if (array) {
          if (!ok || n > INT_MAX) return fail(ProtocolError::kInvalidMultibulkLength);
          if (n <= 0) {  // "*0" and "*-1" are empty requests: skipped
            state_ = State::kIdle;
            consumed_offset_ = base_offset_ + pos_;
            break;
          }
          if (static_cast<std::uint64_t>(n) > options_.max_array_elements) {
            return fail(ProtocolError::kInvalidMultibulkLength);
          }
          remaining_ = static_cast<std::size_t>(n);
          spans_.clear();
          // Reserve for what is claimed only up to a small bound: the claim is not yet backed
          // by bytes.
          spans_.reserve(std::min<std::size_t>(remaining_, 1024));
          state_ = State::kBulkHeader;
        } else {
          if (!ok || n < 0 || static_cast<std::uint64_t>(n) > options_.max_bulk_length) {
            return fail(ProtocolError::kInvalidBulkLength);
          }
          bulk_len_ = static_cast<std::size_t>(n);
          state_ = State::kBulkBody;
        }
        break;
      }

      case State::kBulkBody: {
        if (end_ - pos_ < bulk_len_ + 2) return Status::kNeedMore;
        spans_.push_back({pos_ - begin_, bulk_len_});
        pos_ += bulk_len_ + 2;
        scan_ = pos_;
        if (--remaining_ > 0) {
          state_ = State::kBulkHeader;
          break;
        }
        state_ = State::kIdle;
        consumed_offset_ = base_offset_ + pos_;
        args.reserve(spans_.size());
        for (const Span& s : spans_) args.emplace_back(buf + begin_ + s.offset, s.length);
        return Status::kCommand;
      }
    }
  }
}

// ---- Reply encoding ----

namespace {

// Appends `prefix`, the decimal `value`, then CRLF, with one resize.
void append_prefixed_number(std::string& out, char prefix, std::int64_t value) {
  char tmp[24];
  tmp[0] = prefix;
  const auto res = std::to_chars(tmp + 1, tmp + sizeof(tmp) - 2, value);
  char* p = res.ptr;
  *p++ = '\r';
  *p++ = '\n';
  out.append(tmp, static_cast<std::size_t>(p - tmp));
}

}  // namespace

void append_simple_string(std::string& out, std::string_view s) {
  const std::size_t at = out.size();
  out.resize(at + s.size() + 3);
  char* p = out.data() + at;
  *p++ = '+';
  std::memcpy(p, s.data(), s.size());
  p += s.size();
  p[0] = '\r';
  p[1] = '\n';
}

void append_error(std::string& out, std::string_view message) {
  const std::size_t at = out.size();
  out.resize(at + message.size() + 3);
  char* p = out.data() + at;
  *p++ = '-';
  for (const char c : message) *p++ = (c == '\r' || c == '\n') ? ' ' : c;
  p[0] = '\r';
  p[1] = '\n';
}

void append_integer(std::string& out, std::int64_t value) { append_prefixed_number(out, ':', value); }

void append_bulk(std::string& out, std::string_view s) {
  char head[24];
  head[0] = '$';
  auto res = std::to_chars(head + 1, head + sizeof(head) - 2, s.size());
  char* h = res.ptr;
  *h++ = '\r';
  *h++ = '\n';
  const auto head_len = static_cast<std::size_t>(h - head);
  const std::size_t at = out.size();
  out.resize(at + head_len + s.size() + 2);
  char* p = out.data() + at;
  std::memcpy(p, head, head_len);
  p += head_len;
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  p += s.size();
  p[0] = '\r';
  p[1] = '\n';
}

void append_null_bulk(std::string& out) { out.append("$-1\r\n", 5); }

void append_array_header(std::string& out, std::size_t count) {
  append_prefixed_number(out, '*', static_cast<std::int64_t>(count));
}

void append_null_array(std::string& out) { out.append("*-1\r\n", 5); }

void append_command(std::string& out, std::span<const std::string_view> args) {
  append_array_header(out, args.size());
  for (const auto a : args) append_bulk(out, a);
}

}  // namespace tether::kv
