// The multi-threaded work-stealing scheduler.
//
// Reading map:
//   LocalQueues  a worker's two bounded queues (work_deque.hpp): tasks it spawned or woke, served
//                newest first; tasks waiting their turn, served oldest first. Others steal the oldest half
//   Inject       the global queue, for tasks scheduled from outside a worker and queue overflow
//   Idle         who is parked and who is searching; decides whom to wake (after Tokio's idle.rs)
//   Parker       how one worker sleeps: in the driver (fires timers), or on a condvar (epoll) or in
//                its own lane of the driver (io_uring)
//   Worker::run  the loop: LIFO slot, local queue, global queue, steal, park
//
// No lost wake-ups (the rule every path below keeps): a producer publishes a task, then (seq_cst)
// reads Idle's state; a worker going to sleep first records itself as parked (seq_cst), then looks
// at every queue once more. One of the two sees the other.
#include <sys/epoll.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "counters.hpp"
#include "multi_thread.hpp"
#include "tether/core/detail/driver.hpp"
#include "tether/core/detail/join_cell.hpp"
#include "tether/core/detail/work_deque.hpp"

namespace tether::detail {

using LocalQueue = WorkDeque<TaskHeader>;

// Where a worker queues a task (MultiThreadCore::push_local):
//   kSoon    spawned or woken by a task this worker ran (displaced from the LIFO slot, or stolen
//            from another worker's such queue): served newest first, so a fan-out unfolds
//            depth-first (work_deque.hpp);
//   kInTurn  yielded, woken by an I/O or timer poll, moved out of the LIFO slot for fairness, or
//            taken from the global queue: served oldest first, after the kSoon queue, and one of
//            them every global_queue_interval tasks, so none waits behind a stream of newer work.
// Both are stolen from their old end; a thief tries kInTurn first (those have waited longest).
// For park()'s watcher: a worker's push counters, read at the start of a nap.
struct QueueMarks {
  std::uint64_t soon = 0;
  std::uint64_t in_turn = 0;
};

struct LocalQueues {
  LocalQueue soon;
  LocalQueue in_turn;
  std::size_t len() const noexcept { return soon.len() + in_turn.len(); }

  QueueMarks marks() const noexcept { return {soon.pushed(), in_turn.pushed()}; }
  // Whether the oldest task of either queue was already queued at `m` (it has waited since).
  bool waited_since(const QueueMarks& m) const noexcept {
    return soon.front_pushed_before(m.soon) || in_turn.front_pushed_before(m.in_turn);
  }
};

// ---------------------------------------------------------------------------------------------
// Inject: the global queue; an intrusive list under a mutex, with an atomic length for cheap
// emptiness checks.
// ---------------------------------------------------------------------------------------------
class Inject {
 public:
  void push(TaskHeader* t) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    push_locked(t);
  }
  void push_batch(TaskHeader** ts, std::size_t n) noexcept {
    std::lock_guard<std::mutex> g(mu_);
    for (std::size_t i = 0; i < n; ++i) push_locked(ts[i]);
  }
  std::size_t pop_batch(TaskHeader** out, std::size_t max) noexcept {
    if (len_.load(std::memory_order_acquire) == 0) return 0;  // acquire: pairs with push's release
    std::lock_guard<std::mutex> g(mu_);
    std::size_t n = 0;
    while (head_ && n < max) {
      TaskHeader* t = head_;
      head_ = t->next_in_queue;
      t->next_in_queue = nullptr;
      out[n++] = t;
    }
    if (!head_) tail_ = nullptr;
    len_.fetch_sub(n, std::memory_order_release);
    return n;
  }
  std::size_t len() const noexcept { return len_.load(std::memory_order_acquire); }
  void clear() noexcept {
    std::lock_guard<std::mutex> g(mu_);
    head_ = tail_ = nullptr;
    len_.store(0, std::memory_order_relaxed);
  }

