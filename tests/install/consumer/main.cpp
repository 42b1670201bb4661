// Built against an installed tether (find_package and pkg-config); prints "consumer ok 42".
#include <tether/tether.hpp>

#include <cstdio>

tether::Task<int> answer() {
  auto h = tether::spawn([]() -> tether::Task<int> { co_return 42; }());
  co_return co_await h;
}

int main() {
  tether::Runtime rt({.workers = 2});
  std::printf("consumer ok %d\n", rt.block_on(answer()));
  return 0;
}
