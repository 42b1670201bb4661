// Actors on their own: tell / try_tell / ask, the lifecycle hooks, stop modes, backpressure, a
// stuck actor (ask times out; runtime shutdown still ends it), and a hammer from many threads.
#include "tether/actor/actor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include "test_support.hpp"
#include "tether/actor/actor_ref.hpp"
#include "tether/actor/error.hpp"
#include "tether/actor/reply.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/sync/notify.hpp"
#include "tether/testing/virtual_runtime.hpp"
#include "tether/time/sleep.hpp"

namespace {

using namespace std::chrono_literals;
using tether::Deadline;
using tether::StopMode;
using tether::Task;

struct Add {
  std::int64_t n = 0;
};
struct Get {
  tether::Reply<std::int64_t> reply;
};
struct Fail {};

// Counts; lifecycle calls are recorded in a shared log.
struct Counter {
  using Message = std::variant<Add, Get, Fail>;
  std::vector<std::string>* log = nullptr;
  std::int64_t total = 0;

  void handle(Add& m) { total += m.n; }
  void handle(Get& m) { m.reply.send(total); }
  void handle(Fail&) { throw std::runtime_error("asked to fail"); }
  void started() {
    if (log) log->push_back("started");
  }
  void stopping(StopMode mode) {
    if (log) log->push_back(mode == StopMode::kDrain ? "stopping drain" : "stopping discard");
  }
  void stopped() {
    if (log) log->push_back("stopped total=" + std::to_string(total));
  }
};

// Handlers that await: waits on a gate before counting each message.
struct Gated {
  struct Work {};
  struct Peek {
    tether::Reply<int> reply;
  };
  using Message = std::variant<Work, Peek>;
  tether::sync::Notify* gate = nullptr;
  std::atomic<int>* handled = nullptr;

  Task<void> handle(Work&) {
    co_await gate->notified();
    handled->fetch_add(1);
  }
  Task<void> handle(Peek& m) {
    m.reply.send(handled->load());
    co_return;
  }
};

static_assert(tether::ActorBehavior<Counter>);
static_assert(tether::ActorBehavior<Gated>);
static_assert(tether::detail::kSyncHandlers<Counter>);
static_assert(!tether::detail::kSyncHandlers<Gated>);
struct NotABehavior {
  using Message = std::variant<Add, Get>;
  void handle(Add&) {}  // Get is not handled
};
static_assert(!tether::ActorBehavior<NotABehavior>);
static_assert(std::is_copy_constructible_v<tether::ActorRef<Counter::Message>>);
static_assert(!std::is_copy_constructible_v<tether::ActorHandle<Counter::Message>>);
static_assert(!std::is_copy_constructible_v<tether::Reply<int>>);
static_assert(std::is_nothrow_move_constructible_v<tether::Reply<int>>);
static_assert(tether::AskRequest<Get>);
static_assert(!tether::AskRequest<Add>);
// ask() has no form without a deadline, and only requests (a `reply` member) can be asked.
template <class Ref, class Req>
concept AskableWithoutDeadline = requires(const Ref& r) {
  r.ask(Req{});
};
template <class Ref, class Req>
concept Askable = requires(const Ref& r) {
  r.ask(Req{}, Deadline::never());
};
using CounterRef = tether::ActorRef<Counter::Message>;
static_assert(!AskableWithoutDeadline<CounterRef, Get>);
static_assert(Askable<CounterRef, Get>);
static_assert(!Askable<CounterRef, Add>);
static_assert(
    std::is_same_v<decltype(std::declval<const CounterRef&>().ask(Get{}, Deadline::never())), Task<std::int64_t>>);

TEST(ActorTest, TellThenAskSeesEveryMessageInOrder) {
  tether::Runtime rt({.workers = 2});
  rt.block_on([]() -> Task<void> {
    std::vector<std::string> log;
    auto counter =
        tether::spawn_actor<Counter>({.name = "counter", .mailbox = 8}, [&log] { return Counter{.log = &log}; });
    for (int i = 1; i <= 100; ++i) {
      auto r = co_await counter.ref().tell(Add{i});
      EXPECT_TRUE(r.has_value());
    }
    std::int64_t total = co_await counter.ref().ask(Get{}, Deadline::after(10s));
    EXPECT_EQ(total, 5050);
    counter.stop(StopMode::kDrain);
    co_await counter.join();
    EXPECT_EQ(log, (std::vector<std::string>{"started", "stopping drain", "stopped total=5050"}));
  }());
}

// Property: a drain stop handles what was queued before it; a discard stop hands it to the
// dead-letter sink (with ActorStopped); after either, tell fails with the message handed back.
TEST(ActorTest, StopDrainsOrDiscardsTheQueueAsAsked) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    for (StopMode mode : {StopMode::kDrain, StopMode::kDiscard}) {
      tether::sync::Notify gate;
      std::atomic<int> handled{0};
      std::atomic<int> dead{0};
      auto actor = tether::spawn_actor<Gated>({.name = "gated",
                                               .mailbox = 8,
                                               .dead_letters =
                                                   [&dead](tether::DeadLetter& d) {
                                                     EXPECT_NE(d.message<Gated::Message>(), nullptr);
                                                     EXPECT_EQ(d.reason(), "actor stopped: gated");
                                                     dead.fetch_add(1);
                                                   }},
                                              [&] {
                                                return Gated{&gate, &handled};
                                              });
      for (int i = 0; i < 5; ++i) (void)actor.ref().try_tell(Gated::Work{});
      co_await tether::sleep(1ms);  // the actor now waits on the gate in the first message
      actor.stop(mode);
      auto refused = actor.ref().try_tell(Gated::Work{});
      EXPECT_TRUE(!refused && refused.error().is_closed());
      for (int i = 0; i < 5; ++i) {
        gate.notify_one();  // Notify stores one permit at most: let the actor take it first
        co_await tether::sleep(1ms);
      }
      co_await actor.join();
      if (mode == StopMode::kDrain) {
        EXPECT_EQ(handled.load(), 5);
        EXPECT_EQ(dead.load(), 0);
      } else {
        EXPECT_EQ(handled.load(), 1);
        EXPECT_EQ(dead.load(), 4);
      }
    }
  }());
}