 private:
  void push_locked(TaskHeader* t) noexcept {
    t->next_in_queue = nullptr;
    if (tail_) {
      tail_->next_in_queue = t;
    } else {
      head_ = t;
    }
    tail_ = t;
    len_.fetch_add(1, std::memory_order_release);
  }
  std::mutex mu_;
  TaskHeader* head_ = nullptr;  // guarded by mu_
  TaskHeader* tail_ = nullptr;  // guarded by mu_
  Atomic<std::size_t> len_{0};
};

// ---------------------------------------------------------------------------------------------
// Idle: state_ packs (searching << 16 | unparked). A notifier wakes a sleeper only when no worker
// is searching (a searcher will find the task) and some worker sleeps.
// ---------------------------------------------------------------------------------------------
class Idle {
 public:
  explicit Idle(unsigned workers) : workers_(workers), state_(workers) { sleepers_.reserve(workers); }

  // Returns the worker to unpark, or -1. The chosen worker counts as unparked and searching.
  int worker_to_notify() {
    // seq_cst: the no-lost-wake-up rule (see the top of this file).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!should_wake()) return -1;
    std::lock_guard<std::mutex> g(mu_);
    if (!should_wake() || sleepers_.empty()) return -1;
    state_.fetch_add(kSearchOne | 1, std::memory_order_seq_cst);
    unsigned w = sleepers_.back();
    sleepers_.pop_back();
    return static_cast<int>(w);
  }

  // Returns true if this was the last searching worker.
  bool to_parked(unsigned w, bool searching) {
    std::lock_guard<std::mutex> g(mu_);
    std::uint32_t dec = 1 + (searching ? kSearchOne : 0);
    std::uint32_t prev = state_.fetch_sub(dec, std::memory_order_seq_cst);
    sleepers_.push_back(w);
    return searching && (prev >> 16) == 1;
  }

  // Workers not parked (running, searching, or on their way to sleep or back).
  unsigned awake() const noexcept { return state_.load(std::memory_order_seq_cst) & 0xffff; }

  bool to_searching() {
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    // At most half the workers search at once, so stealing does not thrash.
    if (2 * (s >> 16) >= workers_) return false;
    state_.fetch_add(kSearchOne, std::memory_order_seq_cst);
    return true;
  }

  // Returns true if this was the last searching worker.
  bool from_searching() {
    std::uint32_t prev = state_.fetch_sub(kSearchOne, std::memory_order_seq_cst);
    return (prev >> 16) == 1;
  }

  // A worker woke without being chosen (driver event, timer, shutdown): removes it from the
  // sleepers. Returns false if a notifier already chose it (it is then unparked and searching).
  bool unpark_self(unsigned w) {
    std::lock_guard<std::mutex> g(mu_);
    auto it = std::find(sleepers_.begin(), sleepers_.end(), w);
    if (it == sleepers_.end()) return false;
    sleepers_.erase(it);
    state_.fetch_add(1, std::memory_order_seq_cst);
    return true;
  }

  bool is_sleeping(unsigned w) {
    std::lock_guard<std::mutex> g(mu_);
    return std::find(sleepers_.begin(), sleepers_.end(), w) != sleepers_.end();
  }

 private:
  static constexpr std::uint32_t kSearchOne = 1u << 16;
  bool should_wake() const noexcept {
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    return (s >> 16) == 0 && (s & 0xffff) < workers_;
  }
  const unsigned workers_;
  Atomic<std::uint32_t> state_;
  std::mutex mu_;
  std::vector<unsigned> sleepers_;  // guarded by mu_
};

namespace {
// How long a task may wait in a busy worker's queue before the watcher comes to help
// (MultiThreadCore::park): kHelpAfterMs once the watcher has had to help, growing (doubling per
// nap) to kMaxHelpAfterMs while every busy worker keeps up. Each nap costs a timed futex wait and a
// wake-up (~1.5% of a core at one a millisecond, measured on a busy echo server).
constexpr int kHelpAfterMs = 1;
constexpr int kMaxHelpAfterMs = 4;
// Naps in a row with nothing queued anywhere before the watcher sleeps without limit.
constexpr unsigned kQuietNaps = 20;
}  // namespace

