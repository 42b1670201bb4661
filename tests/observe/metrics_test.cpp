// Tests for tether/observe/metrics_registry.hpp, prometheus.hpp and metrics_server.hpp: the text
// parses as the Prometheus exposition format (checked by the small parser below, not by string
// matching), its counters move when work happens, registered objects appear and disappear with
// their registrations, and the HTTP endpoint answers, refuses and times out as documented.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/net/tcp_stream.hpp"
#include "tether/observe/metrics_registry.hpp"
#include "tether/observe/metrics_server.hpp"
#include "tether/observe/prometheus.hpp"
#include "tether/observe/task_dump.hpp"
#include "tether/patterns/circuit_breaker.hpp"
#include "tether/patterns/pipeline.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/sync/semaphore.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Task;
namespace observe = tether::observe;

// Runtime::block_on() takes a Task: this awaits a handle from outside the runtime.
template <class T>
Task<T> join(tether::JoinHandle<T> h) {
  co_return co_await h;
}

// ---- A small validating parser of the Prometheus text exposition format (0.0.4) ----
//
// Accepts exactly: `# HELP <name> <text>`, `# TYPE <name> <counter|gauge|histogram|summary|
// untyped>`, other `#` comments, blank lines, and samples `<name>[{<label>="<value>",...}] <value>`
// where names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values
// escape only \\, \" and \n, and values parse as floats (or NaN, +Inf, -Inf). Each family has at
// most one HELP and one TYPE, the TYPE comes before its samples, the samples of a family are
// contiguous, and no series (name + labels) repeats. Any violation is a test failure.
struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  std::map<std::string, double> series;  // `name{a="x",b="y"}` (labels as written) -> value
  bool ok = true;
  std::string error;

  double at(const std::string& key) const {
    auto it = series.find(key);
    if (it == series.end()) {
      ADD_FAILURE() << "no series " << key;
      return std::nan("");
    }
    return it->second;
  }
  bool has(const std::string& key) const { return series.count(key) != 0; }
};

bool is_name(const std::string& s, bool colon_ok) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon_ok && c == ':') ||
              (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool parse_value(const std::string& s, double& out) {
  if (s == "NaN") return out = std::nan(""), true;
  if (s == "+Inf") return out = HUGE_VAL, true;
  if (s == "-Inf") return out = -HUGE_VAL, true;
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

Exposition parse_exposition(const std::string& text) {
  Exposition e;
  auto fail = [&](const std::string& why, const std::string& line) {
    if (e.ok) e.error = why + ": '" + line + "'";
    e.ok = false;
  };
  std::set<std::string> finished;  // families whose samples are over
  std::string current;             // family of the samples being read
  if (!text.empty() && text.back() != '\n') fail("text does not end with a newline", "");
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        bool is_help = line[2] == 'H';
        std::string rest = line.substr(7);
        std::size_t sp = rest.find(' ');
        std::string name = rest.substr(0, sp);
        std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
        if (!is_name(name, true)) fail("bad family name", line);
        if (finished.count(name) || (current == name && e.types.count(name) && !is_help))
          fail("HELP/TYPE after the family's samples", line);
        if (is_help) {
          if (e.help.count(name)) fail("second HELP", line);
          for (std::size_t i = 0; i < arg.size(); ++i) {
            if (arg[i] == '\\' && (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n')))
              fail("bad escape in HELP", line);
            if (arg[i] == '\\') ++i;
          }
          e.help[name] = arg;
        } else {
          static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
          if (!kTypes.count(arg)) fail("unknown TYPE", line);
          if (e.types.count(name)) fail("second TYPE", line);
          e.types[name] = arg;
        }
      }
      continue;
    }
    // A sample.
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    std::string name = line.substr(0, i);
    if (!is_name(name, true)) fail("bad metric name", line);
    std::string key = name;
    if (i < line.size() && line[i] == '{') {
      key += '{';
      ++i;
      bool first = true;
      std::set<std::string> label_names;
      while (i < line.size() && line[i] != '}') {
        if (!first) {
          if (line[i] != ',') {
            fail("expected , between labels", line);
            break;
          }
          ++i;
          key += ',';
        }
        first = false;
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          fail("label without =", line);
          break;
        }
        std::string lname = line.substr(i, eq - i);
        if (!is_name(lname, false) || lname.rfind("__", 0) == 0) fail("bad label name", line);
        if (!label_names.insert(lname).second) fail("repeated label", line);
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          fail("label value not quoted", line);
          break;
        }
        std::size_t start = i;
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n'))
              fail("bad escape in label value", line);
            ++i;
          }
          ++i;
        }
        if (i >= line.size()) {
          fail("unterminated label value", line);
          break;
        }
        ++i;  // closing quote
        key += lname + "=" + line.substr(start, i - start);
      }
      if (i >= line.size()) {
        fail("unterminated label set", line);
        continue;
      }
      ++i;  // '}'
      key += '}';
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("expected a space before the value", line);
      continue;
    }
    std::string value_text = line.substr(i + 1);
    std::size_t sp = value_text.find(' ');  // an optional timestamp follows
    if (sp != std::string::npos) value_text = value_text.substr(0, sp);
    double value;
    if (!parse_value(value_text, value)) fail("bad value", line);
    // Counters and gauges: the sample's name is the family's.
    if (!e.types.count(name)) fail("sample before its TYPE", line);
    if (name != current) {
      if (!current.empty()) finished.insert(current);
      if (finished.count(name)) fail("family's samples not contiguous", line);
      current = name;
    }
    if (e.types[name] == "counter" && value < 0) fail("negative counter", line);
    if (!e.series.emplace(key, value).second) fail("repeated series", line);
  }
  return e;
}

