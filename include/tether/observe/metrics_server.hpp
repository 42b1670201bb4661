// tether/observe/metrics_server.hpp
//
// MetricsServer: an opt-in HTTP endpoint that serves `GET /metrics` (the Prometheus text from
// prometheus.hpp, or whatever the render function returns), built on tether's own TcpListener.
//
//   MetricsServerOptions   path, connection limit, read/write deadlines, request size limit
//   MetricsServer          bind(); local_address(); run(render)
//
// Bounded and timed like every tether server: at most `max_connections` connections at once (a
// flood waits in the kernel's backlog), the whole request must arrive within `read_timeout`, the
// response must be taken within `write_timeout`, a request larger than `max_request_bytes` is
// answered 431 and closed. One request per connection (Connection: close); GET and HEAD only.
//
//   auto server = tether::observe::MetricsServer::bind(tether::io::SocketAddress::loopback_v4(9464));
//   s.spawn(server.run([&] { return tether::observe::prometheus_text(rt, registry); }));
//
// When to use something else: a program that already runs an HTTP server should add a /metrics
// route there and call prometheus_text() from it.
//
// Thread safety: confined to one task at a time (run() serves from the task that awaits it and its
//   children); render is called from the serving tasks, possibly concurrently, so it must be
//   thread-safe (prometheus_text() is).
// Example: examples/observe/metrics_server.cpp
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "tether/core/task.hpp"
#include "tether/io/net/socket_address.hpp"
#include "tether/io/net/tcp_listener.hpp"

namespace tether::observe {

struct MetricsServerOptions {
  // The one path served; anything else is 404.
  std::string path = "/metrics";
  // Connections served at once; scrapers are few, so this is small.
  std::size_t max_connections = 16;
  // Deadline for the whole request (line and headers) to arrive, from accept.
  std::chrono::milliseconds read_timeout{5'000};
  // Deadline for the whole response to be written.
  std::chrono::milliseconds write_timeout{5'000};
  // Larger requests are refused (431) without reading further.
  std::size_t max_request_bytes = 8 * 1024;
};

class MetricsServer {
 public:
  // Binds and listens on `addr` (port 0 picks a free one; see local_address()).
  // Throws: io::Error (kAddressInUse, ...).
  static MetricsServer bind(io::SocketAddress addr, MetricsServerOptions options = {});

  MetricsServer(MetricsServer&&) noexcept = default;
  MetricsServer& operator=(MetricsServer&&) noexcept = default;

  io::SocketAddress local_address() const { return listener_.local_address(); }
  const io::TcpListener& listener() const noexcept { return listener_; }

  // MetricsServer::run()
  //
  // Serves until cancelled; `render` produces each response body.
  // Throws: Cancelled (that is how it stops).
  // Cancellation: Cancel-safe: nothing was consumed. Cancelling is how run() stops: it waits for
  //   its connection tasks to unwind, then throws Cancelled; a response being written is abandoned
  //   (the client sees the connection close).
  [[nodiscard]] Task<void> run(std::function<std::string()> render);

 private:
  MetricsServer(io::TcpListener listener, MetricsServerOptions options)
      : listener_(std::move(listener)), options_(std::move(options)) {}
  io::TcpListener listener_;
  MetricsServerOptions options_;
};

}  // namespace tether::observe
