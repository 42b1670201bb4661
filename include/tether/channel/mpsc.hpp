// tether/channel/mpsc.hpp
//
// A bounded multi-producer, single-consumer channel: the workhorse for handing work to one task
// (an actor's mailbox, a pipeline stage, a writer task) with backpressure.
//
//   mpsc::channel<T>(capacity)   makes a channel; returns {Sender, Receiver}
//   mpsc::Sender<T>              copyable sending half: send, try_send, send_until/send_for, reserve
//   mpsc::Permit<T>              a reserved slot: send() never waits; dropping it returns the slot
//   mpsc::Receiver<T>            move-only receiving half: recv, try_recv, for_each, close
//
// Which channel should you use?
//   - one consumer: mpsc (this header);  several competing consumers: mpmc (mpmc.hpp);
//   - every consumer sees every value: broadcast;  only the latest value matters: watch;
//   - exactly one value, one reply: oneshot (the "response" half of a request).
// There is no unbounded channel: pick a capacity that is the most work you are willing to queue.
// The guide, with the cancellation table, is docs/channels.md.
//
//   auto [tx, rx] = tether::mpsc::channel<Job>(1024);
//   co_await tx.send(job);                         // waits while full
//   while (auto job = co_await rx.recv()) run(*job);  // nullopt: every sender gone, all drained
//
// Example: examples/channel/pipeline.cpp (compiled and run in CI)
#pragma once

#include <cstddef>
#include <utility>

#include "tether/channel/detail/bounded_handles.hpp"
#include "tether/channel/error.hpp"

namespace tether::mpsc {

// tether::mpsc::Sender<T>
//
// Sending half of a bounded multi-producer channel. Values are received in the order they were
// enqueued, and values from one sender in the order that sender sent them. When the buffer is full,
// send() waits (backpressure); waiting senders are served first-in first-out. When the receiver is
// gone (destroyed or close()d), sends fail with the value handed back.
//
// Thread safety: thread-safe: copies may be used from any task or thread concurrently; one Sender
//   object is thread-compatible (do not assign to it while another thread uses it).
// Memory ordering: for tasks X and Y, everything X did before send(v) is visible to Y after Y's
//   recv() returns v.
// Lifetime: copying counts a sender; when the last Sender (and the last Permit) is destroyed, the
//   receiver drains what is buffered and then recv() returns nullopt. The shared state lives until
//   the last handle goes.
// Example: examples/channel/pipeline.cpp
//
// Sender::send(value)
//
// Waits for room, then enqueues `value` (or hands it straight to a waiting receiver).
// Returns: Expected<void, SendError<T>>: an error, holding the value, if the channel is closed.
// Throws: tether::Cancelled.
// Cancellation: Not cancel-safe: the value is destroyed and nothing was sent; use reserve().
//   Cancelling also loses this call's place in the FIFO wait queue.
// Allocation: never allocates.
//
// Sender::try_send(value)
//
// Enqueues `value` if there is room now; never waits. Returns: Expected<void, TrySendError<T>>
// (kFull or kClosed, holding the value). Allocation: never allocates.
//
// Sender::send_until(value, deadline) / send_for(value, duration)
//
// As send(), but gives up when the deadline passes. Returns: Task<Expected<void,
// SendTimeoutError<T>>> (kTimedOut or kClosed, holding the value). Throws: tether::Cancelled.
// Cancellation: Not cancel-safe: the value is destroyed and nothing was sent; use reserve().
// Allocation: the coroutine frame and, unless Deadline::never(), one timeout scope.
//
// Sender::reserve()
//
// Waits for room and reserves one slot. Returns: std::optional<Permit<T>>; nullopt if the channel
// is closed. Throws: tether::Cancelled.
// Cancellation: Cancel-safe, but loses its place in the wait queue.
// Allocation: never allocates.
template <class T>
using Sender = detail::BoundedSender<T>;

// tether::mpsc::Permit<T>
//
// One reserved slot of a channel. std::move(permit).send(v) enqueues v at once (no waiting, no
// failure: if the receiver was destroyed meanwhile the value is destroyed, since nobody can read
// it). Dropping an unused permit returns the slot to the next waiting sender.
//
// Thread safety: thread-compatible (move-only; one owner).
// Lifetime: a permit counts as a sender: the receiver sees the channel closed only once every
//   permit is used or dropped.
template <class T>
using Permit = detail::BoundedPermit<T>;

// tether::mpsc::Receiver<T>
//
// Receiving half of a bounded multi-producer channel. Move-only: exactly one consumer.
//
// Thread safety: confined to one task at a time (it is move-only; do not await recv() from two
//   tasks at once).
// Memory ordering: as Sender.
// Lifetime: destroying the receiver closes the channel: waiting and future senders get their
//   values back as SendError, and values still buffered are destroyed.
// Example: examples/channel/pipeline.cpp
//
// Receiver::recv()
//
// Waits for the next value. Returns: std::optional<T>; nullopt once the channel is closed (every
// sender and permit gone, or close() called) and every value sent before that was received.
// Throws: tether::Cancelled.
// Cancellation: Cancel-safe: nothing was consumed. (A value offered to a cancelled recv stays in
//   the channel for the next one; this holds under select().)
// Allocation: never allocates.
//
// Receiver::try_recv()
//
// Takes the next value if there is one now. Returns: Expected<T, TryRecvError> (kEmpty or
// kClosed). Never waits, never allocates.
//
// Receiver::for_each(fn)
//
// Calls fn(value) for every value until the channel is closed and drained; returns how many.
// Cancellation: Cancel-safe: nothing was consumed (values already passed to fn are fn's).
// REQUIRES: the receiver outlives the returned task.
//
// Receiver::close()
//
// Stops new sends (they fail with the value handed back; waiting senders are woken with theirs);
// values already buffered, and those of outstanding permits, can still be received.
template <class T>
using Receiver = detail::BoundedReceiver<T, false>;

// tether::mpsc::channel<T>(capacity)
//
// Makes a channel that buffers at most `capacity` values. Returns {Sender, Receiver}.
// Throws: tether::Error if capacity is 0. Allocation: one block for the state and one for the ring.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
  auto* ch = detail::BoundedChannel<T>::create(capacity, 1, true);
  return {Sender<T>(ch), Receiver<T>(ch)};
}

}  // namespace tether::mpsc
