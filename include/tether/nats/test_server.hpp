// tether/nats/test_server.hpp
//
// nats-server processes for tests, examples and benchmarks: each with its own ports, its own
// JetStream store directory and explicit limits, started in the background, waited for until it
// answers, and stopped by PID (and waited for) when the object goes away.
//
//   TestServerOptions  the binary, server name, store directory, cluster routes
//   TestServer         one nats-server process: start(), stop(), kill(), url()
//   TestCluster        N servers routed into one JetStream cluster (3 for R3 streams)
//   free_loopback_ports(n)  ports nobody listens on right now
//
// These calls block the calling thread (process start, TCP probing, waitpid): call them from a
// test fixture or main(), never from a tether task. Not for production deployments.
//
// Thread safety: thread-compatible.
// Example: nats/examples/distributed_pipeline.cpp
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace tether::nats {

// Ports on 127.0.0.1 that were free a moment ago (bound to port 0, then released).
std::vector<int> free_loopback_ports(std::size_t n);

// The nats-server binary: $TETHER_NATS_SERVER if set, else the one found at build time.
std::string nats_server_binary();

struct TestServerOptions {
  std::string name = "n0";  // server_name: how JetStream names the stream's leader
  int port = 0;             // client port; 0: a free one
  // Cluster: this server's route port and every member's route port (this one included); empty
  // for a single server.
  int cluster_port = 0;
  std::vector<int> routes;
  std::string cluster_name = "tether";
  // Where the JetStream store and the server log go; created if missing.
  std::string dir;
  // Explicit limits, so a test never depends on the machine's defaults.
  std::size_t max_memory_store = 64u << 20;
  std::size_t max_file_store = 512u << 20;
  std::size_t max_payload = 1u << 20;
  int max_connections = 256;
};

// tether::nats::TestServer
//
// One nats-server process with JetStream enabled.
//
// Thread safety: thread-compatible.
// Lifetime: the destructor stops the process (SIGTERM, then SIGKILL after 5 s) and reaps it.
class TestServer {
 public:
  explicit TestServer(TestServerOptions options);
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer();

  // Starts the process and waits until its client port answers with INFO. Throws tether::Error if
  // it exits or does not answer within `ready_within`.
  void start(std::chrono::milliseconds ready_within = std::chrono::seconds(10));
  // SIGTERM, wait for exit (SIGKILL after `grace`).
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // SIGKILL and reap: a crash, as far as the cluster can tell.
  void kill();
  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  std::string url() const;
  const std::string& name() const noexcept { return options_.name; }
  const TestServerOptions& options() const noexcept { return options_; }

 private:
  TestServerOptions options_;
  pid_t pid_ = -1;
};

// tether::nats::TestCluster
//
// `nodes` servers (1 for a single server) in a fresh directory under $TMPDIR, removed afterwards.
//
// Thread safety: thread-compatible.
class TestCluster {
 public:
  explicit TestCluster(std::size_t nodes);
  TestCluster(const TestCluster&) = delete;
  TestCluster& operator=(const TestCluster&) = delete;
  ~TestCluster();

  // Starts every server and waits until each answers.
  void start();
  std::vector<std::string> urls() const;
  TestServer& node(std::size_t i) { return *servers_.at(i); }
  // The server whose name is `name`, or null.
  TestServer* find(const std::string& name);
  std::size_t size() const noexcept { return servers_.size(); }
  const std::string& dir() const noexcept { return dir_; }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<TestServer>> servers_;
};

}  // namespace tether::nats
