// bank_counter: many tasks move money between accounts held in one Mutex<Bank>, using with(), the
// lock API whose closure cannot suspend; a Semaphore bounds how many transfers are in flight; a
// Shared<Rates> is read on every transfer without locking. Checks that no money is created or lost.
// Run: ./example_sync_bank_counter  (exits 0 when the books balance)
#include <cstdio>
#include <vector>

#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/core/yield.hpp"
#include "tether/sync/mutex.hpp"
#include "tether/sync/semaphore.hpp"
#include "tether/sync/shared.hpp"

namespace {

struct Bank {
  std::vector<long> balances = std::vector<long>(16, 1000);
  long transfers = 0;
};

struct Rates {
  long fee = 0;  // read-mostly configuration
};

struct Ctx {  // the dependency bundle each teller task gets
  tether::sync::Mutex<Bank>& bank;
  tether::sync::Semaphore& in_flight;
  const tether::sync::Shared<Rates>& rates;
};

tether::Task<void> teller(const Ctx& ctx, int id) {
  for (int i = 0; i < 500; ++i) {
    auto permit = co_await ctx.in_flight.acquire();
    const long fee = ctx.rates.read([](const Rates& r) { return r.fee; });
    const std::size_t from = static_cast<std::size_t>((id + i) % 16), to = static_cast<std::size_t>((id * 7 + i) % 16);
    // The critical section: no co_await can appear inside, so the lock is never held across one.
    const bool ok = co_await ctx.bank.with([&](Bank& b) {
      if (b.balances[from] < 10 + fee) return false;
      b.balances[from] -= 10;
      b.balances[to] += 10;
      ++b.transfers;
      return true;
    });
    if (!ok) co_await tether::yield_now();  // awaiting happens outside the lock
  }
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2});
  tether::sync::Mutex<Bank> bank;
  tether::sync::Semaphore in_flight(8);
  tether::sync::Shared<Rates> rates;
  const Ctx ctx{bank, in_flight, rates};
  auto root = [](const Ctx* ctx) -> tether::Task<long> {
    std::vector<tether::JoinHandle<void>> tellers;
    for (int id = 0; id < 32; ++id) tellers.push_back(tether::spawn(teller(*ctx, id)));
    for (auto& t : tellers) co_await t;
    co_return co_await ctx->bank.with([](Bank& b) {
      long total = 0;
      for (long v : b.balances) total += v;
      return total;
    });
  };
  const long total = rt.block_on(root(&ctx));
  std::printf("transfers: %ld, total: %ld\n", bank.get_unsynchronized().transfers, total);
  return total == 16 * 1000 ? 0 : 1;
}