// ---------------------------------------------------------------------------------------------
// Parker: kEmpty -> kParkedCondvar | kParkedDriver | kParkedLane -> (unpark) kNotified -> kEmpty.
// ---------------------------------------------------------------------------------------------
class Parker {
 public:
  enum : int { kEmpty, kParkedCondvar, kParkedDriver, kParkedLane, kNotified };
  unsigned lane = 0;  // the driver lane of this parker's worker (its index)

  // Sleeps until unpark(), or for at most `max_ms` (-1: no limit). With `in_driver` (and the driver
  // free) it sleeps in the driver, which also ends the sleep on I/O events and due timers;
  // otherwise no longer than until the next timer is due: on the condvar, or on io_uring in this
  // worker's own lane of the driver, where the kernel wakes it for the polls it armed (driver.hpp).
  void park(MultiThreadCore& core, int max_ms, bool in_driver) {
    int expected = kNotified;
    if (state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acq_rel)) return;
    if (in_driver && core.driver_mu_.try_lock()) {
      park_driver(core, max_ms);
      core.driver_mu_.unlock();
    } else {
      // The driver is wanted but busy: its holder may be leaving it. Nap, so that this worker
      // takes it over if nobody else does (every worker asleep must leave one in the driver).
      if (in_driver && (max_ms < 0 || max_ms > kHelpAfterMs)) max_ms = kHelpAfterMs;
      std::uint64_t next = core.next_timer_deadline();
      if (next != TimerWheel::kNever) {
        std::uint64_t now = core.now_ms();
        int until_timer = next <= now ? 0 : static_cast<int>(std::min<std::uint64_t>(next - now, 60'000));
        if (max_ms < 0 || until_timer < max_ms) max_ms = until_timer;
      }
      if (core.driver().backend() == IoBackend::kIoUring) {
        park_lane(core, max_ms);
      } else {
        park_condvar(max_ms);
      }
    }
  }

  void unpark(MultiThreadCore& core) {
    int prev = state_.exchange(kNotified, std::memory_order_acq_rel);
    if (prev == kParkedCondvar) {
      { std::lock_guard<std::mutex> g(mu_); }  // the sleeper is either before its wait or in it
      cv_.notify_one();
    } else if (prev == kParkedDriver) {
      core.driver().unpark();
    } else if (prev == kParkedLane) {
      core.driver().wake_lane(lane);
    }
  }

 private:
  void park_condvar(int max_ms) {
    std::unique_lock<std::mutex> g(mu_);
    int expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParkedCondvar, std::memory_order_acq_rel)) {
      state_.store(kEmpty, std::memory_order_release);  // it was kNotified
      return;
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    for (;;) {
      bool timed_out = false;
      if (max_ms < 0) {
        cv_.wait(g);
      } else {
        timed_out = cv_.wait_until(g, until) == std::cv_status::timeout;
      }
      expected = kNotified;
      if (state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acq_rel)) return;
      if (timed_out) {
        // kParkedCondvar -> kEmpty, unless an unpark() came in between (then it is consumed).
        state_.store(kEmpty, std::memory_order_release);
        return;
      }
    }
  }

  void park_lane(MultiThreadCore& core, int max_ms) {
    int expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParkedLane, std::memory_order_acq_rel)) {
      state_.store(kEmpty, std::memory_order_release);  // it was kNotified
      return;
    }
    // An unpark() from here on wakes the lane; its wake-up stays posted until reaped, so one sent
    // before the sleep begins ends it at once.
    core.drive_lane(max_ms);
    state_.store(kEmpty, std::memory_order_release);  // notified or not, the caller re-checks
  }

  void park_driver(MultiThreadCore& core, int max_ms) {
    int expected = kEmpty;
    if (!state_.compare_exchange_strong(expected, kParkedDriver, std::memory_order_acq_rel)) {
      state_.store(kEmpty, std::memory_order_release);
      core.drive(0);  // still fire due timers on the way
      return;
    }
    core.drive(-1, max_ms);
    state_.store(kEmpty, std::memory_order_release);  // notified or not, the caller re-checks
  }

  Atomic<int> state_{kEmpty};
  std::mutex mu_;
  std::condition_variable cv_;
};

