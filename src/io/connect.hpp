// Internal; not part of the public API. Connecting stream sockets, shared by TCP and Unix.
#pragma once

#include "tether/core/task.hpp"
#include "tether/io/detail/async_fd.hpp"
#include "tether/io/net/socket_address.hpp"

namespace tether::io {

// Opens a stream socket of addr's family and connects it within `deadline`. Throws io::Error
// naming "connect to <addr>", TimedOut, Cancelled.
Task<::tether::detail::AsyncFd> connect_socket(const SocketAddress& addr, Deadline deadline);

}  // namespace tether::io
