// Must NOT compile: a with() closure that suspends (returns a Task) would hold the lock across an
// await. tests/build_tests.cmake builds this file expecting the static_assert of check_locked_closure.
#include "tether/core/task.hpp"
#include "tether/sync/mutex.hpp"

tether::Task<void> bad(tether::sync::Mutex<int>& m) {
#ifndef TETHER_COMPILE_FAIL_CONTROL
  co_await m.with([](int& v) -> tether::Task<void> {  // the error
    ++v;
    co_return;
  });
#else
  co_await m.with([](int& v) { ++v; });  // positive control: the same file compiles without the error
#endif
}

int main() { return 0; }