// ---------------------------------------------------------------------------------------------
struct MultiThreadCore::Worker {
  unsigned index = 0;
  LocalQueues queues;
  TaskHeader* lifo = nullptr;  // Access: only by this worker's thread
  RetireBatch retired;         // Access: only by this worker's thread
  Parker parker;
  std::thread thread;
  std::uint32_t tick = 0;
  std::vector<QueueMarks> marks_seen;  // park()'s snapshot of every worker's push counters
  Atomic<bool> deep_sleep{false};      // parked with no time limit (park())
  bool searching = false;
  std::minstd_rand rng;
};

namespace {
thread_local MultiThreadCore::Worker* tls_worker = nullptr;
thread_local MultiThreadCore* tls_worker_core = nullptr;
thread_local bool tls_in_drive = false;     // this worker is dispatching a driver poll
thread_local bool tls_polled_work = false;  // that poll queued a task here
constexpr unsigned kMaxLifoRuns = 3;
}  // namespace

MultiThreadCore::MultiThreadCore(RuntimeOptions options) : RuntimeCore(std::move(options)) {
  unsigned n = worker_count_for(options_);
  idle_ = std::make_unique<Idle>(n);
  inject_ = std::make_unique<Inject>();
  workers_.reserve(n);
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->index = i;
    workers_.back()->parker.lane = i;
    workers_.back()->marks_seen.resize(n);
    workers_.back()->rng.seed(i + 1);
  }
  for (auto& w : workers_) {
    Worker* wp = w.get();
    wp->thread = std::thread([this, wp] { run(wp); });
  }
}

MultiThreadCore::~MultiThreadCore() { stop(); }

void MultiThreadCore::stop() noexcept {
  if (stopped_) return;
  stopped_ = true;
  stop_flag_.store(true, std::memory_order_release);
  for (auto& w : workers_) w->parker.unpark(*this);
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  stop_pools();
  // Whatever is still queued is a live task that will never run now.
  for (auto& w : workers_) {
    w->lifo = nullptr;
    while (w->queues.soon.pop_back()) {
    }
    while (w->queues.in_turn.pop_back()) {
    }
  }
  inject_->clear();
  abandon_live_tasks();
}

unsigned MultiThreadCore::worker_count() const noexcept { return static_cast<unsigned>(workers_.size()); }

void MultiThreadCore::schedule(TaskHeader* t, ScheduleHint hint) noexcept {
  Worker* w = tls_worker_core == this ? tls_worker : nullptr;
  if (!w) {
    inject_->push(t);
    notify_parked();
    return;
  }
  // Only a spawn wakes another worker at once (when it leaves a task in the queue, where others can
  // take it): it asks for concurrency. A task woken by this
  // worker (a message, a lock hand-off, I/O or a timer it polled) stays here, and a worker that
  // keeps up runs its tasks without a futex call or a context switch; one that falls behind is
  // helped by the watcher (park()) within a nap. Waking a sleeper for every such wake made two
  // workers pass the same work back and forth: 4 producers into one mpsc channel ran 2x slower
  // than on one worker, and 100 echo connections cost ~20k context switches a second with a p99
  // three times that of one worker.
  if (tls_in_drive) {
    // From a poll: queued in order, in turn (one poll wakes many; the LIFO slot or the kSoon queue
    // would serve the last first, and under steady load a new poll's tasks would keep overtaking
    // the previous poll's).
    push_local(w, t, Lane::kInTurn);
    tls_polled_work = true;
    return;
  }
  if (hint == ScheduleHint::kYield) {
    push_local(w, t, Lane::kInTurn);
    ensure_watcher();
    return;
  }
  // A task spawned or woken by this worker takes the LIFO slot and runs as soon as the current task
  // suspends; the one it displaces goes to the kSoon queue, which this worker also serves newest
  // first (others steal its oldest). For spawns this makes a fan-out run depth-first: a task that
  // spawns children and awaits them runs the newest child next, while its siblings wait to be run
  // or stolen, rather than a whole level of the tree queued at once (work_deque.hpp).
  TaskHeader* prev = w->lifo;
  w->lifo = t;
  if (!prev) return;  // this worker runs it next
  push_local(w, prev, Lane::kSoon);
  if (hint == ScheduleHint::kSpawn) {
    notify_parked();
  } else {
    ensure_watcher();
  }
}

