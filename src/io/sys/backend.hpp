// Internal; not part of the public API.
//
// The I/O reactor choice, as the I/O layer sees it: the runtime's Driver runs epoll or io_uring
// (include/tether/core/detail/driver.hpp); this reports a refused io_uring once.
#pragma once

#include "tether/core/detail/runtime_core.hpp"

namespace tether::detail {

// Called when an fd is registered with `core`: if the runtime asked for io_uring and its driver
// could not set it up, logs the fall-back to epoll (with the reason) once per process.
void io_backend_check(RuntimeCore& core) noexcept;

}  // namespace tether::detail
