// Per-thread slab heaps for coroutine frames and task cells; the behaviour is described in
// include/tether/core/detail/frame_allocator.hpp.
//
// Reading map
//   1. Layout: spans, size classes, heaps (below).
//   2. Protocol: rules R1-R8 (below); the code cites them by number.
//   3. Inbox: the per-class Treiber stack of remotely freed blocks (R4, R5).
//   4. Heap registry: creating, adopting and orphaning heaps at thread start and exit (R2, R6, R7).
//   5. Slow paths: take the inbox, bump-allocate from the current span, carve a new span.
//   6. frame_alloc / frame_free: the fast paths (one thread-local load, one list pop or push).
//
// Layout
//   A span is kSpanSize (64 KiB) bytes aligned to kSpanSize. Its first cache line is a SpanHeader
//   {owner heap, size class}; the rest holds blocks of that one class, so frame_free finds the
//   header, and with it the owner, by masking the block's address. Spans are carved from chunks of
//   kSpansPerChunk spans (one aligned_alloc per chunk, so glibc's alignment slack is paid once per
//   MiB). Size classes are multiples of 16 bytes up to kFrameMaxSmall.
//   A Heap has, per size class: a local free list, the unused tail of its current span (a bump
//   pointer), and an inbox for blocks freed by other threads. Design after mimalloc's per-thread
//   heaps with a thread-delayed free list (Leijen et al., "Mimalloc: Free List Sharding in Action",
//   2019), simplified: one inbox per heap and class rather than one per page.
//
// Protocol
//   State: Heap::in_use_            atomic; true while some thread owns the heap.
//          Heap::inbox_[c].head_    atomic; stack of blocks of class c freed by non-owners.
//          All other Heap fields    owner only (R2).
//          SpanHeader::owner, cls   constant once the span is carved (R1).
//   R1. A span's header is written once, by the heap's owner, before any block of the span is handed
//       out, and never changes; spans and heaps are never freed. Any thread holding a block may read
//       its span's header: whatever handed it the block ordered that read after the header writes.
//   R2. At most one thread owns a heap at a time. Only the owner touches the local free lists, bump
//       pointers, chunk and span list, and only the owner takes from the inboxes. Ownership is taken
//       with in_use_.exchange(true, acquire) and given up with in_use_.store(false, release): the
//       pair orders the previous owner's writes to the owner-only fields before the next owner's.
//   R3. Local free: a thread frees a block whose span's owner is the heap it owns -> push on the
//       local free list; no atomics.
//   R4. Remote free: any other case (another thread's heap, an orphaned heap, or a thread that has
//       no heap, e.g. during its exit) -> push onto owner->inbox_[cls]: link = head (relaxed), then
//       CAS(head, link -> block, release). A pusher never reads a block it did not push, and the
//       only pop is R5, which takes the whole stack, so the Treiber stack has no ABA problem.
//   R5. The owner takes an inbox only when its local list for that class is empty, in one
//       exchange(nullptr, acquire). The acquire pairs with the release CAS of each push in the chain
//       it takes (each push is a read-modify-write, so it continues the release sequence of the
//       pushes before it): the pushers' writes to those blocks, next links included, happen-before
//       the owner reads the links and hands the blocks out again.
//   R6. A heap is pushed on the global list g_heaps when it is created and never removed, so a heap
//       whose thread exited stays reachable: for frees that arrive later (R4), for adoption (R7), and
//       for LeakSanitizer.
//   R7. A thread gets a heap on its first frame_alloc: it adopts the first orphan on g_heaps (R2), or
//       creates one. When the thread exits (a thread_local destructor) it gives the heap up (R2)
//       and is marked exited: from then on its frees are remote (R4), and each of its allocations
//       adopts a heap for that one call and gives it back.
//   R8. Invariant: every block ever carved is either in use, on exactly one heap's local list, or in
//       exactly one heap's inbox; never-carved space is in a span's tail or a chunk's remainder. All
//       of these are reachable from g_heaps (R6) and usable by the heap's next owner (R7), so no block
//       is lost, and a heap holds at most what its owners had in flight at their peak.
//
// AddressSanitizer builds bypass all of this (see the header); ThreadSanitizer builds use it.
#include "tether/core/detail/frame_allocator.hpp"

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "tether/core/detail/sync_shim.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TETHER_FRAME_ALLOC_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TETHER_FRAME_ALLOC_BYPASS 1
#endif
#endif

