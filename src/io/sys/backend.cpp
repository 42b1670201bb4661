// io_uring probe and fall-back; see backend.hpp.
#include "backend.hpp"

#include <cstring>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#if defined(TETHER_HAVE_URING)
#include <liburing.h>
#endif

namespace tether::detail {
namespace {

struct Probe {
  bool ok = false;
  std::string why;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
#if defined(TETHER_HAVE_URING)
    io_uring ring;
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc == 0) {
      io_uring_queue_exit(&ring);
      r.ok = true;
    } else {
      r.why = std::string("io_uring_queue_init: ") + std::strerror(-rc);
    }
#else
    r.why = "built without liburing";
#endif
    return r;
  }();
  return p;
}

}  // namespace

bool io_uring_available() noexcept { return probe().ok; }

void io_backend_check(RuntimeCore& core) noexcept {
  if (core.options().io_backend != IoBackend::kIoUring) return;
  static std::once_flag logged;
  std::call_once(logged, [&core] {
    const Probe& p = probe();
    if (!p.ok) {
      core.logger().warn("io_backend=io_uring unavailable ({}); falling back to epoll", p.why);
    } else {
      core.logger().info(
          "io_backend=io_uring: the kernel accepts io_uring, but this build drives "
          "readiness through epoll; falling back to epoll");
    }
  });
}

}  // namespace tether::detail
