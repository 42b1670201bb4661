// Supervision: each restart strategy restarts the right siblings with fresh state; restart
// intensity escalates (to a parent supervisor, or to the owner); the mailbox survives a restart,
// so every message is handled or dead-lettered (counted); restarts and escalations are logged at
// error level with the names; a stuck supervised actor still ends at runtime shutdown.
#include "tether/actor/supervisor.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>

#include "test_support.hpp"
#include "tether/actor/error.hpp"
#include "tether/actor/reply.hpp"
#include "tether/core/runtime.hpp"
#include "tether/sync/notify.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/clock.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Deadline;
using tether::RestartStrategy;
using tether::StopMode;
using tether::Task;

// True if `cap` holds an error-level line containing `needle`.
bool logged_error(const tether::test::LogCapture& cap, const std::string& needle) {
  for (const auto& line : cap.lines()) {
    if (line.rfind("error ", 0) == 0 && line.find(needle) != std::string::npos) return true;
  }
  return false;
}

struct Add {
  std::int64_t n = 0;
};
struct Crash {};
struct Total {
  tether::Reply<std::int64_t> reply;
};

// Counts its lives in *starts; sums Adds (fresh at every life); Crash throws; an Add whose n is
// a multiple of `fail_every` throws too.
struct Probe {
  using Message = std::variant<Add, Crash, Total>;
  std::atomic<int>* starts = nullptr;
  std::atomic<std::int64_t>* handled = nullptr;
  std::int64_t fail_every = 0;
  std::int64_t total = 0;

  void started() { starts->fetch_add(1); }
  void handle(Add& m) {
    if (fail_every && m.n % fail_every == 0) throw std::runtime_error("bad add " + std::to_string(m.n));
    total += m.n;
    if (handled) handled->fetch_add(1);
  }
  void handle(Crash&) { throw std::runtime_error("boom"); }
  void handle(Total& m) { m.reply.send(total); }
};

struct Three {
  std::array<std::atomic<int>, 3> starts{};
  std::array<tether::ActorRef<Probe::Message>, 3> refs;
};

// Builds a supervisor with children a, b, c and gives each 10 before b crashes once.
Task<std::array<int, 3>> crash_b_under(RestartStrategy strategy, std::array<std::int64_t, 3>* totals) {
  std::array<std::atomic<int>, 3> starts{};
  tether::Supervisor sup({.name = "trio", .strategy = strategy, .intensity = {.max_restarts = 3, .window = 1s}});
  auto a = sup.add<Probe>({.name = "a", .mailbox = 8}, [&] { return Probe{.starts = &starts[0]}; });
  auto b = sup.add<Probe>({.name = "b", .mailbox = 8}, [&] { return Probe{.starts = &starts[1]}; });
  auto c = sup.add<Probe>({.name = "c", .mailbox = 8}, [&] { return Probe{.starts = &starts[2]}; });
  auto running = sup.start();
  for (auto* r : {&a, &b, &c}) {
    (void)co_await r->tell(Add{10});
    EXPECT_EQ(co_await r->ask(Total{}, Deadline::after(5s)), 10);  // every first life is running
  }
  (void)co_await b.tell(Crash{});
  // Asks queue behind the crash, so they are answered by the lives after the restart.
  (*totals)[0] = co_await a.ask(Total{}, Deadline::after(5s));
  (*totals)[1] = co_await b.ask(Total{}, Deadline::after(5s));
  (*totals)[2] = co_await c.ask(Total{}, Deadline::after(5s));
  running.stop(StopMode::kDrain);
  co_await running.join();
  co_return std::array<int, 3>{starts[0].load(), starts[1].load(), starts[2].load()};
}

TEST(SupervisorTest, OneForOneRestartsOnlyTheFailedChild) {
  tether::testing::VirtualRuntime rt;
  std::array<std::int64_t, 3> totals{};
  auto starts = rt.block_on(crash_b_under(RestartStrategy::kOneForOne, &totals));
  EXPECT_EQ(starts, (std::array<int, 3>{1, 2, 1}));
  EXPECT_EQ(totals, (std::array<std::int64_t, 3>{10, 0, 10}));  // b starts afresh
}

TEST(SupervisorTest, OneForAllRestartsEveryChild) {
  tether::testing::VirtualRuntime rt;
  std::array<std::int64_t, 3> totals{};
  auto starts = rt.block_on(crash_b_under(RestartStrategy::kOneForAll, &totals));
  EXPECT_EQ(starts, (std::array<int, 3>{2, 2, 2}));
  EXPECT_EQ(totals[1], 0);
}