void MultiThreadCore::push_local(Worker* w, TaskHeader* t, Lane lane) noexcept {
  LocalQueue& q = lane == Lane::kSoon ? w->queues.soon : w->queues.in_turn;
  if (q.push_back(t)) return;
  // Full: move the older half of the queue and the new task to the global queue, in one lock.
  TaskHeader* batch[LocalQueue::kCap / 2 + 1];
  std::size_t n = q.pop_batch(batch, LocalQueue::kCap / 2);
  batch[n++] = t;
  inject_->push_batch(batch, n);
}

void MultiThreadCore::notify_parked() noexcept {
  int w = idle_->worker_to_notify();
  if (w >= 0) workers_[static_cast<unsigned>(w)]->parker.unpark(*this);
}

void MultiThreadCore::on_earlier_timer(std::uint64_t deadline_ms) noexcept {
  // seq_cst: pairs with the driver's stores (protocol in multi_thread.hpp).
  std::uint64_t wake_at = driver_wake_at_.load(std::memory_order_seq_cst);
  if (wake_at != kNotSleeping && deadline_ms < wake_at) driver().unpark();
}

void MultiThreadCore::drive(int timeout_ms, int max_ms) noexcept {
  // Caller holds driver_mu_.
  if (timeout_ms != 0) {
    driver_wake_at_.store(TimerWheel::kNever, std::memory_order_seq_cst);
    std::uint64_t next = next_timer_deadline();
    driver_wake_at_.store(next, std::memory_order_seq_cst);
    if (next != TimerWheel::kNever) {
      std::uint64_t now = now_ms();
      timeout_ms = next <= now ? 0 : static_cast<int>(std::min<std::uint64_t>(next - now, 60'000));
    }
    if (max_ms >= 0 && (timeout_ms < 0 || timeout_ms > max_ms)) timeout_ms = max_ms;
  }
  tls_in_drive = true;
  tls_polled_work = false;
  polls_.fetch_add(1, std::memory_order_relaxed);
  driver().wait(timeout_ms);
  driver_wake_at_.store(kNotSleeping, std::memory_order_relaxed);  // relaxed: a stale value only costs a spare wake
  process_timers();
  tls_in_drive = false;
  if (tls_polled_work) ensure_watcher();
}

void MultiThreadCore::drive_lane(int max_ms) noexcept {
  tls_in_drive = true;
  tls_polled_work = false;
  driver().wait_lane(max_ms);
  tls_in_drive = false;
  if (tls_polled_work) ensure_watcher();
}

void MultiThreadCore::ensure_watcher() noexcept {
  // seq_cst: pairs with park()'s store of deep_sleep and its re-check of the queues (Dekker).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (watcher_taken_.load(std::memory_order_seq_cst) || deep_sleepers_.load(std::memory_order_seq_cst) == 0) return;
  for (auto& other : workers_) {
    if (other.get() != tls_worker && other->deep_sleep.load(std::memory_order_seq_cst)) {
      other->parker.unpark(*this);  // it wakes, sees the queued work and becomes the watcher
      return;
    }
  }
}

TaskHeader* MultiThreadCore::next_task(Worker* w) noexcept {
  if (w->tick % options_.global_queue_interval == 0) {
    // Fairness: now and then a task that waits its turn goes first, from the global queue or this
    // worker's in-turn queue, so that neither waits behind a stream of newer work. Not from the
    // kSoon queue: its oldest task is the root of the largest part of a fan-out still queued, and
    // starting it early would hold two parts of the tree in memory at once.
    TaskHeader* t;
    if (inject_->pop_batch(&t, 1)) return t;
    if ((t = w->queues.in_turn.pop_front())) return t;
  }
  // Woken by a timer or I/O while this worker was between tasks.
  if (TaskHeader* t = std::exchange(w->lifo, nullptr)) return t;
  if (TaskHeader* t = w->queues.soon.pop_back()) return t;
  if (TaskHeader* t = w->queues.in_turn.pop_front()) return t;
  // Local queue empty: refill from the global queue (a share of it, so others get some too).
  TaskHeader* batch[LocalQueue::kCap / 2];
  std::size_t cap = std::min<std::size_t>(LocalQueue::kCap / 2, inject_->len() / workers_.size() + 1);
  std::size_t n = inject_->pop_batch(batch, cap);
  if (n == 0) return nullptr;
  for (std::size_t i = 1; i < n; ++i) push_local(w, batch[i], Lane::kInTurn);  // in their order
  return batch[0];
}

TaskHeader* MultiThreadCore::steal_work(Worker* w) noexcept {
  std::size_t n = workers_.size();
  std::size_t start = w->rng() % n;
  TaskHeader* batch[LocalQueue::kCap / 2];
  for (std::size_t i = 0; i < n; ++i) {
    Worker* victim = workers_[(start + i) % n].get();
    if (victim == w) continue;
    Lane lane = Lane::kInTurn;
    std::size_t got = victim->queues.in_turn.steal(batch, LocalQueue::kCap / 2);
    if (got == 0) {
      lane = Lane::kSoon;
      got = victim->queues.soon.steal(batch, LocalQueue::kCap / 2);
    }
    if (got == 0) continue;
    counters_->steals.add(got);
    for (std::size_t k = 1; k < got; ++k) push_local(w, batch[k], lane);
    return batch[0];
  }
  TaskHeader* t;
  if (inject_->pop_batch(&t, 1)) return t;
  return nullptr;
}

void MultiThreadCore::run_task(Worker* w, TaskHeader* t) noexcept {
  if (w->searching) {
    w->searching = false;
    // The last searcher found work: wake another worker to look for more (keeps parallelism).
    if (idle_->from_searching()) notify_parked();
  }
  unsigned lifo_runs = 0;
  for (;;) {
    if (execute(t, &w->retired)) push_local(w, t, Lane::kInTurn);  // yielded: behind everything queued
    if (!w->lifo) return;
    if (++lifo_runs > kMaxLifoRuns) {
      // Fairness: a ping-pong pair must not monopolise the worker; the woken task waits its turn
      // in the local queue. No other worker is woken for it: that would only split the pair
      // across cores (a searching worker still finds it if this one stays busy).
      push_local(w, w->lifo, Lane::kInTurn);
      w->lifo = nullptr;
      return;
    }
    t = w->lifo;
    w->lifo = nullptr;
  }
}

// A searching worker's last look before parking (RuntimeOptions::spin_before_park). It still counts
// as searching, so producers meanwhile wake nobody: this worker will find their tasks.
TaskHeader* MultiThreadCore::spin_for_work(Worker* w) noexcept {
  if (options_.spin_before_park.count() <= 0) return nullptr;
  const auto until = std::chrono::steady_clock::now() + options_.spin_before_park;
  do {
    for (int i = 0; i < 32; ++i) cpu_relax();
    if (stop_flag_.load(std::memory_order_relaxed)) return nullptr;  // relaxed: run() re-checks
    if (has_visible_work(w)) {
      if (TaskHeader* t = next_task(w)) return t;
      if (TaskHeader* t = steal_work(w)) return t;
    }
  } while (std::chrono::steady_clock::now() < until);
  return nullptr;
}

bool MultiThreadCore::has_visible_work(Worker* w) const noexcept {
  if (w->lifo || w->queues.len() || inject_->len()) return true;
  for (auto& other : workers_) {
    if (other->queues.len()) return true;
  }
  return false;
}

void MultiThreadCore::maintenance(Worker*) noexcept {
  if (driver_mu_.try_lock()) {
    drive(0);
    driver_mu_.unlock();
  }
}

void MultiThreadCore::park(Worker* w) noexcept {
  flush(w->retired);  // nothing finished stays half-retired while this worker sleeps
  bool was_searching = w->searching;
  w->searching = false;
  bool last_searcher = idle_->to_parked(w->index, was_searching);
  // The no-lost-wake-up re-check (top of file), after the seq_cst update in to_parked().
  if (has_visible_work(w) || (last_searcher && inject_->len())) {
    if (!idle_->unpark_self(w->index)) w->searching = true;
    return;
  }
  counters_->parks.add();
  std::vector<QueueMarks>& marks = w->marks_seen;
  unsigned quiet_naps = 0;
  for (;;) {
    // One parked worker at a time is the watcher: while the runtime is busy it sleeps in naps of
    // watch_nap_ms_, and when a nap ends with another worker behind (a task that was in its queue
    // when the nap began is still there: it has waited a whole nap) it comes to steal. Tasks woken
    // by a running worker stay with it (schedule()), so a worker that keeps up runs them all
    // without waking anyone, and the other cores stay free for other threads and programs; one
    // that falls behind (or runs a task that blocks) gets help within a nap: 1 ms after the
    // watcher last had to help, up to kMaxHelpAfterMs after a stretch in which nobody fell behind
    // (the naps double meanwhile, since each costs a wake-up). After kQuietNaps quiet
    // naps (below) the watcher sleeps without limit (an idle runtime burns no CPU) until a wake
    // queues work again (ensure_watcher()). Every other parked worker sleeps until
    // notified.
    bool busy = inject_->len() > 0;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      marks[i] = workers_[i]->queues.marks();
      if (workers_[i].get() != w && workers_[i]->queues.len() > 0) busy = true;
    }
    // Quiet means nothing queued and every other worker asleep: while one runs, the watcher keeps
    // napping, so a task that blocks its worker cannot also stall I/O and timers (the watcher polls
    // the driver when nobody did during its nap).
    quiet_naps = (busy || idle_->awake() > 0) ? 0 : quiet_naps + 1;
    bool taken = false;
    bool watch =
        quiet_naps <= kQuietNaps && watcher_taken_.compare_exchange_strong(taken, true, std::memory_order_seq_cst);
    if (!watch) {
      deep_sleepers_.fetch_add(1, std::memory_order_seq_cst);
      w->deep_sleep.store(true, std::memory_order_seq_cst);
      // The re-check of ensure_watcher()'s Dekker pair (the fence orders the store above before
      // the queue loads): work queued by a wake after the loop above.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (!watcher_taken_.load(std::memory_order_seq_cst) && has_visible_work(w)) {
        w->deep_sleep.store(false, std::memory_order_relaxed);
        deep_sleepers_.fetch_sub(1, std::memory_order_relaxed);
        quiet_naps = 0;
        continue;
      }
    }
    // When every worker sleeps, one of them waits in the driver, for I/O and timers. One that
    // parks while another still runs leaves the driver to it (polled between tasks, every
    // event_interval), so I/O work stays with the running worker instead of waking this one; it
    // still wakes for due timers, and polls the driver itself if nobody did meanwhile (a running
    // task that blocks).
    const std::uint64_t polls = polls_.load(std::memory_order_relaxed);
    w->parker.park(*this, watch ? watch_nap_ms_ : -1, idle_->awake() == 0);
    if (polls_.load(std::memory_order_relaxed) == polls && driver_mu_.try_lock()) {
      drive(0);
      driver_mu_.unlock();
    }
    const bool behind = watch && someone_fell_behind(w, marks);
    if (watch) {
      watch_nap_ms_ = behind ? kHelpAfterMs : std::min(watch_nap_ms_ * 2, kMaxHelpAfterMs);
      watcher_taken_.store(false, std::memory_order_seq_cst);
    } else {
      w->deep_sleep.store(false, std::memory_order_relaxed);
      deep_sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (stop_flag_.load(std::memory_order_acquire)) {
      idle_->unpark_self(w->index);
      return;
    }
    if (!idle_->is_sleeping(w->index)) {
      w->searching = true;  // chosen by worker_to_notify(), which counted us as searching
      return;
    }
    if (w->lifo || w->queues.len() || inject_->len()) {
      // Woken by the driver (timer or I/O) with work in hand. As the watcher, this worker's own
      // drive found the role taken (by itself) and woke nobody; it has just given the role up to
      // run that work, which may block it: make sure a sleeper takes over the watch.
      if (watch) ensure_watcher();
      if (!idle_->unpark_self(w->index)) w->searching = true;
      return;
    }
    if (behind) {
      if (!idle_->unpark_self(w->index)) {
        w->searching = true;
      } else if (idle_->to_searching()) {
        w->searching = true;
      }
      return;
    }
  }
}

bool MultiThreadCore::someone_fell_behind(Worker* w, const std::vector<QueueMarks>& marks) const noexcept {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].get() != w && workers_[i]->queues.waited_since(marks[i])) return true;
  }
  return false;
}