Exposition parse_ok(const std::string& text) {
  Exposition e = parse_exposition(text);
  EXPECT_TRUE(e.ok) << e.error << "\n" << text;
  return e;
}

// The parser itself rejects what it should, so that a passing test means something.
TEST(PrometheusParserTest, RejectsMalformedExpositions) {
  EXPECT_TRUE(parse_exposition("# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\"} 1\n").ok);
  EXPECT_FALSE(parse_exposition("a_total 1\n").ok);                                               // no TYPE
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na{l=\"v} 1\n").ok);                              // unterminated
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na{l=\"\\x\"} 1\n").ok);                          // bad escape
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na{1l=\"v\"} 1\n").ok);                           // label name
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na{l=\"v\"} one\n").ok);                          // value
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na 1\na 2\n").ok);                                // repeated
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n").ok);  // split
  EXPECT_FALSE(parse_exposition("# TYPE a wobbly\na 1\n").ok);                                    // type
  EXPECT_FALSE(parse_exposition("# TYPE a gauge\na 1").ok);                                       // final newline
}

std::string rt_key(const std::string& name, const std::string& rt, const std::string& extra = "") {
  return name + "{runtime=\"" + rt + "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

Task<int> work(int i) {
  co_await tether::yield_now();
  co_return i;
}

Task<int> spawn_many(int n) {
  int sum = 0;
  std::vector<tether::JoinHandle<int>> handles;
  for (int i = 0; i < n; ++i) handles.push_back(tether::spawn(work(i)));
  for (auto& h : handles) sum += co_await h;
  co_return sum;
}

// Runtime series are present, typed, and their counters move when tasks run.
TEST(PrometheusTextTest, RuntimeCountersMoveWhenTasksRun) {
  tether::Runtime rt({.workers = 2, .name = "prom-rt"});
  Exposition before = parse_ok(observe::prometheus_text(rt));
  EXPECT_EQ(before.types.at("tether_tasks_spawned_total"), "counter");
  EXPECT_EQ(before.types.at("tether_tasks_alive"), "gauge");
  EXPECT_EQ(before.at(rt_key("tether_workers", "prom-rt")), 2);

  EXPECT_EQ(rt.block_on(spawn_many(50)), 50 * 49 / 2);

  Exposition after = parse_ok(observe::prometheus_text(rt));
  EXPECT_GE(after.at(rt_key("tether_tasks_spawned_total", "prom-rt")) -
                before.at(rt_key("tether_tasks_spawned_total", "prom-rt")),
            51);
  EXPECT_GT(after.at(rt_key("tether_task_polls_total", "prom-rt")),
            before.at(rt_key("tether_task_polls_total", "prom-rt")));
  EXPECT_TRUE(after.has(rt_key("tether_local_queue_depth", "prom-rt", "worker=\"1\"")));
}

// Waits (outside the runtime) until `pred` holds; a bound far beyond any real wait catches hangs.
template <class Pred>
bool eventually(Pred pred) {
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

Task<void> send_one(tether::mpsc::Sender<int> tx, int v) { (void)co_await tx.send(v); }

// A registered channel reports depth, capacity and a sender blocked by backpressure.
TEST(PrometheusTextTest, ChannelSeriesShowDepthCapacityAndWaitingSenders) {
  tether::Runtime rt({.workers = 2, .name = "prom-ch"});
  observe::MetricsRegistry registry;
  auto [tx, rx] = tether::mpsc::channel<int>(4);
  auto reg = registry.add_channel("jobs", tx.gauge());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_send(i));
  auto blocked = rt.spawn(send_one(tx, 99));
  ASSERT_TRUE(eventually([&] { return tx.stats().waiting_senders == 1; }));

  Exposition e = parse_ok(observe::prometheus_text(rt, registry));
  const std::string ch = "channel=\"jobs\"";
  EXPECT_EQ(e.at(rt_key("tether_channel_depth", "prom-ch", ch)), 4);
  EXPECT_EQ(e.at(rt_key("tether_channel_capacity", "prom-ch", ch)), 4);
  EXPECT_EQ(e.at(rt_key("tether_channel_waiting_senders", "prom-ch", ch)), 1);
  EXPECT_EQ(e.at(rt_key("tether_channel_waiting_receivers", "prom-ch", ch)), 0);
  EXPECT_EQ(e.at(rt_key("tether_channel_closed", "prom-ch", ch)), 0);

  ASSERT_TRUE(rx.try_recv());
  rt.block_on(join(std::move(blocked)));
  EXPECT_EQ(tx.stats().len, 4u);
  reg.reset();
  EXPECT_FALSE(parse_ok(observe::prometheus_text(rt, registry)).types.count("tether_channel_depth"));
}

// A gauge keeps the channel's memory, never the channel: dropping the receiver still closes it,
// and the registry reads the closed channel safely after both handles are gone.
TEST(ChannelGaugeTest, GaugeNeverKeepsTheChannelOpen) {
  observe::MetricsRegistry registry;
  observe::MetricsRegistry::Registration reg;
  {
    auto [tx, rx] = tether::mpsc::channel<std::string>(2);
    reg = registry.add_channel("short-lived", rx.gauge());
    ASSERT_TRUE(tx.try_send("x"));
    { auto dropped = std::move(rx); }
    EXPECT_TRUE(tx.is_closed());
  }
  auto snap = registry.snapshot();
  ASSERT_EQ(snap.channels.size(), 1u);
  EXPECT_TRUE(snap.channels[0].stats.closed);
  EXPECT_EQ(snap.channels[0].stats.senders, 0u);
}

Task<void> hold_until_someone_waits(tether::sync::Mutex<int>& m, tether::Runtime& rt, std::atomic<bool>& holding) {
  co_await m.with([&](int&) {
    holding.store(true);
    // Closures cannot suspend; spin (on a worker, briefly) until the other task is queued.
    // dump_tasks() reads each task under its inspection claim (Runtime::tasks() reads what a
    // task waits on without one, which TSan rightly flags while the task is suspending).
    eventually([&] {
      for (const auto& t : observe::dump_tasks(rt, {.symbolize = false, .source_lines = false}).tasks) {
        if (t.state == observe::TaskState::kWaiting && t.waiting_on == "mutex") return true;
      }
      return false;
    });
  });
}

Task<void> increment(tether::sync::Mutex<int>& m) {
  co_await m.with([](int& v) { ++v; });
}

// Lock wait time: a task that has to queue behind a holder is counted, with the time it waited.
TEST(PrometheusTextTest, LockWaitTimeMovesUnderContention) {
  tether::Runtime rt({.workers = 2, .name = "prom-lock"});
  observe::MetricsRegistry registry;
  tether::sync::Mutex<int> m(0);
  auto reg = registry.add_mutex("accounts", m);
  Exposition idle = parse_ok(observe::prometheus_text(rt, registry));
  EXPECT_EQ(idle.at(rt_key("tether_lock_contended_acquisitions_total", "prom-lock", "lock=\"accounts\"")), 0);

  std::atomic<bool> holding{false};
  auto holder = rt.spawn(hold_until_someone_waits(m, rt, holding));
  ASSERT_TRUE(eventually([&] { return holding.load(); }));
  auto waiter = rt.spawn(increment(m));
  rt.block_on(join(std::move(holder)));
  rt.block_on(join(std::move(waiter)));
  EXPECT_EQ(m.get_unsynchronized(), 1);

  Exposition e = parse_ok(observe::prometheus_text(rt, registry));
  EXPECT_EQ(e.at(rt_key("tether_lock_contended_acquisitions_total", "prom-lock", "lock=\"accounts\"")), 1);
  EXPECT_GT(e.at(rt_key("tether_lock_wait_seconds_total", "prom-lock", "lock=\"accounts\"")), 0);
  EXPECT_EQ(e.types.at("tether_lock_wait_seconds_total"), "counter");
}

Task<void> failing_call(tether::CircuitBreaker& b) {
  try {
    co_await b.call([]() -> Task<int> { throw std::runtime_error("down"); });
  } catch (const std::runtime_error&) {
  }
}

// Breakers and semaphores export their state; the breaker's call counter moves with calls.
TEST(PrometheusTextTest, BreakerAndSemaphoreSeries) {
  tether::Runtime rt({.workers = 1, .name = "prom-cb"});
  observe::MetricsRegistry registry;
  tether::CircuitBreaker breaker({.name = "payments", .minimum_calls = 100});
  tether::sync::Semaphore sem(3);
  auto r1 = registry.add_circuit_breaker(breaker);
  auto r2 = registry.add_semaphore("db-conns", sem);
  for (int i = 0; i < 3; ++i) rt.block_on(failing_call(breaker));

  Exposition e = parse_ok(observe::prometheus_text(rt, registry));
  EXPECT_EQ(e.at(rt_key("tether_circuit_breaker_calls_total", "prom-cb", "breaker=\"payments\",outcome=\"failure\"")),
            3);
  EXPECT_EQ(e.at(rt_key("tether_circuit_breaker_state", "prom-cb", "breaker=\"payments\",state=\"closed\"")), 1);
  EXPECT_EQ(e.at(rt_key("tether_circuit_breaker_state", "prom-cb", "breaker=\"payments\",state=\"open\"")), 0);
  EXPECT_EQ(e.at(rt_key("tether_semaphore_available_permits", "prom-cb", "semaphore=\"db-conns\"")), 3);
}

int square(int v) { return v * v; }

Task<long> run_pipeline(observe::MetricsRegistry& registry, std::vector<observe::MetricsRegistry::Registration>& regs) {
  std::vector<int> items(100);
  for (int i = 0; i < 100; ++i) items[static_cast<std::size_t>(i)] = i;
  long sum = 0;
  auto p = tether::pipeline(items, {.name = "numbers", .capacity = 8}).stage(square, {.name = "square", .capacity = 8});
  regs.push_back(registry.add_pipeline("squares", p.monitor()));
  co_await std::move(p).sink([&sum](int v) { sum += v; }, {.name = "sum"});
  co_return sum;
}

// A registered pipeline exports every stage, and its item counters match what flowed through.
TEST(PrometheusTextTest, PipelineStagesAreExported) {
  tether::Runtime rt({.workers = 2, .name = "prom-pipe"});
  observe::MetricsRegistry registry;
  std::vector<observe::MetricsRegistry::Registration> regs;
  EXPECT_EQ(rt.block_on(run_pipeline(registry, regs)), 328350);
  Exposition e = parse_ok(observe::prometheus_text(rt, registry));
  EXPECT_EQ(e.at(rt_key("tether_pipeline_stage_items_in_total", "prom-pipe", "pipeline=\"squares\",stage=\"square\"")),
            100);
  EXPECT_EQ(e.at(rt_key("tether_pipeline_stage_items_out_total", "prom-pipe", "pipeline=\"squares\",stage=\"sum\"")),
            100);
  EXPECT_EQ(e.at(rt_key("tether_pipeline_stage_queue_depth", "prom-pipe", "pipeline=\"squares\",stage=\"sum\"")), 0);
  EXPECT_EQ(e.types.at("tether_pipeline_stage_busy_seconds_total"), "counter");
}

// Names with quotes, backslashes and newlines are escaped so the text still parses.
TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  observe::MetricsRegistry registry;
  auto [tx, rx] = tether::mpsc::channel<int>(1);
  auto reg = registry.add_channel("we\"ird\\name\nhere", tx.gauge());
  Exposition e = parse_ok(observe::prometheus_text(registry, "r\"t"));
  EXPECT_TRUE(e.has("tether_channel_capacity{runtime=\"r\\\"t\",channel=\"we\\\"ird\\\\name\\nhere\"}"));
}

