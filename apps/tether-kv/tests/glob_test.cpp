// Tests for glob.hpp: Redis's glob rules, including its edge cases, and no exponential blow-up.
#include "glob.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tether::kv {
namespace {

TEST(GlobMatchTest, LiteralsAndWildcards) {
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("abc", "abc"));
  EXPECT_FALSE(glob_match("abc", "abd"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("user:*", "user:42"));
  EXPECT_FALSE(glob_match("user:*", "use:42"));
  EXPECT_TRUE(glob_match("*:42", "user:42"));
  EXPECT_TRUE(glob_match("h?llo", "hello"));
  EXPECT_FALSE(glob_match("h?llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "hllo"));
  EXPECT_TRUE(glob_match("h*llo", "heeeello"));
  EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
  EXPECT_FALSE(glob_match("a*b*c", "axxbyy"));
  EXPECT_TRUE(glob_match("**a**", "xxaxx"));
  EXPECT_TRUE(glob_match("*a", "aaa"));
  EXPECT_TRUE(glob_match("a*a*a", "aaa"));
  EXPECT_FALSE(glob_match("a*a*a", "aa"));
}

TEST(GlobMatchTest, Classes) {
  EXPECT_TRUE(glob_match("h[ae]llo", "hello"));
  EXPECT_TRUE(glob_match("h[ae]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[ae]llo", "hillo"));
  EXPECT_TRUE(glob_match("h[^e]llo", "hallo"));
  EXPECT_FALSE(glob_match("h[^e]llo", "hello"));
  EXPECT_TRUE(glob_match("h[a-b]llo", "hbllo"));
  EXPECT_FALSE(glob_match("h[a-b]llo", "hcllo"));
  EXPECT_TRUE(glob_match("[z-a]", "m"));  // reversed range, as Redis
  EXPECT_TRUE(glob_match("[\\]]", "]"));
  EXPECT_TRUE(glob_match("[a\\-z]", "-"));
  EXPECT_FALSE(glob_match("[a\\-z]", "b"));
  EXPECT_FALSE(glob_match("[]", "a"));  // empty class matches nothing
  EXPECT_TRUE(glob_match("[^]", "a"));
  EXPECT_TRUE(glob_match("[abc", "b"));  // unterminated class ends with the pattern
  EXPECT_FALSE(glob_match("[abc", "bx"));
  EXPECT_FALSE(glob_match("a[", "a"));
  EXPECT_FALSE(glob_match("a[", "ab"));
}

TEST(GlobMatchTest, Escapes) {
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("\\?", "?"));
  EXPECT_FALSE(glob_match("\\?", "x"));
  EXPECT_TRUE(glob_match("a\\", "a\\"));  // trailing backslash is literal
}

TEST(GlobMatchTest, BinarySafe) {
  const std::string subject("a\0b", 3);
  EXPECT_TRUE(glob_match(std::string_view("a\0b", 3), subject));
  EXPECT_TRUE(glob_match("a?b", subject));
  EXPECT_TRUE(glob_match("a*", subject));
  EXPECT_FALSE(glob_match("a", subject));
  EXPECT_TRUE(glob_match("\xff*", "\xff\xfe"));
  EXPECT_TRUE(glob_match("[\x80-\xff]", "\xc3"));
}

// Property: a pattern with many stars that cannot match finishes quickly (no exponential
// backtracking), which matters because KEYS/SCAN patterns come from clients.
TEST(GlobMatchTest, ManyStarsDoNotBlowUp) {
  const std::string pattern = "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
  const std::string subject(4000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match(pattern, subject));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace tether::kv
