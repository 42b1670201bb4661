// tether/sync/shared.hpp
//
// Shared<T>: a read-mostly cell for hot paths (the guidance's "shared memory for hot, read-heavy
// paths"). Readers get a consistent snapshot without locking, waiting or retrying: a read is a
// fixed number of atomic operations whatever writers do (wait-free). A writer publishes a whole
// new version; old versions are reclaimed once no reader can see them.
//
//   Shared<T>             read(fn), load(), store(v), update(fn)
//   Shared<T>::Snapshot   a version kept alive for as long as you hold it
//
// Which to use: state read far more often than written (configuration, routing tables, feature
// flags, a cache index). For read-modify-write state with frequent writes, Mutex<T>. To also be
// told when the value changes, a watch channel (tether/channel/).
//
// Example: tests/sync/shared_test.cpp
//
// Why this scheme (and not hazard pointers or epochs): hazard pointers make readers loop (publish,
// re-check, retry while writers keep swapping), so they are lock-free, not wait-free; epoch
// schemes need per-thread registration and a reader that never leaves its epoch stalls
// reclamation for everyone. We use the reader indicators of Left-Right (Ramalhete and Correia,
// "Left-Right: A Concurrency Control Technique with Wait-Free Population Oblivious Reads", 2013)
// as a grace-period detector for an RCU-style pointer swap: readers do a bounded number of atomic
// operations; the writer pays, by waiting for readers that might still see the old version. A
// reference count per version then lets a Snapshot outlive the read section without holding
// writers up.
//
// Protocol (detail::ReadIndicators; numbers are referred to in the code):
//  State: `current_` (the published version), `version_index_` (0 or 1, changed only by a writer
//  under `writer_mu_`), two reader indicators ri[0], ri[1] (counters striped over cache lines;
//  a reader uses one stripe for arrive and depart). Each version has a reference count: one for
//  being published, one per Snapshot.
//  1. Reader: vi = version_index_ (seq_cst); ri[vi].arrive (seq_cst); p = current_ (seq_cst);
//     use *p (or take a reference on it); ri[vi].depart (release).
//  2. Writer, under writer_mu_: old = current_.exchange(new) (seq_cst); wait until ri[1-vi] is
//     empty; version_index_ = 1-vi (seq_cst); wait until ri[vi] is empty (acquire loads); then
//     drop the published reference on `old`.
//  3. Why that is safe: a reader that read `old` arrived before the exchange in the single total
//     order of seq_cst operations, on the indicator named by the index it read. If that was vi,
//     the second wait sees it; if it was 1-vi (a previous writer's toggle), the first wait sees
//     it. So after both waits no reader is inside a section that can reach `old` except through
//     a reference it took (Snapshot), and the count frees `old` after the last one.
//  4. Readers are wait-free: steps 1 contain no loop. Writers are blocking: they wait for the
//     readers inside read() at that moment (short, since the closure cannot suspend), never for
//     Snapshot holders.
#pragma once

#include <cstddef>
#include <mutex>
#include <type_traits>
#include <utility>

#include "tether/core/concepts.hpp"
#include "tether/core/detail/sync_shim.hpp"

namespace tether::sync {

namespace detail {

// Internal; not part of the public API. The grace-period half of the protocol above.
class ReadIndicators {
 public:
  static constexpr unsigned kStripes = 8;
  struct Token {
    unsigned vi;
    unsigned stripe;
  };
  // Rule 1, first half.
  Token arrive() noexcept {
    const unsigned vi = version_index_.load(std::memory_order_seq_cst);  // rule 3 needs seq_cst
    const unsigned s = my_stripe();
    counts_[vi][s].n.fetch_add(1, std::memory_order_seq_cst);  // rule 3 needs seq_cst
    return {vi, s};
  }
  // release: pairs with the acquire loads in wait_empty(), so the reader's accesses happen before
  // the writer frees what it read.
  void depart(Token t) noexcept { counts_[t.vi][t.stripe].n.fetch_sub(1, std::memory_order_release); }
  // Rule 2 after the exchange; call under the writer's lock.
  void synchronize() noexcept;

 private:
  static unsigned my_stripe() noexcept;
  void wait_empty(unsigned vi) noexcept;

