#include "tether/observe/metrics_server.hpp"

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string_view>

#include "tether/core/error.hpp"
#include "tether/io/error.hpp"
#include "tether/observe/prometheus.hpp"
#include "tether/task/scope.hpp"
#include "tether/time/deadline.hpp"

namespace tether::observe {
namespace {

struct Request {
  int status = 200;  // 200, or the error to answer with
  bool head = false;
  std::string path;
};

// Parses the request line; headers are read (to the blank line) but ignored.
Request parse_request(std::string_view text, const std::string& path) {
  Request r;
  std::size_t eol = text.find("\r\n");
  std::string_view line = text.substr(0, eol);
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
    r.status = 400;
    return r;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  target = target.substr(0, target.find('?'));  // a query string does not change the answer
  r.path = std::string(target);
  if (method == "HEAD") {
    r.head = true;
  } else if (method != "GET") {
    r.status = 405;
    return r;
  }
  if (target != path) r.status = 404;
  return r;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Internal Server Error";
  }
}

// Reads up to the end of the headers within the read deadline. Returns the request text, or an
// empty string if the client closed first; sets `too_large` when the limit is reached first.
Task<std::string> read_request(io::TcpStream& s, const MetricsServerOptions& opts, bool& too_large) {
  Deadline deadline = Deadline::after(opts.read_timeout);
  std::string text;
  char buf[1024];
  while (text.find("\r\n\r\n") == std::string::npos) {
    if (text.size() >= opts.max_request_bytes) {
      too_large = true;
      co_return text;
    }
    std::size_t n = co_await s.read(buf, deadline);
    if (n == 0) co_return std::string();
    text.append(buf, n);
  }
  co_return text;
}

Task<void> serve_connection(io::TcpStream s, std::shared_ptr<const std::function<std::string()>> render,
                            const MetricsServerOptions* opts) {
  try {
    bool too_large = false;
    std::string text = co_await read_request(s, *opts, too_large);
    if (text.empty() && !too_large) co_return;
    Request req = too_large ? Request{.status = 431, .head = false, .path = {}} : parse_request(text, opts->path);
    std::string body;
    std::string_view type = "text/plain; charset=utf-8";
    if (req.status == 200) {
      body = (*render)();
      type = kPrometheusContentType;
    } else {
      body = fmt::format("{} {}\n", req.status, reason(req.status));
    }
    std::string response =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", req.status,
                    reason(req.status), type, body.size());
    if (!req.head) response += body;
    Deadline deadline = Deadline::after(opts->write_timeout);
    co_await s.write_all(io::ConstBuffer(response), deadline);
    s.shutdown(io::Shutdown::kWrite);
  } catch (const TimedOut&) {
    // A client too slow to send its request or take the answer: drop it.
  } catch (const io::Error&) {
    // Reset by the client, or similar: nothing to answer.
  }
  // Cancelled and anything else propagate: the scope unwinds.
}

}  // namespace

MetricsServer MetricsServer::bind(io::SocketAddress addr, MetricsServerOptions options) {
  auto listener = io::TcpListener::bind(addr, {.max_connections = options.max_connections});
  return MetricsServer(std::move(listener), std::move(options));
}

Task<void> MetricsServer::run(std::function<std::string()> render) {
  auto shared_render = std::make_shared<const std::function<std::string()>>(std::move(render));
  io::TcpListener* listener = &listener_;
  const MetricsServerOptions* opts = &options_;
  // A named local, not a temporary inside the co_await (GCC 12 pitfall with destructors there).
  auto accept_loop = [listener, opts, shared_render](Scope& s) -> Task<void> {
    for (;;) {
      // Waits without bound on purpose: a server's accept loop; the listener bounds connections.
      std::optional<io::TcpStream> stream;
      try {
        stream.emplace(co_await listener->accept(Deadline::never()));
      } catch (const io::Error&) {
        // A connection that died in the backlog (ECONNABORTED and the like): take the next one.
      }
      if (stream) s.spawn(serve_connection(std::move(*stream), shared_render, opts), {.name = "metrics connection"});
    }
  };
  co_await scope(std::move(accept_loop));
}

}  // namespace tether::observe
