// The lock-across-await detector's policy and report; see include/tether/sync/lock_policy.hpp.
#include "tether/sync/lock_policy.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tether/core/detail/runtime_core.hpp"

namespace tether::sync {
namespace {

#ifdef NDEBUG
constexpr LockAcrossAwaitPolicy kDefaultPolicy = LockAcrossAwaitPolicy::kLog;
#else
constexpr LockAcrossAwaitPolicy kDefaultPolicy = LockAcrossAwaitPolicy::kAbort;
#endif

detail::Atomic<LockAcrossAwaitPolicy> g_policy{kDefaultPolicy};

}  // namespace

// relaxed: an independent setting; no other data is published with it.
void set_lock_across_await_policy(LockAcrossAwaitPolicy p) noexcept { g_policy.store(p, std::memory_order_relaxed); }
LockAcrossAwaitPolicy lock_across_await_policy() noexcept { return g_policy.load(std::memory_order_relaxed); }

}  // namespace tether::sync

namespace tether::detail {

void HeldLockRecord::report_suspension(TaskHeader* task, const HeldLock* innermost) noexcept {
  using sync::LockAcrossAwaitPolicy;
  const LockAcrossAwaitPolicy p = sync::lock_across_await_policy();
  if (p == LockAcrossAwaitPolicy::kIgnore) return;
  // SAFETY: every HeldLock in a task's list is a HeldLockRecord (only link() puts records there),
  // and the list is only touched by the thread running the task, which is us.
  auto* rec = const_cast<HeldLockRecord*>(static_cast<const HeldLockRecord*>(innermost));
  if (p == LockAcrossAwaitPolicy::kLog && rec->reported) return;
  rec->reported = true;
  try {
    const char* file = rec->where.file_name();
    if (const char* slash = std::strrchr(file, '/')) file = slash + 1;
    std::string msg = "lock held across await: task " + std::to_string(task->id()) + " '" + task->display_name() +
                      "' suspends while holding a " + rec->kind + " guard taken at " + file + ":" +
                      std::to_string(rec->where.line()) + " (" + rec->where.function_name() +
                      "); release the guard before awaiting, or use with()";
    task->core()->logger().error("{}", msg);
    if (p == LockAcrossAwaitPolicy::kAbort) {
      std::fprintf(stderr, "tether: %s\n", msg.c_str());
      std::fflush(stderr);
      std::abort();
    }
  } catch (...) {
    // Reporting must not throw out of a suspension point; kAbort still aborts below.
  }
  if (p == LockAcrossAwaitPolicy::kAbort) std::abort();
}

}  // namespace tether::detail