void MultiThreadCore::run(Worker* w) {
  tls_worker = w;
  tls_worker_core = this;
  RuntimeCore::set_current(this);
  std::string name = options_.name.substr(0, 10) + "-w" + std::to_string(w->index);
  pthread_setname_np(pthread_self(), name.c_str());
  driver().bind_thread(w->index);
  if (options_.on_worker_start) options_.on_worker_start(w->index);
  while (!stop_flag_.load(std::memory_order_acquire)) {
    ++w->tick;
    if (w->tick % options_.event_interval == 0) maintenance(w);
    if (TaskHeader* t = next_task(w)) {
      run_task(w, t);
      continue;
    }
    // A worker that is already searching (chosen by a notifier, or unparked as the last
    // searcher) is counted once: counting it again would leak a searcher, and then no notifier
    // would ever wake a sleeper (should_wake() sees a searcher that does not exist).
    if (w->searching || idle_->to_searching()) {
      w->searching = true;
      TaskHeader* t = steal_work(w);
      if (!t) t = spin_for_work(w);
      if (t) {
        run_task(w, t);
        continue;
      }
    }
    park(w);
  }
  flush(w->retired);
  driver().unbind_thread();
  if (options_.on_worker_stop) options_.on_worker_stop(w->index);
  RuntimeCore::set_current(nullptr);
  tls_worker = nullptr;
  tls_worker_core = nullptr;
}

void MultiThreadCore::block_until_complete(JoinCellBase* j) { j->wait_complete_blocking(); }

void MultiThreadCore::wait_idle_until(std::chrono::steady_clock::time_point deadline) {
  while (alive() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void MultiThreadCore::fill_metrics(std::uint64_t& global_depth, std::vector<std::uint64_t>& local_depths) const {
  global_depth = inject_->len();
  local_depths.clear();
  for (auto& w : workers_) local_depths.push_back(w->queues.len());
}

}  // namespace tether::detail