TEST(SupervisorTest, RestForOneRestartsTheFailedChildAndLaterOnes) {
  tether::testing::VirtualRuntime rt;
  std::array<std::int64_t, 3> totals{};
  auto starts = rt.block_on(crash_b_under(RestartStrategy::kRestForOne, &totals));
  EXPECT_EQ(starts, (std::array<int, 3>{1, 2, 2}));
  EXPECT_EQ(totals[0], 10);
  EXPECT_EQ(totals[1], 0);
}

// Property: the restarts and the escalation are logged at error level with the supervisor's and the
// child's names, and the owner's join() gets SupervisorFailed once the intensity is exceeded.
TEST(SupervisorTest, IntensityExceededEscalatesToTheOwner) {
  tether::test::LogCapture cap;
  tether::testing::VirtualRuntime rt({.runtime = {.logger = cap.logger}});
  rt.block_on([]() -> Task<void> {
    std::atomic<int> starts{0};
    tether::Supervisor sup({.name = "fragile", .intensity = {.max_restarts = 2, .window = 1s}});
    auto x = sup.add<Probe>({.name = "x", .mailbox = 8}, [&] { return Probe{.starts = &starts}; });
    auto running = sup.start();
    for (int i = 0; i < 3; ++i) (void)co_await x.tell(Crash{});
    try {
      co_await running.join();
      ADD_FAILURE() << "the supervisor should have escalated";
    } catch (const tether::SupervisorFailed& e) {
      EXPECT_NE(std::string(e.what()).find("supervisor 'fragile' gave up: child 'x' failed (boom)"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(starts.load(), 3);  // the first life and two restarts
  }());
  EXPECT_TRUE(
      logged_error(cap, "supervisor 'fragile': child 'x' failed: boom; restarting 'x' (one-for-one, restart 1 of 2"));
  EXPECT_TRUE(
      logged_error(cap, "supervisor 'fragile': child 'x' failed: boom; restarting 'x' (one-for-one, restart 2 of 2"));
  EXPECT_TRUE(logged_error(cap, "supervisor 'fragile' gave up: child 'x' failed (boom) after 2 restarts"));
}

// Property: the window is measured on the runtime's clock: failures spaced wider than the window
// never add up, however many there are.
TEST(SupervisorTest, FailuresOutsideTheWindowDoNotAddUp) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::atomic<int> starts{0};
    tether::Supervisor sup({.name = "patient", .intensity = {.max_restarts = 1, .window = 1s}});
    auto x = sup.add<Probe>({.name = "x", .mailbox = 8}, [&] { return Probe{.starts = &starts}; });
    auto running = sup.start();
    for (int i = 0; i < 5; ++i) {
      (void)co_await x.tell(Crash{});
      co_await tether::sleep(1001ms);
    }
    EXPECT_EQ(co_await x.ask(Total{}, Deadline::after(1s)), 0);
    EXPECT_EQ(starts.load(), 6);
    running.stop(StopMode::kDrain);
    co_await running.join();
  }());
}

// Property: a child supervisor that gives up is a failing child of its parent, which restarts it
// (and so its children, with fresh state) under the parent's own strategy.
TEST(SupervisorTest, EscalationReachesTheParentSupervisor) {
  tether::test::LogCapture cap;
  tether::testing::VirtualRuntime rt({.runtime = {.logger = cap.logger}});
  rt.block_on([]() -> Task<void> {
    std::atomic<int> inner_starts{0};
    std::atomic<int> sibling_starts{0};
    tether::Supervisor inner({.name = "inner", .intensity = {.max_restarts = 0, .window = 1s}});
    auto x = inner.add<Probe>({.name = "x", .mailbox = 8}, [&] { return Probe{.starts = &inner_starts}; });
    tether::Supervisor outer({.name = "outer", .strategy = RestartStrategy::kOneForOne});
    outer.add(std::move(inner));
    auto y = outer.add<Probe>({.name = "y", .mailbox = 8}, [&] { return Probe{.starts = &sibling_starts}; });
    auto running = outer.start();
    (void)co_await x.tell(Add{5});
    (void)co_await x.tell(Crash{});
    EXPECT_EQ(co_await x.ask(Total{}, Deadline::after(1s)), 0);  // a fresh x, in a fresh inner
    EXPECT_EQ(inner_starts.load(), 2);
    EXPECT_EQ(co_await y.ask(Total{}, Deadline::after(1s)), 0);
    EXPECT_EQ(sibling_starts.load(), 1);  // one-for-one: y was left alone
    running.stop(StopMode::kDrain);
    co_await running.join();
  }());
  EXPECT_TRUE(logged_error(cap, "supervisor 'inner' gave up: child 'x' failed (boom) after 0 restarts"));
  EXPECT_TRUE(logged_error(cap, "supervisor 'outer': child 'inner' failed: supervisor 'inner' gave up"));
}

