// Shared<T>'s grace periods; the protocol is in include/tether/sync/shared.hpp (rule numbers below).
#include "tether/sync/shared.hpp"

#include <thread>

namespace tether::sync::detail {

unsigned ReadIndicators::my_stripe() noexcept {
  static tether::detail::Atomic<unsigned> next{0};
  // relaxed: only spreads threads over stripes; any value is correct.
  thread_local const unsigned stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

void ReadIndicators::wait_empty(unsigned vi) noexcept {
  for (unsigned s = 0; s < kStripes; ++s) {
    int spins = 0;
    // acquire: pairs with the release in depart() (rule 2).
    while (counts_[vi][s].n.load(std::memory_order_acquire) != 0) {
      if (++spins < 128) {
        tether::detail::cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
  }
}

void ReadIndicators::synchronize() noexcept {
  // relaxed: only writers change version_index_, and they are serialised by the caller's lock.
  const unsigned vi = version_index_.load(std::memory_order_relaxed);
  wait_empty(1 - vi);
  version_index_.store(1 - vi, std::memory_order_seq_cst);  // rule 3 needs seq_cst
  wait_empty(vi);
}

}  // namespace tether::sync::detail
