// tether/io/net/socket_address.hpp
//
// Socket addresses and name resolution with a deadline.
//
//   SocketAddress   an IPv4, IPv6 or Unix-domain address; parse("127.0.0.1:80"), parse("[::1]:80")
//   resolve()       host name -> addresses, on the blocking pool (getaddrinfo), with a deadline
//
// When to use something else: Unix-domain sockets take a path directly (UnixStream::connect).
//
// Thread safety: SocketAddress is a plain value.
// Example: examples/io/echo_client.cpp
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tether/core/task.hpp"
#include "tether/io/io_timeout.hpp"
#include "tether/time/deadline.hpp"

namespace tether::io {

class SocketAddress {
 public:
  SocketAddress() noexcept = default;
  SocketAddress(const sockaddr* sa, socklen_t len) noexcept;

  // "1.2.3.4:80" or "[::1]:80" (numeric only; names go through resolve()). Throws io::Error
  // (kInvalidAddress) if `text` does not parse.
  static SocketAddress parse(std::string_view text);
  // A numeric host and a port.
  static SocketAddress from(std::string_view ip, std::uint16_t port);
  static SocketAddress loopback_v4(std::uint16_t port) { return from("127.0.0.1", port); }
  static SocketAddress loopback_v6(std::uint16_t port) { return from("::1", port); }
  // A Unix-domain socket path (abstract namespace if it starts with '@').
  static SocketAddress unix_path(std::string_view path);

  int family() const noexcept { return storage_.ss_family; }
  std::uint16_t port() const noexcept;  // 0 for Unix-domain addresses
  // "127.0.0.1:5000", "[::1]:5000", or the Unix path.
  std::string to_string() const;

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// resolve()
//
// Resolves `host` (a name or a numeric address) for `port` with getaddrinfo on the blocking pool.
// Returns: at least one address | Throws: io::Error (kInvalidAddress: the name does not resolve),
//   TimedOut("resolve <host>"), Cancelled.
// Cancellation: Cancel-safe: nothing was consumed (a lookup already running finishes on its thread
//   and its answer is dropped).
Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port, Deadline deadline);
Task<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port);

}  // namespace tether::io
