// tether/testing/virtual_runtime.hpp
//
// VirtualRuntime: a deterministic runtime for tests. Single-threaded; its clock is paused and jumps
// straight to the next timer whenever every task is blocked (and no spawn_blocking job is running),
// so a test of a one-hour timeout runs in microseconds; the next task is chosen among the ready
// ones by a seeded generator, so the same seed gives the same interleaving. The seed comes from the
// options, else the TETHER_SEED environment variable, else a fresh random one; a failing block_on()
// prints it ("tether::testing seed=N") so the run can be replayed with TETHER_SEED=N.
//
//   VirtualRuntime   a Runtime with virtual time and a seeded schedule
//
// When to use something else: production code runs on tether::Runtime; a test that needs real
// parallelism (a stress test of a concurrent structure) too.
//
// Thread safety: as Runtime; tasks run on the thread that calls block_on().
// Example: tests/testing/virtual_runtime_test.cpp
#pragma once

#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>

#include "tether/core/runtime.hpp"

namespace tether::testing {

struct VirtualOptions {
  std::optional<std::uint64_t> seed = {};  // default: $TETHER_SEED, else random
  bool shuffle = true;                     // choose among ready tasks by the seed (false: FIFO)
  RuntimeOptions runtime = {};             // flavor is ignored: always single-threaded
};

class VirtualRuntime : public Runtime {
 public:
  explicit VirtualRuntime(VirtualOptions options = {});

  std::uint64_t seed() const noexcept { return seed_; }
  // Moves the virtual clock forward (from outside block_on) and fires what became due.
  void advance(std::chrono::milliseconds d);

  // As Runtime::block_on(), and prints the seed if the task fails.
  template <class T>
  T block_on(Task<T> task, std::source_location loc = std::source_location::current()) {
    try {
      return Runtime::block_on(std::move(task), loc);
    } catch (...) {
      std::fprintf(stderr, "tether::testing seed=%llu (replay with TETHER_SEED=%llu)\n",
                   static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_));
      throw;
    }
  }

 private:
  VirtualRuntime(VirtualOptions options, std::uint64_t seed);
  std::uint64_t seed_;
};

}  // namespace tether::testing
