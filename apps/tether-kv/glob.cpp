// Redis-style glob matching: see glob.hpp.
//
// The matcher walks pattern and subject together. On `*` it records a restart point (the star's
// position and how much of the subject the star has swallowed); when a later byte fails to match
// it lets the most recent star swallow one more byte and retries. Only the most recent star ever
// needs to be retried: everything between two stars is made of single-byte matchers, so once the
// segment after a star has matched, an earlier star gains nothing by swallowing more. This keeps
// the worst case polynomial, unlike the naive recursive matcher.
#include "glob.hpp"

#include <cstddef>

namespace tether::kv {
namespace {

// Matches one byte `c` against the class that starts just after '[' at pattern[i].
// Sets `next` to the index just past the class's closing ']' (or the pattern's end).
bool match_class(std::string_view p, std::size_t i, unsigned char c, std::size_t& next) noexcept {
  bool negate = false;
  if (i < p.size() && p[i] == '^') {
    negate = true;
    ++i;
  }
  bool found = false;
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '\\' && i + 1 < p.size()) {
      // Quoted byte: taken literally, even if it is ']' or '-'.
      if (static_cast<unsigned char>(p[i + 1]) == c) found = true;
      i += 2;
    } else if (i + 2 < p.size() && p[i + 1] == '-') {
      auto lo = static_cast<unsigned char>(p[i]);
      auto hi = static_cast<unsigned char>(p[i + 2]);
      if (lo > hi) {
        const auto t = lo;
        lo = hi;
        hi = t;
      }
      if (c >= lo && c <= hi) found = true;
      i += 3;
    } else {
      if (static_cast<unsigned char>(p[i]) == c) found = true;
      ++i;
    }
  }
  // An unterminated class simply ends with the pattern (Redis does the same).
  next = (i < p.size()) ? i + 1 : i;
  return found != negate;
}

}  // namespace

bool glob_match(std::string_view p, std::string_view s) noexcept {
  std::size_t pi = 0;
  std::size_t si = 0;
  // Restart point for the most recent '*': pattern index after the star, and the subject index
  // the star's match currently ends at.
  std::size_t star_p = std::string_view::npos;
  std::size_t star_s = 0;

  while (si < s.size()) {
    if (pi < p.size()) {
      const char pc = p[pi];
      if (pc == '*') {
        while (pi < p.size() && p[pi] == '*') ++pi;  // consecutive stars are one star
        if (pi == p.size()) return true;             // trailing star swallows the rest
        star_p = pi;
        star_s = si;
        continue;
      }
      const auto c = static_cast<unsigned char>(s[si]);
      std::size_t next = pi + 1;
      bool ok = false;
      if (pc == '?') {
        ok = true;
      } else if (pc == '[') {
        ok = match_class(p, pi + 1, c, next);
      } else if (pc == '\\' && pi + 1 < p.size()) {
        ok = static_cast<unsigned char>(p[pi + 1]) == c;
        next = pi + 2;
      } else {
        ok = static_cast<unsigned char>(pc) == c;
      }
      if (ok) {
        pi = next;
        ++si;
        continue;
      }
    }
    // Mismatch (or pattern exhausted with subject left): let the last star take one more byte.
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  // Subject consumed: only stars may remain in the pattern.
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

}  // namespace tether::kv
