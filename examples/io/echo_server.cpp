// examples/io/echo_server.cpp
//
// Shows: a TCP echo server the tether way. A TcpListener with a bound on concurrent connections
// (a flood waits in the kernel backlog), one task per connection, an idle deadline on every read
// (a silent client is dropped instead of holding a slot forever), a deadline on every write (a
// client that stops reading cannot pin the server), and SIGINT/SIGTERM turned into a graceful
// shutdown by ShutdownOnSignal.
//
// Run:  example_io_echo_server                      a bounded session: serves its own test client
//                                                   (10 connections x 100 round trips) and exits 0
//       example_io_echo_server --port 7000 --duration-ms 0      serve until SIGINT/SIGTERM
//       example_io_echo_server --port 7000 --duration-ms 5000   serve for five seconds
//   then e.g. example_io_echo_client --port 7000
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/tcp_listener.hpp"
#include "tether/io/signal.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

struct ServerOptions {
  std::uint16_t port = 0;
  long duration_ms = -1;  // -1: bounded self-test session; 0: until a signal; >0: that long
  std::size_t max_connections = 1000;
  std::chrono::milliseconds idle_timeout{10'000};
};

Task<void> serve_connection(io::TcpStream s, std::chrono::milliseconds idle) {
  s.set_nodelay(true);
  s.set_timeout(io::IoTimeout::after(idle));  // reads and writes without their own deadline
  char buf[4096];
  try {
    for (;;) {
      std::size_t n = co_await s.read(buf);
      if (n == 0) co_return;  // the client closed
      co_await s.write_all(io::ConstBuffer(buf, n));
    }
  } catch (const tether::TimedOut&) {
    // An idle or stuck client: drop it.
  } catch (const io::Error&) {
    // A reset or similar: the connection is gone.
  }
}

Task<void> accept_loop(io::TcpListener& listener, std::chrono::milliseconds idle) {
  for (;;) {
    // An accept loop waits for clients without bound, and says so.
    io::TcpStream s = co_await listener.accept(Deadline::never());
    tether::spawn_detached(serve_connection(std::move(s), idle));
  }
}

// The bounded session's client: `conns` connections, `rounds` round trips each.
Task<void> self_test_client(io::SocketAddress addr, int conns, int rounds) {
  std::vector<io::TcpStream> streams;
  for (int i = 0; i < conns; ++i) streams.push_back(co_await io::TcpStream::connect(addr, Deadline::after(5s)));
  for (int r = 0; r < rounds; ++r) {
    for (auto& s : streams) {
      char msg[64], back[64];
      std::snprintf(msg, sizeof msg, "round %d", r);
      co_await s.write_all(io::ConstBuffer(msg, sizeof msg), Deadline::after(5s));
      co_await s.read_exact(back, Deadline::after(5s));
      if (std::memcmp(msg, back, sizeof msg) != 0) throw tether::Error("echo mismatch");
    }
  }
  std::printf("self-test: %d connections x %d round trips echoed\n", conns, rounds);
}

Task<int> run(ServerOptions opts) {
  auto listener =
      io::TcpListener::bind(io::SocketAddress::loopback_v4(opts.port), {.max_connections = opts.max_connections});
  std::printf("listening on %s\n", listener.local_address().to_string().c_str());
  std::fflush(stdout);
  auto server = tether::spawn(accept_loop(listener, opts.idle_timeout));
  if (opts.duration_ms < 0) {
    co_await self_test_client(listener.local_address(), 10, 100);
  } else if (opts.duration_ms > 0) {
    co_await tether::sleep(std::chrono::milliseconds(opts.duration_ms));
  } else {
    co_await server;  // until the shutdown cancels us
  }
  // The accept loop uses `listener`, which lives in this frame: wait until it has stopped.
  co_await server.abort_and_wait();
  auto stats = listener.stats();
  std::printf("accepted %llu connections\n", static_cast<unsigned long long>(stats.accepted));
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ServerOptions opts;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) opts.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--duration-ms") == 0) opts.duration_ms = std::atol(argv[i + 1]);
    if (std::strcmp(argv[i], "--max-connections") == 0) opts.max_connections = std::strtoul(argv[i + 1], nullptr, 10);
  }
  tether::Runtime rt({.workers = 2, .name = "echo"});
  io::ShutdownOnSignal on_signal(rt, {.grace = 2s});
  try {
    return rt.block_on(run(opts));
  } catch (const tether::Cancelled&) {
    std::printf("shut down by signal\n");
    return 0;
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 1;
  }
}