namespace tether::detail {

#if defined(TETHER_FRAME_ALLOC_BYPASS)

// Every block is its own heap allocation, so ASan sees each use-after-free and overflow.
void* frame_alloc(std::size_t size) { return ::operator new(size); }
void frame_free(void* p, std::size_t size) noexcept { ::operator delete(p, size); }
std::size_t frame_allocator_reserved_bytes() noexcept { return 0; }

#else

namespace {

// ---------------------------------------------------------------------------------------------
// 1. Layout
// ---------------------------------------------------------------------------------------------
constexpr std::size_t kGranule = 16;
constexpr std::size_t kClasses = kFrameMaxSmall / kGranule;
constexpr std::size_t kSpanSize = 64 * 1024;
constexpr std::size_t kSpansPerChunk = 16;
constexpr std::size_t kChunkSize = kSpanSize * kSpansPerChunk;
constexpr std::size_t kCacheLine = 64;

static_assert(kFrameMaxSmall % kGranule == 0);
static_assert(kGranule >= alignof(std::max_align_t), "blocks must be aligned like operator new's");
static_assert((kSpanSize & (kSpanSize - 1)) == 0, "span_of masks addresses");

// REQUIRES: 1 <= size <= kFrameMaxSmall.
constexpr std::size_t class_of(std::size_t size) { return (size - 1) / kGranule; }
constexpr std::size_t block_size(std::size_t cls) { return (cls + 1) * kGranule; }

// True for 0 and for sizes above kFrameMaxSmall (0 wraps around), which go to ::operator new.
constexpr bool is_large(std::size_t size) { return size - 1 >= kFrameMaxSmall; }

// A free block: its first word links it into a local list or an inbox.
struct Block {
  Block* next;
};

struct Heap;

struct alignas(kCacheLine) SpanHeader {
  // Constant after construction (R1).
  Heap* owner;
  std::size_t cls;
  // Access: only by the owner of `owner` (R2). Links all spans of a heap.
  SpanHeader* next_span;
};
static_assert(sizeof(SpanHeader) == kCacheLine, "blocks start on the line after the header");

SpanHeader* span_of(void* block) {
  return reinterpret_cast<SpanHeader*>(reinterpret_cast<std::uintptr_t>(block) & ~(kSpanSize - 1));
}

// ---------------------------------------------------------------------------------------------
// 3. Inbox: blocks of one class freed by threads other than the heap's owner (R4, R5).
// ---------------------------------------------------------------------------------------------
class alignas(kCacheLine) Inbox {
 public:
  // R4. Any thread.
  void push(Block* b) noexcept {
    // relaxed: only a first guess at the head for the CAS, which checks it; nothing is read
    // through it.
    Block* head = head_.load(std::memory_order_relaxed);
    do {
      // SAFETY: b is a free block nobody else references until the CAS below publishes it.
      b->next = head;
      // release: pairs with the acquire exchange in take_all() (R5), publishing b->next and every
      // write the freeing thread made to the block. relaxed on failure: the new head is only
      // stored into b->next and checked again by the next CAS.
    } while (!head_.compare_exchange_weak(head, b, std::memory_order_release, std::memory_order_relaxed));
  }

  // R5. Owner only: a cheap hint that take_all() would find something.
  bool maybe_nonempty() const noexcept {
    // relaxed: a hint; take_all() reads the stack again with acquire.
    return head_.load(std::memory_order_relaxed) != nullptr;
  }

  // R5. Owner only: takes every block pushed so far, as a list linked through Block::next.
  Block* take_all() noexcept {
    // acquire: pairs with the release CAS in push() of each block in the chain taken.
    return head_.exchange(nullptr, std::memory_order_acquire);
  }

 private:
  Atomic<Block*> head_{nullptr};
};

struct ClassState {
  Block* free = nullptr;  // local free list (R3)
  char* bump = nullptr;   // unused tail of the current span of this class
  char* bump_end = nullptr;
};

struct Heap {
  // Atomic: see R4, R5. One cache line per class, so that pushes to one class do not slow down
  // another.
  Inbox inbox[kClasses];

