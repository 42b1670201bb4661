// Internal; not part of the public API.
//
// The one place where tether's internals get their atomics, locks and thread-local helpers, so that
// a model checker or the deterministic runtime can stand in for them later (see STYLE.md §16).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tether::detail {

template <class T>
using Atomic = std::atomic<T>;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// A test-and-test-and-set spin lock for critical sections of a few instructions (intrusive list
// links, state words). Never held across a suspension or a call that may block.
class SpinLock {
 public:
  void lock() noexcept {
    for (;;) {
      // acquire: pairs with the release in unlock(), so the previous holder's writes are visible.
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      int spins = 0;
      // relaxed: only a hint that the lock might be free; the exchange above re-checks with acquire.
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    // relaxed load: a cheap pre-check; the exchange provides the acquire.
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  // release: pairs with the acquire in lock().
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  Atomic<bool> locked_{false};
};

}  // namespace tether::detail
