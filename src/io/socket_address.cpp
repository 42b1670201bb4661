// SocketAddress and resolve(); see include/tether/io/net/socket_address.hpp.
#include "tether/io/net/socket_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "pool.hpp"
#include "tether/core/blocking.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/error.hpp"
#include "tether/time/timeout.hpp"

namespace tether::io {

SocketAddress::SocketAddress(const sockaddr* sa, socklen_t len) noexcept {
  if (len > sizeof storage_) len = sizeof storage_;
  std::memcpy(&storage_, sa, len);
  len_ = len;
}

SocketAddress SocketAddress::from(std::string_view ip, std::uint16_t port) {
  std::string host(ip);
  SocketAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage_);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage_);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  throw Error(ErrorKind::kInvalidAddress, "parse address \"" + host + "\"");
}

SocketAddress SocketAddress::parse(std::string_view text) {
  auto fail = [&] { return Error(ErrorKind::kInvalidAddress, "parse address \"" + std::string(text) + "\""); };
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') throw fail();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) throw fail();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5) throw fail();
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') throw fail();
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p > 65535) throw fail();
  try {
    return from(host, static_cast<std::uint16_t>(p));
  } catch (const Error&) {
    throw fail();
  }
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  SocketAddress a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage_);
  if (path.empty() || path.size() >= sizeof un->sun_path) {
    throw Error(ErrorKind::kInvalidAddress, "unix socket path \"" + std::string(path) + "\"", "empty or too long");
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  if (path.front() == '@') un->sun_path[0] = '\0';  // abstract namespace
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path.front() == '@' ? 0 : 1));
  return a;
}

std::uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  if (family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
    std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
    if (n == 0) return "unnamed unix socket";
    if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, ::strnlen(un->sun_path, n));
  }
  return "unspecified address";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, Deadline deadline) {
  std::string what = "resolve " + host;
  auto lookup = [host, port] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0) {
      throw Error(ErrorKind::kInvalidAddress, "resolve " + host, ::gai_strerror(rc));
    }
    std::vector<SocketAddress> out;
    for (addrinfo* p = res; p; p = p->ai_next) out.emplace_back(p->ai_addr, p->ai_addrlen);
    ::freeaddrinfo(res);
    if (out.empty()) throw Error(ErrorKind::kInvalidAddress, "resolve " + host, "no addresses");
    return out;
  };
  co_return co_await detail::on_pool(deadline, what, std::move(lookup));
}

Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port) {
  return resolve(std::move(host), port, ::tether::detail::default_io_deadline());
}

}  // namespace tether::io
