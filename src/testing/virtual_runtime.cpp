// The virtual-time test runtime.
#include "tether/testing/virtual_runtime.hpp"

#include <cstdlib>
#include <random>

#include "tether/core/detail/local_core.hpp"

namespace tether::testing {
namespace {

std::uint64_t choose_seed(const VirtualOptions& o) {
  if (o.seed) return *o.seed;
  if (const char* env = std::getenv("TETHER_SEED")) return std::strtoull(env, nullptr, 10);
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

VirtualRuntime::VirtualRuntime(VirtualOptions options) : VirtualRuntime(options, choose_seed(options)) {}

VirtualRuntime::VirtualRuntime(VirtualOptions options, std::uint64_t seed)
    : Runtime(std::make_unique<detail::LocalCore>(
          std::move(options.runtime),
          detail::LocalCoreOptions{.virtual_time = true, .seeded_order = options.shuffle, .seed = seed})),
      seed_(seed) {}

void VirtualRuntime::advance(std::chrono::milliseconds d) {
  static_cast<detail::LocalCore&>(core()).advance(static_cast<std::uint64_t>(d.count()));
}

}  // namespace tether::testing
