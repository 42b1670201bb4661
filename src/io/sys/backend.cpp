// Reports a refused io_uring once; see backend.hpp.
#include "backend.hpp"

#include <mutex>

#include <spdlog/spdlog.h>

namespace tether::detail {

void io_backend_check(RuntimeCore& core) noexcept {
  if (core.options().io_backend != IoBackend::kIoUring || core.driver().backend() == IoBackend::kIoUring) return;
  static std::once_flag logged;
  std::call_once(logged, [&core] {
    core.logger().warn("io_backend=io_uring unavailable ({}); falling back to epoll", core.driver().refusal());
  });
}

}  // namespace tether::detail
