// A small bank built from actors: each account is an actor that owns its balance; transfers are
// two asks with a deadline (withdraw, then deposit); a supervisor restarts an account whose
// handler throws, and the account rebuilds its balance from the ledger, the bank's durable record.
//
// What it shows:
//   - typed messages (one handle() per alternative), tell vs ask, Reply<R>;
//   - ask with a deadline, and TimedOut when an account is busy past it;
//   - a supervisor (one-for-one) surviving a failing account: the failing message goes to the
//     dead-letter sink, the transfer queued behind it is still handled (the mailbox survives);
//   - a graceful stop that drains every mailbox.
//
// Run: build/<dir>/examples/example_actor_bank (exit status 0 when the books balance).
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>

#include "tether/actor/supervisor.hpp"
#include "tether/core/runtime.hpp"
#include "tether/sync/notify.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Reply;
using tether::Task;

// The durable record: what a restarted account reloads. (A database in a real bank.)
class Ledger {
 public:
  void record(const std::string& account, std::int64_t balance) {
    std::lock_guard<std::mutex> g(mu_);
    balances_[account] = balance;
  }
  std::int64_t load(const std::string& account, std::int64_t opening) {
    std::lock_guard<std::mutex> g(mu_);
    return balances_.try_emplace(account, opening).first->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::int64_t> balances_;
};

struct Deposit {
  std::int64_t amount;
  Reply<std::int64_t> reply;  // the new balance
};
struct Withdraw {
  std::int64_t amount;
  Reply<bool> reply;  // false: insufficient funds
};
struct Balance {
  Reply<std::int64_t> reply;
};
struct Audit {};  // this bank's audit code has a bug: it throws on a zero balance
struct Hold {     // keeps the account busy until released (to show a deadline passing)
  tether::sync::Notify* release;
};

class Account {
 public:
  using Message = std::variant<Deposit, Withdraw, Balance, Audit, Hold>;

  Account(std::string name, std::int64_t opening, Ledger* ledger)
      : name_(std::move(name)), ledger_(ledger), balance_(ledger->load(name_, opening)) {}

  void started() { std::printf("  [%s] open, balance %lld\n", name_.c_str(), static_cast<long long>(balance_)); }

  Task<void> handle(Deposit& m) {
    balance_ += m.amount;
    ledger_->record(name_, balance_);
    m.reply.send(balance_);
    co_return;
  }
  Task<void> handle(Withdraw& m) {
    bool ok = m.amount <= balance_;
    if (ok) {
      balance_ -= m.amount;
      ledger_->record(name_, balance_);
    }
    m.reply.send(ok);
    co_return;
  }
  Task<void> handle(Balance& m) {
    m.reply.send(balance_);
    co_return;
  }
  Task<void> handle(Audit&) {
    if (balance_ == 0) throw std::runtime_error("audit: division by zero balance");
    co_return;
  }
  Task<void> handle(Hold& m) { co_await m.release->notified(); }

 private:
  std::string name_;
  Ledger* ledger_;
  std::int64_t balance_;
};

using AccountRef = tether::ActorRef<Account::Message>;

// Moves `amount` from one account to another; each step has the same deadline.
Task<bool> transfer(const AccountRef& from, const AccountRef& to, std::int64_t amount, Deadline deadline) {
  bool withdrawn = co_await from.ask(Withdraw{amount, {}}, deadline);
  if (!withdrawn) co_return false;
  (void)co_await to.ask(Deposit{amount, {}}, deadline);
  co_return true;
}

Task<int> run_bank() {
  Ledger ledger;
  int dead_letters = 0;
  std::mutex dead_mu;
  tether::Supervisor bank({.name = "bank",
                           .strategy = tether::RestartStrategy::kOneForOne,
                           .intensity = {.max_restarts = 3, .window = 10s},
                           .dead_letters = [&](tether::DeadLetter& d) {
                             std::lock_guard<std::mutex> g(dead_mu);
                             ++dead_letters;
                             std::printf("  dead letter from %.*s: %s\n", static_cast<int>(d.actor().size()),
                                         d.actor().data(), d.reason().c_str());
                           }});
  auto account = [&](const char* name, std::int64_t opening) {
    return bank.add<Account>({.name = name, .mailbox = 32},
                             [&ledger, name, opening] { return Account(name, opening, &ledger); });
  };
  AccountRef alice = account("alice", 100);
  AccountRef bob = account("bob", 50);
  AccountRef carol = account("carol", 0);
  tether::SupervisorHandle running = bank.start();

  std::printf("transfers:\n");
  bool ok1 = co_await transfer(alice, bob, 30, Deadline::after(1s));
  bool ok2 = co_await transfer(bob, carol, 200, Deadline::after(1s));  // insufficient funds
  std::printf("  alice->bob 30: %s, bob->carol 200: %s\n", ok1 ? "done" : "refused", ok2 ? "done" : "refused");

  std::printf("carol's audit fails; the supervisor restarts her, the transfer behind it goes through:\n");
  (void)co_await carol.tell(Audit{});
  bool ok3 = co_await transfer(alice, carol, 20, Deadline::after(1s));
  std::printf("  alice->carol 20: %s\n", ok3 ? "done" : "refused");

  std::printf("bob is busy; an ask with a 50 ms deadline gives up:\n");
  tether::sync::Notify release;
  (void)co_await bob.tell(Hold{&release});
  bool timed_out = false;
  try {
    (void)co_await bob.ask(Balance{}, Deadline::after(50ms));
  } catch (const tether::TimedOut& e) {
    timed_out = true;
    std::printf("  %s\n", e.what());
  }
  release.notify_one();

  std::int64_t a = co_await alice.ask(Balance{}, Deadline::after(1s));
  std::int64_t b = co_await bob.ask(Balance{}, Deadline::after(1s));
  std::int64_t c = co_await carol.ask(Balance{}, Deadline::after(1s));
  std::printf("balances: alice %lld, bob %lld, carol %lld (total %lld)\n", static_cast<long long>(a),
              static_cast<long long>(b), static_cast<long long>(c), static_cast<long long>(a + b + c));

  running.stop(tether::StopMode::kDrain);
  co_await running.join();

  bool books_balance = a == 50 && b == 80 && c == 20 && a + b + c == 150;
  bool ok = ok1 && !ok2 && ok3 && timed_out && books_balance && dead_letters == 1;
  std::printf("%s\n", ok ? "the books balance" : "SOMETHING IS WRONG");
  co_return ok ? 0 : 1;
}

int main() {
  tether::Runtime rt({.workers = 2});
  return rt.block_on(run_bank());
}
