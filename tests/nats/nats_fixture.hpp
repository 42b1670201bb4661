// Shared by the tether::nats tests: nats-server processes started once per suite (own ports, own
// store directory, explicit limits), stopped by PID when the suite ends.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "test_support.hpp"
#include "tether/nats/nats.hpp"
#include "tether/tether.hpp"

namespace tether::nats::test {

using namespace std::chrono_literals;

template <std::size_t Nodes>
class NatsSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = std::make_unique<TestCluster>(Nodes);
    cluster_->start();
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  static ConnectOptions options() { return ConnectOptions{.servers = cluster_->urls(), .name = "test"}; }
  static Task<Connection> connect() { return Connection::connect(options(), Deadline::after(10s)); }

  static inline std::unique_ptr<TestCluster> cluster_;
};

using SingleServer = NatsSuite<1>;
using ThreeNodes = NatsSuite<3>;

// A stream name no other test of the run uses.
inline std::string unique_name(const std::string& base) {
  static std::atomic<int> n{0};
  return base + std::to_string(n.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace tether::nats::test