// Property: across many restarts (one-for-one, under load on 2 workers) no message is lost: every
// message sent is either handled or handed to the dead-letter sink with its exception, and the
// counts add up exactly.
TEST(SupervisorTest, NoMessageLostAcrossRestarts) {
  tether::test::LogCapture cap;  // hundreds of restarts: keep them out of the test output
  tether::Runtime rt({.workers = 2, .logger = cap.logger});
  const std::int64_t n = static_cast<std::int64_t>(tether::test::scaled(20000));
  rt.block_on([n]() -> Task<void> {
    std::atomic<int> starts{0};
    std::atomic<std::int64_t> handled{0};
    std::atomic<std::int64_t> dead{0};
    std::atomic<std::int64_t> dead_sum{0};
    tether::Supervisor sup({.name = "lossless",
                            .intensity = {.max_restarts = 1'000'000, .window = 1s},
                            .dead_letters = [&](tether::DeadLetter& d) {
                              auto* m = d.message<Probe::Message>();
                              EXPECT_NE(m, nullptr);
                              if (auto* add = m ? std::get_if<Add>(m) : nullptr) dead_sum += add->n;
                              EXPECT_EQ(d.actor(), "worker");
                              EXPECT_EQ(d.reason(), "bad add " + std::to_string(std::get<Add>(*m).n));
                              dead.fetch_add(1);
                            }});
    auto w = sup.add<Probe>({.name = "worker", .mailbox = 16},
                            [&] { return Probe{.starts = &starts, .handled = &handled, .fail_every = 97}; });
    auto running = sup.start();
    for (std::int64_t i = 1; i <= n; ++i) {
      auto r = co_await w.tell(Add{i});
      EXPECT_TRUE(r.has_value());
    }
    running.stop(StopMode::kDrain);
    co_await running.join();
    EXPECT_EQ(dead.load(), n / 97);
    EXPECT_EQ(handled.load() + dead.load(), n);
    EXPECT_EQ(starts.load(), 1 + n / 97);
    std::int64_t expect_dead_sum = 0;
    for (std::int64_t k = 97; k <= n; k += 97) expect_dead_sum += k;
    EXPECT_EQ(dead_sum.load(), expect_dead_sum);
  }());
}

// Property: a supervised actor stuck in a handler does not block Runtime::shutdown(): the tree is
// cancelled, the stuck life ends (the interrupted message goes to the dead-letter sink with
// Cancelled), and the report is clean.
TEST(SupervisorTest, StuckChildEndsAtRuntimeShutdown) {
  tether::Runtime rt({.workers = 2});
  tether::sync::Notify never;
  std::atomic<int> dead{0};
  struct Stuck {
    using Message = std::variant<Add, Total>;
    tether::sync::Notify* never;
    Task<void> handle(Add&) { co_await never->notified(); }
    Task<void> handle(Total& m) {
      m.reply.send(0);
      co_return;
    }
  };
  auto handle = rt.block_on([&]() -> Task<tether::SupervisorHandle> {
    tether::Supervisor sup({.name = "holder", .dead_letters = [&](tether::DeadLetter& d) {
                              EXPECT_EQ(d.reason(), "cancelled");
                              dead.fetch_add(1);
                            }});
    auto s = sup.add<Stuck>({.name = "stuck", .mailbox = 4}, [&] { return Stuck{&never}; });
    auto running = sup.start();
    (void)co_await s.tell(Add{1});
    EXPECT_THROW(co_await s.ask(Total{}, Deadline::after(20ms)), tether::TimedOut);
    co_return std::move(running);
  }());
  auto report = rt.shutdown(5s);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(dead.load(), 1);
}

TEST(SupervisorTest, AddAfterStartIsRefused) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    std::atomic<int> starts{0};
    tether::Supervisor sup({.name = "s"});
    auto a = sup.add<Probe>({.name = "a", .mailbox = 1}, [&] { return Probe{.starts = &starts}; });
    auto running = sup.start();
    EXPECT_THROW((void)sup.add<Probe>({.name = "b", .mailbox = 1}, [&] { return Probe{.starts = &starts}; }),
                 tether::Error);
    running.stop(StopMode::kDiscard);
    co_await running.join();
  }());
}

}  // namespace