// Property: a full mailbox holds the sender in tell() until the actor takes a message; try_tell
// reports Full meanwhile, with the message handed back.
TEST(ActorTest, FullMailboxHoldsTheSender) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    tether::sync::Notify gate;
    std::atomic<int> handled{0};
    auto actor = tether::spawn_actor<Gated>({.name = "slow", .mailbox = 2}, [&] { return Gated{&gate, &handled}; });
    std::atomic<int> sent{0};
    auto sender = tether::spawn([](tether::ActorRef<Gated::Message> ref, std::atomic<int>* sent) -> Task<void> {
      for (int i = 0; i < 6; ++i) {
        auto r = co_await ref.tell(Gated::Work{});
        EXPECT_TRUE(r.has_value());
        sent->fetch_add(1);
      }
    }(actor.ref(), &sent));
    co_await tether::sleep(10ms);  // virtual: every task is blocked by now
    // One message in the handler, two in the mailbox; the fourth tell waits.
    EXPECT_EQ(sent.load(), 3);
    auto full = actor.ref().try_tell(Gated::Work{});
    EXPECT_TRUE(!full.has_value() && full.error().is_full());
    gate.notify_one();  // one message done: room for one more
    co_await tether::sleep(10ms);
    EXPECT_EQ(sent.load(), 4);
    EXPECT_EQ(handled.load(), 1);
    for (int i = 0; i < 5; ++i) {
      gate.notify_one();
      co_await tether::sleep(1ms);
    }
    co_await sender;
    EXPECT_EQ(sent.load(), 6);
    EXPECT_EQ(handled.load(), 6);
    actor.stop(StopMode::kDrain);
    co_await actor.join();
  }());
}

// Property: ask on an actor stuck in a handler throws TimedOut at its deadline (virtual time), and
// Runtime::shutdown() still ends the stuck actor (its stopped() hook runs), cleanly and in time.
TEST(ActorTest, AskTimesOutOnAStuckActorWhichShutdownStillStops) {
  tether::testing::VirtualRuntime rt;
  tether::sync::Notify never;
  std::atomic<int> handled{0};
  std::vector<std::string> log;
  struct Stuck {
    using Message = std::variant<Gated::Work, Gated::Peek>;
    Gated inner;
    std::vector<std::string>* log;
    Task<void> handle(Gated::Work& w) { return inner.handle(w); }
    Task<void> handle(Gated::Peek& p) { return inner.handle(p); }
    void stopped() { log->push_back("stopped"); }
  };
  auto handle = rt.block_on([&]() -> Task<tether::ActorHandle<Stuck::Message>> {
    auto actor = tether::spawn_actor<Stuck>({.name = "stuck", .mailbox = 4}, [&] {
      return Stuck{Gated{&never, &handled}, &log};
    });
    (void)actor.ref().try_tell(Gated::Work{});  // never finishes
    auto t0 = tether::Clock::now();
    EXPECT_THROW(co_await actor.ref().ask(Gated::Peek{}, Deadline::after(250ms)), tether::TimedOut);
    EXPECT_EQ(tether::Clock::now() - t0, 250ms);
    co_return std::move(actor);
  }());
  EXPECT_TRUE(log.empty());
  auto report = rt.shutdown(1s);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(log, std::vector<std::string>{"stopped"});
  EXPECT_EQ(handled.load(), 0);
}

