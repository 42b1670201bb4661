// tether/channel/error.hpp
//
// The outcomes of channel operations. A closed channel, a full buffer or a missed broadcast value
// are normal flow, so they are values, not exceptions (STYLE.md §11); and nothing loses the
// caller's value: every send-side error carries it back.
//
//   Expected<T, E>        a value or an error, as std::expected (C++23); [[nodiscard]]
//   SendError<T>          send() on a channel whose receivers are gone (or closed); holds the value
//   TrySendError<T>       try_send(): kFull or kClosed; holds the value
//   SendTimeoutError<T>   send_until(): kTimedOut or kClosed; holds the value
//   TryRecvError          try_recv(): kEmpty or kClosed
//   oneshot::RecvError    the oneshot sender went away without sending
//   broadcast::RecvError  kClosed, or kLagged with how many values the receiver missed
//
// When to use something else: failures (a cancelled task, a deadline passed inside a wrapped
// operation) are exceptions derived from tether::Error, as everywhere in tether.
//
// Thread safety: plain values (thread-compatible).
// Example: examples/channel/pipeline.cpp
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "tether/core/error.hpp"

namespace tether {

// tether::Expected<T, E>
//
// Either a T (has_value()) or an E (error()). The C++20 stand-in for std::expected; T may be void.
// value() on an error throws tether::Error, so an ignored error does not become a silent default.
//
// Thread safety: thread-compatible (a plain value).
template <class T, class E>
class [[nodiscard]] Expected {
 public:
  static Expected success(T v) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return Expected(std::in_place_index<0>, std::move(v));
  }
  static Expected failure(E e) noexcept(std::is_nothrow_move_constructible_v<E>) {
    return Expected(std::in_place_index<1>, std::move(e));
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return *std::get_if<0>(&v_);
  }
  const T& value() const& {
    check();
    return *std::get_if<0>(&v_);
  }
  T&& value() && {
    check();
    return std::move(*std::get_if<0>(&v_));
  }
  T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }
  T* operator->() noexcept { return std::get_if<0>(&v_); }
  const T* operator->() const noexcept { return std::get_if<0>(&v_); }

  // REQUIRES: !has_value().
  E& error() & noexcept { return *std::get_if<1>(&v_); }
  const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

 private:
  template <std::size_t I, class A>
  Expected(std::in_place_index_t<I> i, A&& a) : v_(i, std::forward<A>(a)) {}
  void check() const {
    if (!has_value()) throw Error("Expected::value() on an error");
  }
  std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Expected<void, E> {
 public:
  static Expected success() noexcept { return Expected(); }
  static Expected failure(E e) noexcept(std::is_nothrow_move_constructible_v<E>) {
    Expected r;
    r.e_.emplace(std::move(e));
    return r;
  }

  bool has_value() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (e_) throw Error("Expected::value() on an error");
  }

  // REQUIRES: !has_value().
  E& error() & noexcept { return *e_; }
  const E& error() const& noexcept { return *e_; }
  E&& error() && noexcept { return std::move(*e_); }

 private:
  Expected() noexcept = default;
  std::optional<E> e_;
};

// tether::SendError<T>
//
// send() found the channel closed: every receiver is gone, or a receiver called close(). The value
// was not sent; it is handed back.
template <class T>
struct SendError {
  T value;

  T into_value() && noexcept(std::is_nothrow_move_constructible_v<T>) { return std::move(value); }
  static constexpr std::string_view message() noexcept { return "channel closed"; }
};

// tether::TrySendError<T>
//
// try_send() could not send without waiting: the buffer is full (kFull), or the channel is closed
// (kClosed). The value is handed back.
template <class T>
struct TrySendError {
  enum class Kind : std::uint8_t { kFull, kClosed };
  Kind kind;
  T value;

  bool is_full() const noexcept { return kind == Kind::kFull; }
  bool is_closed() const noexcept { return kind == Kind::kClosed; }
  T into_value() && noexcept(std::is_nothrow_move_constructible_v<T>) { return std::move(value); }
  std::string_view message() const noexcept { return is_full() ? "channel full" : "channel closed"; }
};

// tether::SendTimeoutError<T>
//
// send_until() gave up: the deadline passed while the buffer stayed full (kTimedOut), or the
// channel is closed (kClosed). The value is handed back.
template <class T>
struct SendTimeoutError {
  enum class Kind : std::uint8_t { kTimedOut, kClosed };
  Kind kind;
  T value;

  bool is_timed_out() const noexcept { return kind == Kind::kTimedOut; }
  bool is_closed() const noexcept { return kind == Kind::kClosed; }
  T into_value() && noexcept(std::is_nothrow_move_constructible_v<T>) { return std::move(value); }
  std::string_view message() const noexcept { return is_timed_out() ? "send timed out" : "channel closed"; }
};

// tether::TryRecvError
//
// try_recv() found nothing: the buffer is empty but senders remain (kEmpty), or the channel is
// closed and drained (kClosed).
struct TryRecvError {
  enum class Kind : std::uint8_t { kEmpty, kClosed };
  Kind kind;

  bool is_empty() const noexcept { return kind == Kind::kEmpty; }
  bool is_closed() const noexcept { return kind == Kind::kClosed; }
  std::string_view message() const noexcept { return is_empty() ? "channel empty" : "channel closed"; }
  friend bool operator==(const TryRecvError&, const TryRecvError&) = default;
};

namespace oneshot {

// tether::oneshot::RecvError
//
// The sender went away without sending (it was destroyed, or the task holding it failed).
struct RecvError {
  static constexpr std::string_view message() noexcept { return "oneshot sender gone"; }
};

}  // namespace oneshot

namespace broadcast {

// tether::broadcast::RecvError
//
// kLagged: the receiver fell more than the capacity behind and `missed` values were overwritten
// before it read them; its next recv() continues with the oldest value still held. kClosed: every
// sender is gone and the receiver has read everything.
struct RecvError {
  enum class Kind : std::uint8_t { kClosed, kLagged };
  Kind kind;
  std::uint64_t missed = 0;  // kLagged only

  bool is_closed() const noexcept { return kind == Kind::kClosed; }
  bool is_lagged() const noexcept { return kind == Kind::kLagged; }
  std::string_view message() const noexcept { return is_closed() ? "channel closed" : "receiver lagged"; }
};

// tether::broadcast::TryRecvError: kEmpty (nothing new yet), kClosed, or kLagged with `missed`.
struct TryRecvError {
  enum class Kind : std::uint8_t { kEmpty, kClosed, kLagged };
  Kind kind;
  std::uint64_t missed = 0;  // kLagged only

  bool is_empty() const noexcept { return kind == Kind::kEmpty; }
  bool is_closed() const noexcept { return kind == Kind::kClosed; }
  bool is_lagged() const noexcept { return kind == Kind::kLagged; }
};

}  // namespace broadcast

}  // namespace tether
