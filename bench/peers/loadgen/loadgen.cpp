// loadgen: the one TCP echo load generator shared by every runtime's echo server.
//
// Usage: loadgen port=P [host=127.0.0.1] [conns=100] [size=64] [seconds=5]
//                [warmup_ms=500] [threads=1]
// Opens `conns` connections; each keeps exactly one `size`-byte message in
// flight: send it, wait until all `size` echoed bytes are back (checked
// byte for byte), record the round trip, send the next. Plain threads, each
// driving its share of the connections with one level-triggered epoll set.
// Round trips completed during the warm-up are not counted. Prints one JSON
// line (rtt_per_s, p50/p90/p99/p999/max in microseconds) and exits 1 on any
// connection error or mismatched echo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

[[noreturn]] void fail(const std::string& msg) {
  std::printf("{\"runtime\":\"loadgen\",\"workload\":\"echo\",\"ok\":false,\"error\":\"%s\"}\n", msg.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

// Log-linear latency histogram over nanoseconds: values below 2^kSub land in
// exact buckets, above that each power of two is split into 2^kSub buckets
// (relative error under 1/2^kSub = 1.6%).
class Histogram {
 public:
  static constexpr int kSub = 6;
  static constexpr int kBuckets = (64 - kSub + 1) << kSub;

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }
  void merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t total() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The value at quantile q (0..1): the midpoint of the bucket holding it.
  double quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = std::uint64_t(q * double(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return (double(lower(i)) + double(lower(i + 1))) / 2.0;
    }
    return double(max_);
  }

 private:
  static int index(std::uint64_t v) {
    if (v < (1ULL << kSub)) return int(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSub;
    return ((shift + 1) << kSub) + int((v >> shift) & ((1ULL << kSub) - 1));
  }
  static std::uint64_t lower(int i) {
    int block = i >> kSub;
    std::uint64_t sub = std::uint64_t(i & ((1 << kSub) - 1));
    if (block == 0) return sub;
    int shift = block - 1;
    return ((1ULL << kSub) + sub) << shift;
  }
  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kBuckets + 1, 0);
  std::uint64_t total_ = 0, max_ = 0;
};

struct Conn {
  int fd = -1;
  std::uint64_t sent_at = 0;
  std::uint64_t seq = 0;
  std::size_t got = 0;
  std::vector<char> out, in;
};

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  int conns = 100, size = 64, threads = 1;
  double seconds = 5;
  std::uint64_t warmup_ms = 500;
};

std::atomic<bool> g_error{false};
std::mutex g_error_mu;
std::string g_error_msg;

void set_error(const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_error_mu);
  if (g_error_msg.empty()) g_error_msg = msg;
  g_error = true;
}

void fill(Conn& c) {
  for (std::size_t i = 0; i < c.out.size(); ++i) c.out[i] = char('a' + (c.seq + i) % 26);
}

bool send_all(Conn& c) {
  std::size_t off = 0;
  while (off < c.out.size()) {
    auto k = ::send(c.fd, c.out.data() + off, c.out.size() - off, MSG_NOSIGNAL);
    if (k > 0)
      off += std::size_t(k);
    else if (k < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    else
      return false;
  }
  return true;
}

void worker(std::vector<Conn>& conns, std::uint64_t measure_from, std::uint64_t measure_to, Histogram& hist) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
  }
  for (auto& c : conns) {
    fill(c);
    c.sent_at = now_ns();
    if (!send_all(c)) {
      set_error("send failed");
      break;
    }
  }
  std::vector<epoll_event> events(conns.size());
  while (!g_error) {
    int k = epoll_wait(ep, events.data(), int(events.size()), 100);
    auto now = now_ns();
    if (now >= measure_to) break;
    if (k < 0 && errno == EINTR) continue;
    for (int e = 0; e < k; ++e) {
      auto& c = conns[events[e].data.u64];
      auto r = ::recv(c.fd, c.in.data() + c.got, c.in.size() - c.got, 0);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        set_error(r == 0 ? "server closed a connection" : std::strerror(errno));
        break;
      }
      c.got += std::size_t(r);
      if (c.got < c.out.size()) continue;
      if (std::memcmp(c.in.data(), c.out.data(), c.out.size()) != 0) {
        set_error("echo mismatch");
        break;
      }
      auto t = now_ns();
      if (c.sent_at >= measure_from && t <= measure_to) hist.record(t - c.sent_at);
      c.got = 0;
      ++c.seq;
      fill(c);
      c.sent_at = now_ns();
      if (!send_all(c)) {
        set_error("send failed");
        break;
      }
    }
  }
  close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos) fail("argument " + a + " is not key=value");
    auto k = a.substr(0, eq), v = a.substr(eq + 1);
    if (k == "host")
      cfg.host = v;
    else if (k == "port")
      cfg.port = std::atoi(v.c_str());
    else if (k == "conns")
      cfg.conns = std::atoi(v.c_str());
    else if (k == "size")
      cfg.size = std::atoi(v.c_str());
    else if (k == "seconds")
      cfg.seconds = std::atof(v.c_str());
    else if (k == "warmup_ms")
      cfg.warmup_ms = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "threads")
      cfg.threads = std::atoi(v.c_str());
    else
      fail("unknown parameter " + k);
  }
  if (cfg.port <= 0 || cfg.conns <= 0 || cfg.size <= 0 || cfg.threads <= 0) fail("need port, conns, size, threads > 0");
  cfg.threads = std::min(cfg.threads, cfg.conns);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(std::uint16_t(cfg.port));
  if (inet_pton(AF_INET, cfg.host.c_str(), &addr.sin_addr) != 1) fail("bad host");

  std::vector<std::vector<Conn>> shards(std::size_t(cfg.threads));
  for (int i = 0; i < cfg.conns; ++i) {
    Conn c;
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      fail(std::string("connect: ") + std::strerror(errno));
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.out.resize(std::size_t(cfg.size));
    c.in.resize(std::size_t(cfg.size));
    shards[std::size_t(i % cfg.threads)].push_back(std::move(c));
  }
  auto start = now_ns();
  auto measure_from = start + cfg.warmup_ms * 1'000'000ULL;
  auto measure_to = measure_from + std::uint64_t(cfg.seconds * 1e9);
  std::vector<Histogram> hists(std::size_t(cfg.threads));
  std::vector<std::thread> threads;
  for (int t = 0; t < cfg.threads; ++t)
    threads.emplace_back(worker, std::ref(shards[std::size_t(t)]), measure_from, measure_to,
                         std::ref(hists[std::size_t(t)]));
  for (auto& t : threads) t.join();
  for (auto& s : shards)
    for (auto& c : s) close(c.fd);
  if (g_error) fail(g_error_msg.empty() ? "connection error" : g_error_msg);
  Histogram all;
  for (auto& h : hists) all.merge(h);
  if (all.total() == 0) fail("no round trip completed");
  double window_s = double(measure_to - measure_from) / 1e9;
  std::printf(
      "{\"runtime\":\"loadgen\",\"workload\":\"echo\",\"ok\":true,\"elapsed_ns\":%llu,\"ops\":%llu,"
      "\"rtt_per_s\":%.1f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
      "\"conns\":%d,\"size\":%d,\"threads\":%d}\n",
      (unsigned long long)(measure_to - measure_from), (unsigned long long)all.total(), double(all.total()) / window_s,
      all.quantile(0.50) / 1e3, all.quantile(0.90) / 1e3, all.quantile(0.99) / 1e3, all.quantile(0.999) / 1e3,
      double(all.max()) / 1e3, cfg.conns, cfg.size, cfg.threads);
  return 0;
}
