// Helpers shared by tether's tests: sizes that shrink under sanitizers, a log capture sink.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace tether::test {

// Full size in optimised builds, a tenth under the sanitizers (which are 5-20x slower), so that the
// suite stays fast on two cores; the full sizes run as benchmarks.
constexpr std::size_t scaled(std::size_t n) {
#if defined(TETHER_SANITIZED)
  return n / 10 ? n / 10 : 1;
#else
  return n;
#endif
}

// A logger that keeps the last lines it received, for asserting on what tether logged.
struct LogCapture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  std::shared_ptr<spdlog::logger> logger = [this] {
    auto l = std::make_shared<spdlog::logger>("test", sink);
    l->set_level(spdlog::level::trace);
    l->set_pattern("%l %v");
    return l;
  }();

  std::vector<std::string> lines() const { return sink->last_formatted(); }
  bool contains(const std::string& needle) const {
    for (const auto& l : lines()) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

}  // namespace tether::test
