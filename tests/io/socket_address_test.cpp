// Address parsing and resolution with a deadline.
#include "tether/io/net/socket_address.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "tether/core/runtime.hpp"
#include "tether/io/error.hpp"

using namespace std::chrono_literals;
namespace io = tether::io;

TEST(SocketAddressTest, ParsesAndFormats) {
  EXPECT_EQ(io::SocketAddress::parse("127.0.0.1:5000").to_string(), "127.0.0.1:5000");
  EXPECT_EQ(io::SocketAddress::parse("[::1]:80").to_string(), "[::1]:80");
  EXPECT_EQ(io::SocketAddress::parse("[::1]:80").port(), 80);
  for (const char* bad : {"127.0.0.1", "1.2.3.4:99999", "nonsense:80", "[::1]80", "::1:80", ""}) {
    try {
      io::SocketAddress::parse(bad);
      ADD_FAILURE() << bad;
    } catch (const io::Error& e) {
      EXPECT_EQ(e.kind(), io::ErrorKind::kInvalidAddress) << bad;
    }
  }
}

TEST(SocketAddressTest, ResolvesLocalhostWithDeadline) {
  tether::Runtime rt({.workers = 2});
  auto addrs = rt.block_on(io::resolve("localhost", 8080, tether::Deadline::after(10s)));
  ASSERT_FALSE(addrs.empty());
  for (const auto& a : addrs) EXPECT_EQ(a.port(), 8080);
  EXPECT_THROW(rt.block_on(io::resolve("no-such-host.invalid", 80, tether::Deadline::after(10s))), io::Error);
}
