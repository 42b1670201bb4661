// Redis-style glob matching for KEYS, SCAN MATCH and PSUBSCRIBE patterns.
//
// Defines:
//   glob_match()  does a byte string match a Redis glob pattern?
//
// Which matcher should you use? This one whenever a client supplies a pattern that Redis would
// interpret (KEYS, SCAN ... MATCH, PSUBSCRIBE): it follows Redis's rules, including its quirks
// for unterminated classes and a trailing backslash, so clients see identical results. It is not
// a general fnmatch(3): there are no path or dot rules and matching is byte-wise (not UTF-8 aware).
//
// Example: apps/tether-kv/tests/glob_test.cpp
#pragma once

#include <string_view>

namespace tether::kv {

// glob_match()
//
// Returns whether `subject` matches `pattern` as a whole. Both are arbitrary bytes (NUL included).
// Pattern syntax, as Redis interprets it:
//   *        any run of bytes, including none
//   ?        exactly one byte
//   [abc]    one byte from the set; [^abc] one byte not in it; [a-z] a range (reversed ranges
//            such as [z-a] are accepted and mean the same); \ inside a class quotes the next byte;
//            a class left unterminated at the end of the pattern ends there, as in Redis
//   \x       the byte x literally (a backslash at the very end of the pattern is literal)
// Complexity: O(|pattern| * |subject|) worst case; never exponential, whatever the number of `*`.
// Thread safety: pure function. Allocation: never allocates.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view subject) noexcept;

}  // namespace tether::kv
