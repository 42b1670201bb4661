// tether/channel/mpmc.hpp
//
// A bounded multi-producer, multi-consumer channel: a work queue that several worker tasks drain,
// each value going to exactly one of them.
//
//   mpmc::channel<T>(capacity)   makes a channel; returns {Sender, Receiver}
//   mpmc::Sender<T>              copyable sending half (the same type and API as mpsc::Sender)
//   mpmc::Permit<T>              a reserved slot (as mpsc::Permit)
//   mpmc::Receiver<T>            copyable receiving half: every copy competes for the values
//
// Which channel should you use? See mpsc.hpp and docs/channels.md. Use mpsc when there is one
// consumer: its receiver is move-only, so the type says so.
//
//   auto [tx, rx] = tether::mpmc::channel<Job>(256);
//   for (int i = 0; i < 4; ++i) spawn(worker(rx));   // each worker owns a copy of rx
//
// Example: tests/channel/mpmc_test.cpp
#pragma once

#include <cstddef>
#include <utility>

#include "tether/channel/detail/bounded_handles.hpp"
#include "tether/channel/error.hpp"

namespace tether::mpmc {

// tether::mpmc::Sender<T>: see mpsc::Sender<T>; identical semantics.
template <class T>
using Sender = detail::BoundedSender<T>;

// tether::mpmc::Permit<T>: see mpsc::Permit<T>.
template <class T>
using Permit = detail::BoundedPermit<T>;

// tether::mpmc::Receiver<T>
//
// Receiving half of a bounded multi-producer, multi-consumer channel. Copying it adds a consumer;
// each value is received by exactly one of them. Waiting receivers are served first-in first-out.
// The values are delivered in the order they were enqueued (which consumer processes its value
// first is up to the scheduler).
//
// Thread safety: thread-safe: copies may be used from any task concurrently; one Receiver object is
//   thread-compatible.
// Memory ordering: everything a sender did before send(v) is visible to the task whose recv()
//   returns v.
// Lifetime: when the last copy is destroyed the channel closes as for mpsc::Receiver. close() on
//   any copy closes the channel for every copy (buffered values stay receivable).
//
// Receiver::recv(), try_recv(), for_each(fn), close(): as mpsc::Receiver.
// recv() Cancellation: Cancel-safe: nothing was consumed.
template <class T>
using Receiver = detail::BoundedReceiver<T, true>;

// tether::mpmc::channel<T>(capacity)
//
// Makes a channel that buffers at most `capacity` values. Returns {Sender, Receiver}.
// Throws: tether::Error if capacity is 0. Allocation: one block for the state and one for the ring.
template <class T>
[[nodiscard]] std::pair<Sender<T>, Receiver<T>> channel(std::size_t capacity) {
  auto* ch = detail::BoundedChannel<T>::create(capacity, 1, false);
  return {Sender<T>(ch), Receiver<T>(ch)};
}

}  // namespace tether::mpmc