  // Atomic: see R2. A heap is created owned by its creator.
  alignas(kCacheLine) Atomic<bool> in_use{true};
  // Constant once the heap is on g_heaps (R6).
  Heap* next_heap = nullptr;

  // Access: only by the owner (R2).
  alignas(kCacheLine) ClassState classes[kClasses];
  char* chunk_cur = nullptr;  // the rest of the current chunk, carved into spans on demand
  char* chunk_end = nullptr;
  SpanHeader* spans = nullptr;

  // R2: try to become the owner.
  bool try_adopt() noexcept {
    // relaxed: a pre-check that avoids writing to owned heaps' lines; the exchange decides.
    // acquire: pairs with the release store in orphan(), so the previous owner's writes to the
    // owner-only fields are visible to us.
    return !in_use.load(std::memory_order_relaxed) && !in_use.exchange(true, std::memory_order_acquire);
  }
  // R2: stop being the owner.
  void orphan() noexcept {
    // release: pairs with the acquire exchange in try_adopt().
    in_use.store(false, std::memory_order_release);
  }
};

// ---------------------------------------------------------------------------------------------
// 4. Heap registry (R6, R7)
// ---------------------------------------------------------------------------------------------
// Atomic: push-only list of every heap, linked through Heap::next_heap (R6).
Atomic<Heap*> g_heaps{nullptr};
// Atomic: total bytes of chunks taken from the system.
Atomic<std::size_t> g_reserved{0};

// Adopts an orphaned heap, or creates and registers a new one. The caller owns the result (R2).
Heap* acquire_heap() {
  // acquire: pairs with the release CAS below, so each registered heap's construction and
  // next_heap link are visible (later CASes are RMWs and continue the release sequence).
  for (Heap* h = g_heaps.load(std::memory_order_acquire); h != nullptr; h = h->next_heap) {
    if (h->try_adopt()) return h;
  }
  auto* h = new Heap();  // owned by us from the start: in_use is true
  // relaxed: the CAS checks it.
  Heap* head = g_heaps.load(std::memory_order_relaxed);
  do {
    h->next_heap = head;
    // release: pairs with the acquire load above in other threads. relaxed on failure: the new head
    // is only stored into next_heap.
  } while (!g_heaps.compare_exchange_weak(head, h, std::memory_order_release, std::memory_order_relaxed));
  return h;
}

enum class ThreadState : unsigned char { kNoHeap, kOwnsHeap, kExited };

// Trivially destructible, so they stay valid during thread teardown, after HeapReleaser ran.
// initial-exec: one %fs-relative load even when tether is a shared library.
[[gnu::tls_model("initial-exec")]] thread_local Heap* tl_heap = nullptr;  // non-null iff kOwnsHeap
[[gnu::tls_model("initial-exec")]] thread_local ThreadState tl_state = ThreadState::kNoHeap;

// R7: gives the thread's heap up when the thread exits.
struct HeapReleaser {
  HeapReleaser() = default;
  HeapReleaser(const HeapReleaser&) = delete;
  HeapReleaser& operator=(const HeapReleaser&) = delete;
  ~HeapReleaser() {
    Heap* h = tl_heap;
    tl_heap = nullptr;
    tl_state = ThreadState::kExited;
    if (h != nullptr) h->orphan();
  }
};

Heap* attach_thread_heap() {
  Heap* h = acquire_heap();
  tl_heap = h;
  tl_state = ThreadState::kOwnsHeap;
  thread_local HeapReleaser releaser;  // constructed here, once per thread: registers its destructor
  (void)releaser;
  return h;
}

// ---------------------------------------------------------------------------------------------
// 5. Slow paths (owner only, R2)
// ---------------------------------------------------------------------------------------------
// Carves a fresh span for `cls` and makes it the class's bump region.
void new_span(Heap* h, std::size_t cls) {
  if (h->chunk_cur == h->chunk_end) {
    void* chunk = std::aligned_alloc(kSpanSize, kChunkSize);
    if (chunk == nullptr) throw std::bad_alloc();
    // relaxed: a statistic; it orders nothing.
    g_reserved.fetch_add(kChunkSize, std::memory_order_relaxed);
    h->chunk_cur = static_cast<char*>(chunk);
    h->chunk_end = h->chunk_cur + kChunkSize;
  }
  char* base = h->chunk_cur;
  h->chunk_cur += kSpanSize;
  // SAFETY: base is kSpanSize unused bytes of h's chunk, aligned to kSpanSize; only h's owner carves
  // it (R2), and the header is written before any block of the span is handed out (R1).
  h->spans = ::new (base) SpanHeader{h, cls, h->spans};
  ClassState& cs = h->classes[cls];
  cs.bump = base + sizeof(SpanHeader);
  cs.bump_end = base + kSpanSize;
}

// The class's local list is empty: take the inbox (R5), else bump-allocate, else carve a span.
[[gnu::noinline]] void* alloc_refill(Heap* h, std::size_t cls) {
  ClassState& cs = h->classes[cls];
  Inbox& inbox = h->inbox[cls];
  if (inbox.maybe_nonempty()) {
    if (Block* b = inbox.take_all()) {
      // SAFETY: the chain is free blocks of class cls whose links the pushers wrote before their
      // release CAS (R5); we now own all of them.
      cs.free = b->next;
      return b;
    }
  }
  const std::size_t bs = block_size(cls);
  if (static_cast<std::size_t>(cs.bump_end - cs.bump) < bs) new_span(h, cls);  // the old tail (< bs) is abandoned
  char* p = cs.bump;
  cs.bump += bs;
  return p;
}

void* alloc_from(Heap* h, std::size_t cls) {
  ClassState& cs = h->classes[cls];
  if (Block* b = cs.free) {
    // SAFETY: blocks on the local list are free and owned by h's owner, which we are (R2, R3).
    cs.free = b->next;
    return b;
  }
  return alloc_refill(h, cls);
}

// The thread has no heap: its first allocation, or one made during its exit (R7).
[[gnu::noinline]] void* alloc_without_heap(std::size_t cls) {
  if (tl_state == ThreadState::kNoHeap) return alloc_from(attach_thread_heap(), cls);
  // Exited: borrow a heap for this one allocation.
  struct Borrowed {
    Heap* h = acquire_heap();
    Borrowed() = default;
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
    ~Borrowed() { h->orphan(); }
  } borrowed;
  return alloc_from(borrowed.h, cls);
}

// R4
[[gnu::noinline]] void free_remote(SpanHeader* span, Block* b) noexcept {
  // SAFETY: span outlives every block (R1), and so does its owner heap (R6).
  span->owner->inbox[span->cls].push(b);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 6. Fast paths
// ---------------------------------------------------------------------------------------------
void* frame_alloc(std::size_t size) {
  if (is_large(size)) [[unlikely]]
    return ::operator new(size);
  const std::size_t cls = class_of(size);
  Heap* h = tl_heap;
  if (h != nullptr) [[likely]] {
    ClassState& cs = h->classes[cls];
    if (Block* b = cs.free) [[likely]] {
      // SAFETY: blocks on the local list are free and ours (R2, R3).
      cs.free = b->next;
      return b;
    }
    return alloc_refill(h, cls);
  }
  return alloc_without_heap(cls);
}

void frame_free(void* p, std::size_t size) noexcept {
  if (is_large(size)) [[unlikely]] {
    ::operator delete(p, size);
    return;
  }
  if (p == nullptr) [[unlikely]]
    return;
  // SAFETY: p came from frame_alloc with this size, so it lies in a span whose header is constant
  // and outlives it (R1).
  SpanHeader* span = span_of(p);
  assert(span->cls == class_of(size) && "frame_free: size differs from the frame_alloc size");
  auto* b = static_cast<Block*>(p);
  Heap* h = tl_heap;
  if (span->owner == h) [[likely]] {  // R3; never true for a thread without a heap (h == nullptr)
    ClassState& cs = h->classes[class_of(size)];
    b->next = cs.free;
    cs.free = b;
    return;
  }
  free_remote(span, b);
}

std::size_t frame_allocator_reserved_bytes() noexcept {
  // relaxed: a statistic, read without ordering against anything else.
  return g_reserved.load(std::memory_order_relaxed);
}

#endif  // TETHER_FRAME_ALLOC_BYPASS

}  // namespace tether::detail
