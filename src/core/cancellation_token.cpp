// CancellationToken's out-of-line parts.
#include "tether/core/cancellation_token.hpp"

namespace tether {
namespace {

// A token that is not a task: a heap node of the cancellation tree.
class TokenState final : public detail::CancelState {
 public:
  explicit TokenState(detail::CancelState* parent) : CancelState(parent) {}

 protected:
  void destroy_self() noexcept override { delete this; }
};

}  // namespace

CancellationToken::CancellationToken() : state_(new TokenState(nullptr)) {}

CancellationToken CancellationToken::current() {
  detail::TaskHeader* t = detail::current_task();
  if (!t) throw Error("CancellationToken::current() called outside a tether task");
  t->scope->add_ref();
  return CancellationToken(t->scope);
}

CancellationToken CancellationToken::child() const { return CancellationToken(new TokenState(state_)); }

}  // namespace tether