// Registering, unregistering and scraping from several threads at once: no race (TSan), no
// entry read after its Registration is gone (ASan), and every scrape parses.
TEST(MetricsRegistryTest, ConcurrentRegistrationAndScrapes) {
  observe::MetricsRegistry registry;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const int rounds = static_cast<int>(tether::test::scaled(2000));
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < rounds; ++i) {
        auto [tx, rx] = tether::mpsc::channel<int>(8);
        tether::sync::Mutex<int> m(0);
        auto a = registry.add_channel("c" + std::to_string(t), tx.gauge());
        auto b = registry.add_mutex("m" + std::to_string(t), m);
        (void)tx.try_send(i);
      }
    });
  }
  std::thread scraper([&] {
    while (!stop.load()) {
      Exposition e = parse_exposition(observe::prometheus_text(registry, "hammer"));
      if (!e.ok) {
        ADD_FAILURE() << e.error;
        return;
      }
    }
  });
  for (auto& th : threads) th.join();
  stop.store(true);
  scraper.join();
  EXPECT_EQ(registry.size(), 0u);
}

// ---- The HTTP endpoint ----

Task<std::string> http_get(tether::io::SocketAddress addr, std::string request) {
  auto s = co_await tether::io::TcpStream::connect(addr, tether::Deadline::after(10s));
  co_await s.write_all(tether::io::ConstBuffer(request), tether::Deadline::after(10s));
  std::string response;
  char buf[4096];
  for (;;) {
    std::size_t n = co_await s.read(buf, tether::Deadline::after(10s));
    if (n == 0) break;
    response.append(buf, n);
  }
  co_return response;
}

