// UDP: datagrams with sender addresses, several queued datagrams, receive deadline.
#include "tether/io/net/udp_socket.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "io_test_support.hpp"
#include "tether/core/runtime.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

class UdpSocketTest : public tether::test::IoBackendTest {};
TETHER_IO_BACKENDS(UdpSocketTest);

// Property: every queued datagram is received (a short datagram does not hide the next one), each
// with its sender; an idle socket trips the receive deadline.
TEST_P(UdpSocketTest, QueuedDatagramsAndDeadline) {
  tether::Runtime rt(options());
  rt.block_on([]() -> Task<void> {
    auto a = io::UdpSocket::bind(io::SocketAddress::loopback_v4(0));
    auto b = io::UdpSocket::bind(io::SocketAddress::loopback_v4(0));
    for (int i = 0; i < 3; ++i)
      co_await a.send_to(std::string(1, char('x' + i)), b.local_address(), Deadline::after(5s));
    char buf[64];
    for (int i = 0; i < 3; ++i) {
      io::Datagram d = co_await b.recv_from(buf, Deadline::after(5s));
      EXPECT_EQ(d.size, 1u);
      EXPECT_EQ(buf[0], char('x' + i));
      EXPECT_EQ(d.from, a.local_address());
    }
    EXPECT_THROW(co_await b.recv_from(buf, Deadline::after(50ms)), tether::TimedOut);
    b.connect(a.local_address());
    co_await b.send("hi", Deadline::after(5s));
    io::Datagram d = co_await a.recv_from(buf, Deadline::after(5s));
    EXPECT_EQ(std::string(buf, d.size), "hi");
  }());
}

}  // namespace
