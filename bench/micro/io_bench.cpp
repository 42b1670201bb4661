// Micro benchmark of tether's I/O: TCP echo over loopback, 100 connections, 64-byte messages, one
// message in flight per connection (the shape of the peer suite's echo workload), with the echo
// server and the clients in the same Runtime (2 workers).
//
//   build/<dir>/bench/tether_micro_bench --benchmark_filter=TcpEcho
//
// Arguments: connections, and whether each read/write carries a deadline (1: the runtime's
// io_timeout, as production code does; 0: Deadline::never(), to show what the timers cost).
// items_per_second counts round trips. Real time and process CPU time are reported.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/net/tcp_listener.hpp"

namespace {

using tether::Deadline;
using tether::Task;
namespace io = tether::io;

struct QuietIoLogs {
  QuietIoLogs() { spdlog::set_level(spdlog::level::warn); }
} quiet_io_logs;

Deadline op_deadline(bool with) { return with ? Deadline::after(std::chrono::seconds(30)) : Deadline::never(); }

Task<void> echo(io::TcpStream s, bool deadlines) {
  s.set_nodelay(true);
  char buf[4096];
  try {
    for (;;) {
      std::size_t n = co_await s.read(buf, op_deadline(deadlines));
      if (n == 0) co_return;
      co_await s.write_all(io::ConstBuffer(buf, n), op_deadline(deadlines));
    }
  } catch (const tether::Error&) {
  }
}

Task<void> accept_n(io::TcpListener& l, int n, bool deadlines) {
  for (int i = 0; i < n; ++i)
    tether::spawn(echo(co_await l.accept(Deadline::after(std::chrono::seconds(10))), deadlines)).detach();
}

Task<std::vector<io::TcpStream>> connect_n(io::SocketAddress addr, int n) {
  std::vector<io::TcpStream> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(co_await io::TcpStream::connect(addr, Deadline::after(std::chrono::seconds(10))));
    out.back().set_nodelay(true);
  }
  co_return out;
}

Task<void> round_trips(io::TcpStream& s, int rounds, bool deadlines) {
  char msg[64] = {1}, back[64];
  for (int r = 0; r < rounds; ++r) {
    co_await s.write_all(io::ConstBuffer(msg, sizeof msg), op_deadline(deadlines));
    co_await s.read_exact(back, op_deadline(deadlines));
  }
}

Task<void> batch(std::vector<io::TcpStream>& clients, int rounds, bool deadlines) {
  std::vector<tether::JoinHandle<void>> hs;
  hs.reserve(clients.size());
  for (auto& c : clients) hs.push_back(tether::spawn(round_trips(c, rounds, deadlines)));
  for (auto& h : hs) co_await h;
}

void BM_TcpEcho(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  const bool deadlines = state.range(1) != 0;
  constexpr int kRounds = 100;
  tether::Runtime rt({.workers = 2, .name = "io-bench"});
  io::TcpListener listener = rt.block_on(
      []() -> Task<io::TcpListener> { co_return io::TcpListener::bind(io::SocketAddress::loopback_v4(0)); }());
  auto server = rt.spawn(accept_n(listener, conns, deadlines));
  auto clients = rt.block_on(connect_n(listener.local_address(), conns));
  for (auto _ : state) rt.block_on(batch(clients, kRounds, deadlines));
  state.SetItemsProcessed(state.iterations() * conns * kRounds);
  rt.block_on([](std::vector<io::TcpStream>& c) -> Task<void> {
    c.clear();
    co_return;
  }(clients));
}
BENCHMARK(BM_TcpEcho)
    ->Args({100, 1})
    ->Args({100, 0})
    ->ArgNames({"conns", "deadlines"})
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