struct Served {
  std::string ok, head, missing, bad_method, garbage, too_large, silent;
};

Task<Served> exercise_server(tether::Runtime& rt, observe::MetricsRegistry& registry) {
  auto server = observe::MetricsServer::bind(tether::io::SocketAddress::loopback_v4(0),
                                             {.read_timeout = 200ms, .max_request_bytes = 512});
  auto addr = server.local_address();
  auto serving = tether::spawn(server.run([&] { return observe::prometheus_text(rt, registry); }));
  Served out;
  out.ok = co_await http_get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  out.head = co_await http_get(addr, "HEAD /metrics HTTP/1.0\r\n\r\n");
  out.missing = co_await http_get(addr, "GET /other HTTP/1.1\r\n\r\n");
  out.bad_method = co_await http_get(addr, "POST /metrics HTTP/1.1\r\n\r\n");
  out.garbage = co_await http_get(addr, "hello\r\n\r\n");
  out.too_large = co_await http_get(addr, "GET /metrics HTTP/1.1\r\nX: " + std::string(520, 'a'));
  // A client that never sends its request is dropped after read_timeout: the read sees the end.
  out.silent = co_await http_get(addr, "");
  serving.abort();
  try {
    co_await serving;
  } catch (const tether::Cancelled&) {
  }
  co_return out;
}

std::string body_of(const std::string& response) {
  std::size_t p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

TEST(MetricsServerTest, ServesMetricsAndRefusesEverythingElse) {
  tether::Runtime rt({.workers = 2, .name = "prom-http"});
  observe::MetricsRegistry registry;
  auto [tx, rx] = tether::mpsc::channel<int>(16);
  auto reg = registry.add_channel("requests", tx.gauge());
  Served s = rt.block_on(exercise_server(rt, registry));

  EXPECT_EQ(s.ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << s.ok;
  EXPECT_NE(s.ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  Exposition e = parse_ok(body_of(s.ok));
  EXPECT_EQ(e.at(rt_key("tether_channel_capacity", "prom-http", "channel=\"requests\"")), 16);
  EXPECT_NE(s.ok.find("Content-Length: " + std::to_string(body_of(s.ok).size()) + "\r\n"), std::string::npos);

  EXPECT_EQ(s.head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(body_of(s.head), "");
  EXPECT_EQ(s.missing.rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(s.bad_method.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(s.garbage.rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(s.too_large.rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(s.silent, "");
}

}  // namespace
