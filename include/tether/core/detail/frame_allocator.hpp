// Internal; not part of the public API.
//
// Slab allocator for coroutine frames and task cells: every spawn takes a frame and a task cell from
// it, and the block is often freed on another worker than the one that allocated it.
//
// Defines:
//   frame_alloc / frame_free              allocate and free one block (sized free, like operator delete)
//   frame_allocator_reserved_bytes()      memory taken from the system so far (tests, diagnostics)
//
// When to use it: only for objects whose size is known again when they are freed (class-specific
// operator new/delete, as in Task's promise, JoinHandle's cell and shield()). Everything else uses
// plain new/delete.
//
// Behaviour (an implementation detail that may change; the protocol is in src/core/frame_allocator.cpp):
//   - Sizes up to kFrameMaxSmall bytes are rounded up to a multiple of 16 and served from per-thread
//     heaps, one free list per size class, carved from 64 KiB spans. Larger sizes go to ::operator new.
//   - A block freed on the thread that owns its heap goes back to that heap's free list (no atomics).
//     A block freed on another thread goes back to its owner's per-class inbox (one lock-free push);
//     the owner takes the whole inbox in one exchange when its own list runs dry. Blocks therefore
//     always return to the heap they came from, and a thread's memory follows its own peak.
//   - Heaps are never freed. When a thread exits its heap is orphaned and stays reachable from a
//     global list (frees that arrive later still land in its inbox); the next thread that needs a
//     heap adopts an orphan before creating a new one. Span memory is kept for reuse, never returned
//     to the system.
//   - AddressSanitizer builds bypass the slabs (every block is a separate ::operator new), so that
//     use-after-free and overflows are still caught. ThreadSanitizer builds use the slabs, so that
//     TSan checks the allocator's own synchronisation.
//
// Thread safety: thread-safe. A block may be freed on any thread.
// Memory ordering: everything a thread wrote to a block before frame_free(p) happens-before the next
//   frame_alloc that returns p.
// Example: tests/core/frame_allocator_test.cpp; bench/micro/alloc_bench.cpp.
#pragma once

#include <cstddef>

namespace tether::detail {

// Largest size served from the slabs; larger requests go to ::operator new.
inline constexpr std::size_t kFrameMaxSmall = 1024;

// Returns a block of at least `size` bytes, aligned to 16 (alignof(std::max_align_t)).
// Throws: std::bad_alloc.
void* frame_alloc(std::size_t size);

// Frees a block from frame_alloc. REQUIRES: `size` is the size given to frame_alloc.
// May be called on any thread, including during thread exit.
void frame_free(void* p, std::size_t size) noexcept;

// Bytes of span memory the slabs have taken from the system so far, over all threads. Never
// decreases; 0 when the slabs are bypassed (AddressSanitizer).
std::size_t frame_allocator_reserved_bytes() noexcept;

}  // namespace tether::detail
