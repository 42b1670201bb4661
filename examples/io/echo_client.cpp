// examples/io/echo_client.cpp
//
// Shows: TCP clients with deadlines by construction: connect within a deadline, every round trip
// bounded, faults as named outcomes (a refused connection is io::ErrorKind::kConnectionRefused),
// and a line protocol through BufReader/BufWriter.
//
// Run:  example_io_echo_client                 starts an echo server of its own on 127.0.0.1 (an
//                                              ephemeral port), runs against it, exits 0
//       example_io_echo_client --port 7000 [--conns 10] [--rounds 1000]
//                                              against example_io_echo_server --port 7000
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/buffered.hpp"
#include "tether/io/error.hpp"
#include "tether/io/net/tcp_listener.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

// A line echo server for the standalone run.
Task<void> echo_lines(io::TcpStream s) {
  io::BufReader reader(s);
  io::BufWriter writer(s);
  std::string line;
  while (co_await reader.read_line(line, Deadline::after(10s))) {
    co_await writer.write(line + "\n", Deadline::after(10s));
    if (reader.buffered() == 0) co_await writer.flush(Deadline::after(10s));
  }
}

Task<void> local_server(io::TcpListener& l) {
  for (;;) tether::spawn_detached(echo_lines(co_await l.accept(Deadline::never())));
}

Task<std::uint64_t> client(io::SocketAddress addr, int rounds) {
  io::TcpStream s = co_await io::TcpStream::connect(addr, Deadline::after(5s));
  s.set_nodelay(true);
  io::BufReader reader(s);
  std::string line;
  for (int r = 0; r < rounds; ++r) {
    std::string msg = "message " + std::to_string(r);
    co_await s.write_all(msg + "\n", Deadline::after(5s));
    if (!co_await reader.read_line(line, Deadline::after(5s)) || line != msg) throw tether::Error("bad echo: " + line);
  }
  co_return static_cast<std::uint64_t>(rounds);
}

Task<int> run(std::uint16_t port, int conns, int rounds) {
  std::optional<io::TcpListener> own;
  tether::JoinHandle<void> server;
  io::SocketAddress addr = io::SocketAddress::loopback_v4(port);
  if (port == 0) {
    own = io::TcpListener::bind(io::SocketAddress::loopback_v4(0));
    addr = own->local_address();
    server = tether::spawn(local_server(*own));
  }
  // A port with nobody behind it is a named outcome, not a crash or a hang.
  try {
    std::uint16_t closed_port;
    {
      auto probe = io::TcpListener::bind(io::SocketAddress::loopback_v4(0));
      closed_port = probe.local_address().port();
    }
    co_await io::TcpStream::connect(io::SocketAddress::loopback_v4(closed_port), Deadline::after(2s));
  } catch (const io::Error& e) {
    std::printf("as expected: %s (%s)\n", e.what(), io::to_string(e.kind()));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<tether::JoinHandle<std::uint64_t>> clients;
  for (int c = 0; c < conns; ++c) clients.push_back(tether::spawn(client(addr, rounds)));
  std::uint64_t total = 0;
  for (auto& c : clients) total += co_await c;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu round trips over %d connections in %.3f s (%.0f/s)\n", static_cast<unsigned long long>(total),
              conns, secs, static_cast<double>(total) / secs);
  // The local server uses `own`, which lives in this frame: wait until it has stopped.
  if (server.valid()) co_await server.abort_and_wait();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  int conns = 10, rounds = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--port") == 0) port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--conns") == 0) conns = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
  }
  tether::Runtime rt({.workers = 2, .name = "echo-client"});
  try {
    return rt.block_on(run(port, conns, rounds));
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "echo_client: %s\n", e.what());
    return 1;
  }
}
