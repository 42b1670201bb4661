// The io_uring backend itself: that it is the one running where the kernel allows it (so the
// parameterised I/O suite really exercises it), and the multishot-poll cases epoll does not have.
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "tether/core/detail/driver.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/io/net/unix_stream.hpp"
#include "tether/time/deadline.hpp"

namespace {

using tether::IoBackend;
using tether::Task;
namespace io = tether::io;

// Skips the test where the kernel (or a sandbox) refuses io_uring; the fall-back is tested below.
#define SKIP_WITHOUT_IO_URING(rt)               \
  if ((rt).io_backend() != IoBackend::kIoUring) \
  GTEST_SKIP() << "io_uring refused here, "     \
                  "the runtime runs epoll"

// Property: a runtime that asks for io_uring gets it, and a thousand round trips between two tasks
// on different workers all arrive, in order.
TEST(IoUringTest, CarriesTrafficBetweenWorkers) {
  tether::Runtime rt({.workers = 2, .io_backend = IoBackend::kIoUring});
  SKIP_WITHOUT_IO_URING(rt);
  rt.block_on([]() -> Task<void> {
    auto [a, b] = io::UnixStream::pair();
    auto echo = tether::spawn([](io::UnixStream s) -> Task<void> {
      char c;
      while (co_await s.read(io::MutableBuffer(&c, 1)) == 1) co_await s.write_all(io::ConstBuffer(&c, 1));
    }(std::move(b)));
    for (int i = 0; i < 1000; ++i) {
      char out = static_cast<char>('a' + i % 26);
      co_await a.write_all(io::ConstBuffer(&out, 1));
      char in = 0;
      co_await a.read_exact(io::MutableBuffer(&in, 1));
      if (in != out) {
        ADD_FAILURE() << "round trip " << i << ": sent " << out << ", got " << in;
        break;
      }
    }
    a.shutdown();
    co_await echo;
  }());
}

// Property: io_uring ends a thread's poll requests when that thread exits; a registration made on
// a thread that has since exited is re-armed and still delivers readiness (registration.cpp step 7).
TEST(IoUringTest, RegistrationOutlivesTheThreadThatMadeIt) {
  tether::Runtime rt({.flavor = tether::Flavor::kCurrentThread, .io_backend = IoBackend::kIoUring});
  SKIP_WITHOUT_IO_URING(rt);
  std::optional<std::pair<io::UnixStream, io::UnixStream>> ends;
  std::thread([&] {
    ends.emplace(
        rt.block_on([]() -> Task<std::pair<io::UnixStream, io::UnixStream>> { co_return io::UnixStream::pair(); }()));
  }).join();
  rt.block_on([](io::UnixStream& a, io::UnixStream& b) -> Task<void> {
    // The reader waits first, so only a readiness event can wake it.
    auto reader = tether::spawn([](io::UnixStream* b) -> Task<char> {
      char c = 0;
      co_await b->read_exact(io::MutableBuffer(&c, 1), tether::Deadline::after(std::chrono::seconds(30)));
      co_return c;
    }(&b));
    co_await tether::yield_now();
    co_await a.write_all(io::ConstBuffer("z", 1));
    EXPECT_EQ(co_await reader, 'z');
  }(ends->first, ends->second));
}

// Remembers the generation of the registration whose poll the driver reported ended.
class PollEndRecorder final : public tether::detail::EventSource {
 public:
  void on_events(std::uint32_t) noexcept override {}
  void on_poll_ended(std::uint32_t gen) noexcept override { ended_gen = static_cast<int>(gen); }
  int ended_gen = -1;  // Access: only the thread waiting in the driver (wait() or wait_lane())
};

// Runs `wait` (a driver wait bounded at 20 s) and says whether something ended it early: a
// wake-up ends it in microseconds, and the bound makes a lost one fail the test instead of hanging.
template <class Wait>
bool ended_early(Wait&& wait) {
  auto start = std::chrono::steady_clock::now();
  wait(20'000);
  return std::chrono::steady_clock::now() - start < std::chrono::seconds(10);
}

// Property: a poll lives on the lane of the thread that armed it, so a worker that does not hold
// the driver lock, sleeping in its own lane (driver.hpp), gets its own registrations' events and
// no other lane sees them; remove() from another thread ends that poll; wake_lane() ends a sleep
// in the lane, also when sent before the sleep begins. One thread plays both lanes' owners: a
// write's wake-up runs as the arming thread's task work on its way out of the write, so the
// completion is posted before the next line looks for it.
TEST(IoUringTest, APollLivesOnTheLaneOfTheThreadThatArmedIt) {
  using namespace std::chrono_literals;
  PollEndRecorder source;  // declared first: outlives the driver, which may still deliver to it
  tether::detail::Driver driver(IoBackend::kIoUring, 2);
  if (driver.backend() != IoBackend::kIoUring) GTEST_SKIP() << "io_uring refused here: " << driver.refusal();
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  constexpr std::uint32_t kGen = 3;
  const auto give_up = std::chrono::steady_clock::now() + 10s;

  driver.bind_thread(1);
  ASSERT_EQ(driver.add(fds[0], &source, kGen), 0);  // reports the socket writable at once
  ASSERT_EQ(::write(fds[1], "x", 1), 1);            // and then readable
  driver.bind_thread(0);
  EXPECT_EQ(driver.wait_lane(0), 0) << "lane 0 reaped events of a poll armed on lane 1";
  driver.bind_thread(1);
  int dispatched = 0;
  while (dispatched < 2 && std::chrono::steady_clock::now() < give_up) dispatched += driver.wait_lane(100);
  EXPECT_EQ(dispatched, 2) << "lane 1 did not deliver the events of the poll armed on it";

  std::thread([&] { driver.remove(fds[0], &source, kGen); }).join();
  ::close(fds[0]);
  while (source.ended_gen < 0 && std::chrono::steady_clock::now() < give_up) driver.wait_lane(100);
  EXPECT_EQ(source.ended_gen, static_cast<int>(kGen)) << "remove() from another thread left the poll armed";

  auto woken_sleep = [&driver] { return ended_early([&driver](int ms) { driver.wait_lane(ms); }); };
  driver.wake_lane(1);
  EXPECT_TRUE(woken_sleep()) << "a wake-up posted before the sleep";
  std::thread waker([&] {
    std::this_thread::sleep_for(20ms);  // most likely during the sleep below; before it also works
    driver.wake_lane(1);
  });
  EXPECT_TRUE(woken_sleep()) << "a wake-up during the sleep";
  waker.join();
  driver.unbind_thread();
  ::close(fds[1]);
}

// Property: unpark() ends the wait() of the thread holding the driver, whichever lane that thread
// sleeps in, and an unpark() that finds nobody waiting makes the next wait() return at once
// (driver.cpp, wait_ring()'s protocol).
TEST(IoUringTest, UnparkEndsTheDriverWaitInAnyLane) {
  using namespace std::chrono_literals;
  tether::detail::Driver driver(IoBackend::kIoUring, 2);
  if (driver.backend() != IoBackend::kIoUring) GTEST_SKIP() << "io_uring refused here: " << driver.refusal();
  auto unparked_wait = [&driver] { return ended_early([&driver](int ms) { driver.wait(ms); }); };
  driver.unpark();
  EXPECT_TRUE(unparked_wait()) << "unbound thread (lane 0), unpark before the wait";
  for (unsigned lane : {0u, 1u}) {
    std::atomic<bool> first_wait_done{false};
    std::thread waiter([&] {
      driver.bind_thread(lane);
      driver.unpark();
      EXPECT_TRUE(unparked_wait()) << "lane " << lane << ", unpark before the wait";
      first_wait_done.store(true);
      EXPECT_TRUE(unparked_wait()) << "lane " << lane << ", unpark during the wait (or just before it)";
      driver.unbind_thread();
    });
    while (!first_wait_done.load()) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);  // most likely during the second wait; before it also works
    driver.unpark();
    waiter.join();
  }
}

// Property: a worker blocked inside a task does not hold up the events of the connections it
// registered: the other worker, watching, reaps that worker's lane and runs the reader. The root
// task registers a socket pair on its worker's lane, starts a reader on the far end, writes a
// byte, then blocks its worker (a plain condvar wait) until the reader has the byte. Only the
// other worker can deliver it; without that, the wait gives up after 10 s and the test fails.
TEST(IoUringTest, BlockedWorkerDoesNotStrandItsRegistrations) {
  tether::Runtime rt({.workers = 2, .io_backend = IoBackend::kIoUring});
  SKIP_WITHOUT_IO_URING(rt);
  struct Meeting {
    std::mutex mu;
    std::condition_variable cv;
    bool reader_waiting = false;  // Access: under mu
    bool reader_done = false;     // Access: under mu
  } meeting;
  bool delivered = rt.block_on([](Meeting* m) -> Task<bool> {
    auto [a, b] = io::UnixStream::pair();
    auto reader = tether::spawn([](io::UnixStream s, Meeting* m) -> Task<char> {
      {
        std::lock_guard g(m->mu);
        m->reader_waiting = true;
      }
      char c = 0;
      co_await s.read_exact(io::MutableBuffer(&c, 1), tether::Deadline::after(std::chrono::seconds(30)));
      {
        std::lock_guard g(m->mu);
        m->reader_done = true;
      }
      m->cv.notify_all();
      co_return c;
    }(std::move(b), m));
    for (;;) {
      co_await tether::yield_now();
      std::lock_guard g(m->mu);
      if (m->reader_waiting) break;
    }
    co_await a.write_all(io::ConstBuffer("q", 1));
    bool done;
    {
      std::unique_lock g(m->mu);  // blocks this worker on purpose
      done = m->cv.wait_for(g, std::chrono::seconds(10), [m] { return m->reader_done; });
    }
    char got = co_await reader;
    co_return done&& got == 'q';
  }(&meeting));
  EXPECT_TRUE(delivered) << "the reader's byte waited for the blocked worker";
}

// Pins the calling thread to the CPU it is on, for the guard's lifetime; threads it starts meanwhile
// inherit the pin.
class PinToThisCpu {
 public:
  PinToThisCpu() {
    int cpu = ::sched_getcpu();
    if (cpu < 0 || ::sched_getaffinity(0, sizeof saved_, &saved_) != 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pinned_ = ::sched_setaffinity(0, sizeof one, &one) == 0;
  }
  ~PinToThisCpu() {
    if (pinned_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }
  PinToThisCpu(const PinToThisCpu&) = delete;
  PinToThisCpu& operator=(const PinToThisCpu&) = delete;
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t saved_;
  bool pinned_ = false;
};

// Property: removing a registration ends its poll, and closing the fd then releases the file (the
// peer sees end of stream), even when a readiness event for it is still queued as task work of
// the thread that armed the poll. The kernel runs poll wake-ups as task work of the arming thread,
// and a queued one owns the request: IORING_OP_POLL_REMOVE then fails with -EALREADY and leaves
// the poll armed, holding the file open (driver.cpp, Driver::remove()).
//
// Arranged without timing luck: the arming thread shares this thread's only CPU and runs as
// SCHED_BATCH, whose wake-ups never preempt, so from the write that queues its task work until
// this thread blocks in Driver::wait(), it cannot run that task work. (Only a scheduler tick
// landing in those microseconds could let it; that would hide a broken remove(), never fail a
// working one.)
TEST(IoUringTest, RemoveEndsAPollWhoseWakeUpIsStillQueued) {
  using namespace std::chrono_literals;
  PollEndRecorder source;  // declared first: outlives the driver, which may still deliver to it
  tether::detail::Driver driver(IoBackend::kIoUring);
  if (driver.backend() != IoBackend::kIoUring) GTEST_SKIP() << "io_uring refused here: " << driver.refusal();
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  const int watched = fds[0];
  const int peer = fds[1];
  constexpr std::uint32_t kGen = 7;

  PinToThisCpu pin;
  ASSERT_TRUE(pin.pinned());
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false;
  bool finish = false;
  int batch_rc = -1;
  int add_rc = -1;
  std::thread armer([&] {
    sched_param no_priority{};
    int policy = ::sched_setscheduler(0, SCHED_BATCH, &no_priority);
    // Arming runs the initial readiness event's task work on the way out of the syscall, so
    // nothing is queued for this thread when it reports.
    int rc = driver.add(watched, &source, kGen);
    std::unique_lock g(mu);
    batch_rc = policy;
    add_rc = rc;
    armed = true;
    cv.notify_all();
    cv.wait(g, [&] { return finish; });
  });
  auto release_armer = [&] {
    {
      std::lock_guard g(mu);
      finish = true;
    }
    cv.notify_all();
    armer.join();
  };
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return armed; });
  }
  if (batch_rc != 0 || add_rc != 0) {
    release_armer();
    ::close(watched);
    ::close(peer);
    FAIL() << "sched_setscheduler(SCHED_BATCH): " << batch_rc << ", Driver::add: " << add_rc;
  }

  // The wake-up this write causes is queued for the armer, which cannot run before this thread
  // blocks; remove() and close() come first.
  EXPECT_EQ(::write(peer, "x", 1), 1);
  driver.remove(watched, &source, kGen);
  ::close(watched);

  // Blocking here lets the armer run its task work, which must end the poll.
  auto give_up = std::chrono::steady_clock::now() + 5s;
  while (source.ended_gen < 0 && std::chrono::steady_clock::now() < give_up) driver.wait(100);
  EXPECT_EQ(source.ended_gen, static_cast<int>(kGen)) << "the removed poll is still armed";

  // With the poll gone, so is the last reference to the file: the peer sees the hang-up.
  pollfd hangup{peer, POLLIN, 0};
  EXPECT_EQ(::poll(&hangup, 1, source.ended_gen < 0 ? 0 : 5000), 1);
  EXPECT_TRUE(hangup.revents & POLLHUP) << "the closed end was never released";
  release_armer();
  ::close(peer);
}

}  // namespace
