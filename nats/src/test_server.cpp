// nats-server processes for tests: start in the background, probe until INFO, stop by PID.
#include "tether/nats/test_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tether/core/error.hpp"

#ifndef TETHER_NATS_SERVER
#define TETHER_NATS_SERVER "/usr/sbin/nats-server"
#endif

namespace tether::nats {

namespace {

using SteadyClock = std::chrono::steady_clock;

// True if 127.0.0.1:port accepts a connection and sends the NATS greeting.
bool answers(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    pollfd p{fd, POLLIN, 0};
    char buf[8] = {0};
    if (::poll(&p, 1, 500) == 1 && ::recv(fd, buf, 4, 0) == 4) ok = std::memcmp(buf, "INFO", 4) == 0;
  }
  ::close(fd);
  return ok;
}

// Reaps `pid` if it exited; true if it did.
bool reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

std::vector<int> free_loopback_ports(std::size_t n) {
  std::vector<int> fds, ports;
  for (std::size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw Error("free_loopback_ports: " + std::string(std::strerror(errno)));
    }
    fds.push_back(fd);  // held until all are chosen, so the n ports differ
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

std::string nats_server_binary() {
  if (const char* env = std::getenv("TETHER_NATS_SERVER"); env && *env) return env;
  return TETHER_NATS_SERVER;
}

TestServer::TestServer(TestServerOptions options) : options_(std::move(options)) {
  if (options_.port == 0) options_.port = free_loopback_ports(1)[0];
  if (options_.dir.empty()) throw Error("TestServer: a directory is required");
}

TestServer::~TestServer() {
  if (running()) stop();
}

std::string TestServer::url() const { return "nats://127.0.0.1:" + std::to_string(options_.port); }

void TestServer::start(std::chrono::milliseconds ready_within) {
  if (running()) return;
  namespace fs = std::filesystem;
  fs::path dir = fs::path(options_.dir) / options_.name;
  fs::create_directories(dir / "js");
  fs::path conf = dir / "server.conf";
  {
    std::ofstream c(conf);
    c << "server_name: " << options_.name << "\n"
      << "listen: 127.0.0.1:" << options_.port << "\n"
      << "max_payload: " << options_.max_payload << "\n"
      << "max_connections: " << options_.max_connections << "\n"
      << "log_file: \"" << (dir / "server.log").string() << "\"\n"
      << "jetstream {\n  store_dir: \"" << (dir / "js").string() << "\"\n"
      << "  max_memory_store: " << options_.max_memory_store << "\n"
      << "  max_file_store: " << options_.max_file_store << "\n}\n";
    if (options_.cluster_port != 0) {
      c << "cluster {\n  name: " << options_.cluster_name << "\n  listen: 127.0.0.1:" << options_.cluster_port
        << "\n  routes: [";
      for (std::size_t i = 0; i < options_.routes.size(); ++i) {
        c << (i ? ", " : "") << "nats-route://127.0.0.1:" << options_.routes[i];
      }
      c << "]\n}\n";
    }
  }
  std::string bin = nats_server_binary();
  std::string conf_s = conf.string();
  pid_t pid = ::fork();
  if (pid < 0) throw Error("TestServer: fork failed");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execl(bin.c_str(), bin.c_str(), "-c", conf_s.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  auto until = SteadyClock::now() + ready_within;
  while (!answers(options_.port)) {
    if (reaped(pid_)) {
      pid_ = -1;
      throw Error("TestServer: " + bin + " exited at start (see " + (dir / "server.log").string() + ")");
    }
    if (SteadyClock::now() > until) {
      kill();
      throw Error("TestServer: " + options_.name + " did not answer in time");
    }
    // Polling a process we do not control: there is nothing to wait on but the port.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void TestServer::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  auto until = SteadyClock::now() + grace;
  while (!reaped(pid_)) {
    if (SteadyClock::now() > until) {
      kill();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
}

void TestServer::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

TestCluster::TestCluster(std::size_t nodes) {
  if (nodes == 0) throw Error("TestCluster: at least one node");
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/tether-nats-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw Error("TestCluster: mkdtemp failed");
  dir_ = buf.data();
  std::vector<int> ports = free_loopback_ports(nodes * 2);
  std::vector<int> routes;
  if (nodes > 1) {
    for (std::size_t i = 0; i < nodes; ++i) routes.push_back(ports[nodes + i]);
  }
  for (std::size_t i = 0; i < nodes; ++i) {
    servers_.push_back(std::make_unique<TestServer>(TestServerOptions{
        .name = "n" + std::to_string(i),
        .port = ports[i],
        .cluster_port = nodes > 1 ? ports[nodes + i] : 0,
        .routes = routes,
        .dir = dir_,
    }));
  }
}

TestCluster::~TestCluster() {
  for (auto& s : servers_) s->stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TestCluster::start() {
  for (auto& s : servers_) s->start();
}

std::vector<std::string> TestCluster::urls() const {
  std::vector<std::string> out;
  for (const auto& s : servers_) out.push_back(s->url());
  return out;
}

TestServer* TestCluster::find(const std::string& name) {
  for (auto& s : servers_) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

}  // namespace tether::nats
