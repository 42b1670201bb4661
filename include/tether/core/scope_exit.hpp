// tether/core/scope_exit.hpp
//
// ScopeExit: runs a callable when the scope ends, however it ends: normal exit, exception, or a
// Cancelled thrown at a suspension point. The way to write cleanup that cancellation cannot skip.
//
//   auto release = tether::ScopeExit([&] { pool.give_back(conn); });
//
// If the cleanup itself must await (flush, close with a deadline), run it in a shield() instead.
//
// Thread safety: confined to its owning task.
#pragma once

#include <utility>

namespace tether {

template <class Fn>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(Fn fn) noexcept(std::is_nothrow_move_constructible_v<Fn>) : fn_(std::move(fn)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ScopeExit(ScopeExit&&) = delete;
  ScopeExit& operator=(ScopeExit&&) = delete;
  ~ScopeExit() {
    if (armed_) fn_();
  }
  // Cancels the cleanup (e.g. after a commit succeeded).
  void release() noexcept { armed_ = false; }

 private:
  Fn fn_;
  bool armed_ = true;
};

}  // namespace tether