  struct alignas(64) Counter {
    tether::detail::Atomic<std::size_t> n{0};
  };
  tether::detail::Atomic<unsigned> version_index_{0};
  Counter counts_[2][kStripes];
};

}  // namespace detail

// tether::sync::Shared<T>
//
// Thread safety: thread-safe. read() and load() are wait-free; store() and update() serialise
//   among themselves and wait for readers currently inside read().
// Memory ordering: everything a writer did before store() is visible to a reader that sees the
//   stored version.
// Lifetime: Snapshots keep their version alive, also past the Shared itself.
template <class T>
class Shared {
  struct Version {
    template <class... A>
    explicit Version(A&&... a) : value(std::forward<A>(a)...) {}
    const T value;
    tether::detail::Atomic<std::size_t> refs{1};  // the published reference + one per Snapshot
    void release() noexcept {
      // acq_rel: the last release sees every other holder's reads finished (the standard pattern).
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }
  };

 public:
  // A version kept alive while held; cheap to copy (one atomic increment).
  // Thread safety: thread-compatible.
  class Snapshot {
   public:
    Snapshot(const Snapshot& o) noexcept : v_(o.v_) {
      v_->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: we already hold a reference
    }
    Snapshot(Snapshot&& o) noexcept : v_(std::exchange(o.v_, nullptr)) {}
    Snapshot& operator=(Snapshot o) noexcept {
      std::swap(v_, o.v_);
      return *this;
    }
    ~Snapshot() {
      if (v_) v_->release();
    }
    const T& operator*() const noexcept { return v_->value; }
    const T* operator->() const noexcept { return &v_->value; }
    const T& get() const noexcept { return v_->value; }

   private:
    friend class Shared;
    explicit Snapshot(Version* v) noexcept : v_(v) {}
    Version* v_;
  };

  template <class... Args>
  requires std::is_constructible_v<T, Args...>
  explicit Shared(Args&&... args) : current_(new Version(std::forward<Args>(args)...)) {}
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared() { current_.load(std::memory_order_relaxed)->release(); }  // relaxed: no readers remain

  // Shared::read()
  //
  // Calls fn(const T&) on the current version and returns its result. Wait-free. fn must not
  // suspend (a closure returning an awaitable does not compile) and must not store() into this
  // Shared (it would wait for itself); keep it short: writers wait for it.
  template <class F>
  auto read(F&& fn) const {
    using R = std::invoke_result_t<F&, const T&>;
    static_assert(!Awaitable<R>, "Shared::read(): the closure must not suspend; take a load() snapshot instead");
    static_assert(!std::is_reference_v<R>, "Shared::read(): return a copy; use load() to keep a version alive");
    const auto tok = ind_.arrive();                               // rule 1
    const Version* v = current_.load(std::memory_order_seq_cst);  // rule 3 needs seq_cst
    struct Depart {
      detail::ReadIndicators& ind;
      detail::ReadIndicators::Token tok;
      ~Depart() { ind.depart(tok); }
    } depart{ind_, tok};
    return fn(v->value);
  }

  // Shared::load()
  //
  // A Snapshot of the current version, valid for as long as it is held (across awaits too: it
  // is a reference-counted immutable value, not a lock). Wait-free.
  Snapshot load() const noexcept {
    const auto tok = ind_.arrive();                         // rule 1
    Version* v = current_.load(std::memory_order_seq_cst);  // rule 3 needs seq_cst
    v->refs.fetch_add(1, std::memory_order_relaxed);        // relaxed: the read section keeps v alive
    ind_.depart(tok);
    return Snapshot(v);
  }

  // Publishes a new version. Blocks (briefly) for readers inside read(); never for Snapshots.
  template <class... Args>
  void store(Args&&... args) {
    publish(new Version(std::forward<Args>(args)...));
  }

  // Publishes fn(copy of the current value): fn(T&) edits a copy. Writers are serialised, so
  // concurrent update()s never lose each other's changes.
  template <class F>
  void update(F&& fn) {
    std::lock_guard<std::mutex> g(writer_mu_);
    // relaxed: writers are serialised by writer_mu_, which orders this load after the last store.
    T copy = current_.load(std::memory_order_relaxed)->value;
    fn(copy);
    publish_locked(new Version(std::move(copy)));
  }

 private:
  void publish(Version* v) {
    std::lock_guard<std::mutex> g(writer_mu_);
    publish_locked(v);
  }
  void publish_locked(Version* v) noexcept {
    Version* old = current_.exchange(v, std::memory_order_seq_cst);  // rule 2; seq_cst: rule 3
    ind_.synchronize();                                              // rule 2
    old->release();
  }

  mutable detail::ReadIndicators ind_;
  tether::detail::Atomic<Version*> current_;
  std::mutex writer_mu_;  // serialises writers; readers never touch it
};

}  // namespace tether::sync
