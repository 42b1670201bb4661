// Internal; not part of the public API.
//
// Choice of the I/O reactor: epoll (the driver's own instance) or io_uring. See src/io/sys/backend.cpp.
#pragma once

#include "tether/core/detail/runtime_core.hpp"

namespace tether::detail {

// Called when an fd is registered with `core`: if the runtime asked for io_uring and it cannot be
// used, logs the fall-back to epoll once per process.
void io_backend_check(RuntimeCore& core) noexcept;

// Whether io_uring can be set up here (probed once with io_uring_queue_init).
bool io_uring_available() noexcept;

}  // namespace tether::detail