// Property: ask reports an actor that drops the reply (its handler threw) as NoReply, a stopped
// actor as ActorStopped; the failure of an unsupervised actor ends it and reaches join().
TEST(ActorTest, DroppedReplyAndStoppedActorAreNamedErrors) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    struct Dropper {
      using Message = Get;
      void handle(Get&) { throw std::runtime_error("no answer for you"); }
    };
    auto actor = tether::spawn_actor<Dropper>({.name = "dropper", .mailbox = 4});
    try {
      (void)co_await actor.ref().ask(Get{}, Deadline::after(1s));
      ADD_FAILURE() << "ask should have thrown";
    } catch (const tether::NoReply& e) {
      EXPECT_STREQ(e.what(), "actor dropped the reply: dropper");
    }
    EXPECT_THROW(co_await actor.join(), std::runtime_error);
    EXPECT_THROW((void)co_await actor.ref().ask(Get{}, Deadline::after(1s)), tether::ActorStopped);
    EXPECT_TRUE(actor.ref().is_closed());
  }());
}

TEST(ActorTest, ZeroMailboxIsRefused) {
  tether::testing::VirtualRuntime rt;
  rt.block_on([]() -> Task<void> {
    EXPECT_THROW((void)tether::spawn_actor<Counter>({.name = "c"}), tether::Error);
    co_return;
  }());
}

// Property: producer tasks spread over 4 worker threads, telling and asking at once, get every
// message handled exactly once, and the asks see a count that only grows.
TEST(ActorTest, HammeredFromSeveralThreadsLosesNothing) {
  tether::Runtime rt({.workers = 4});
  const std::int64_t per = static_cast<std::int64_t>(tether::test::scaled(20000));
  constexpr int kTasks = 8;
  rt.block_on([per]() -> Task<void> {
    auto counter = tether::spawn_actor<Counter>({.name = "hammered", .mailbox = 64});
    std::vector<tether::JoinHandle<void>> producers;
    for (int t = 0; t < kTasks; ++t) {
      producers.push_back(tether::spawn([](tether::ActorRef<Counter::Message> ref, std::int64_t per) -> Task<void> {
        std::int64_t last = 0;
        for (std::int64_t i = 0; i < per; ++i) {
          if (i % 2 == 0) {
            auto r = co_await ref.tell(Add{1});
            EXPECT_TRUE(r.has_value());
          } else {
            // try_tell with the message handed back on Full: nothing is lost either way.
            Counter::Message m = Add{1};
            for (;;) {
              auto r = ref.try_tell(std::move(m));
              if (r) break;
              EXPECT_TRUE(r.error().is_full());
              m = std::move(r.error()).into_value();
              co_await tether::yield_now();
            }
          }
          if (i % 1000 == 0) {
            std::int64_t now = co_await ref.ask(Get{}, Deadline::after(60s));
            EXPECT_GE(now, last);
            last = now;
          }
        }
      }(counter.ref(), per)));
    }
    for (auto& p : producers) co_await p;
    std::int64_t total = co_await counter.ref().ask(Get{}, Deadline::after(60s));
    EXPECT_EQ(total, per * kTasks);
    counter.stop(StopMode::kDrain);
    co_await counter.join();
  }());
}

// Property: plain threads outside the runtime, using try_tell (retrying on Full with the message
// handed back), get every message handled exactly once; each wake of the actor comes from a
// foreign thread. (Regression: a worker counted twice as searching once made such wakes get lost.)
TEST(ActorTest, HammeredFromPlainThreadsLosesNothing) {
  tether::Runtime rt({.workers = 4});
  const std::int64_t per = static_cast<std::int64_t>(tether::test::scaled(20000));
  constexpr int kThreads = 3;
  rt.block_on([per]() -> Task<void> {
    auto counter = tether::spawn_actor<Counter>({.name = "hammered", .mailbox = 64});
    std::atomic<int> finished{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([ref = counter.ref(), per, &finished] {
        for (std::int64_t i = 0; i < per; ++i) {
          Counter::Message m = Add{1};
          for (;;) {
            auto r = ref.try_tell(std::move(m));
            if (r) break;
            EXPECT_TRUE(r.error().is_full());
            m = std::move(r.error()).into_value();
            std::this_thread::yield();
          }
        }
        finished.fetch_add(1);
      });
    }
    while (finished.load() < kThreads) co_await tether::sleep(1ms);  // wait for the observed state
    for (auto& t : threads) t.join();                                // already done: does not block
    std::int64_t total = co_await counter.ref().ask(Get{}, Deadline::after(60s));
    EXPECT_EQ(total, per * kThreads);
    counter.stop(StopMode::kDrain);
    co_await counter.join();
  }());
}

}  // namespace
