// peer-caf: the C++ Actor Framework (CAF 0.17, Debian's libcaf-dev) side of the actor workloads of
// the peer suite (protocol: bench/suite/PROTOCOL.md; semantics: docs/benchmarks.md).
//
//   peer-caf actor-tell n=1000000      one sender tells n integers to a summing actor, then asks
//                                      for the sum (check = n(n-1)/2)
//   peer-caf actor-ask  n=100000       a client asks a server n times in sequence, each request
//                                      with a 10 s timeout; the reply is the request + 1
//
// Both run on CAF's work-stealing scheduler with 2 threads (workers=N overrides), as tether does.
// Every other workload is reported unsupported (exit 3): CAF is compared on actors only.
// Built by bench/suite/run.py: g++ -std=c++20 -O2 peer_caf.cpp -lcaf_core -pthread
#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <string>

namespace {

using run_atom = caf::atom_constant<caf::atom("run")>;
using sum_atom = caf::atom_constant<caf::atom("sum")>;

std::map<std::string, std::uint64_t> params;
std::string workload;

std::uint64_t param(const char* key, std::uint64_t def) {
  auto it = params.find(key);
  return it == params.end() ? def : it->second;
}

void report(bool ok, std::uint64_t elapsed_ns, std::uint64_t ops, const std::string& extras, const std::string& err) {
  std::printf("{\"runtime\":\"caf\",\"workload\":\"%s\",\"ok\":%s,\"elapsed_ns\":%llu,\"ops\":%llu%s%s}\n",
              workload.c_str(), ok ? "true" : "false", static_cast<unsigned long long>(elapsed_ns),
              static_cast<unsigned long long>(ops), extras.c_str(), ok ? "" : (",\"error\":\"" + err + "\"").c_str());
  std::fflush(stdout);
}

// The summing actor: adds every integer it is told; answers sum_atom with the total.
caf::behavior summer(caf::stateful_actor<std::int64_t>* self) {
  self->state = 0;
  return {
      [=](std::int64_t x) { self->state += x; },
      [=](sum_atom) { return self->state; },
  };
}

// The sender: on run_atom, tells n integers, then forwards the request for the sum to the summer
// (its answer goes to whoever sent run_atom, after every integer: one sender's messages are FIFO).
caf::behavior sender(caf::event_based_actor* self, caf::actor target, std::int64_t n) {
  return {
      [=](run_atom) {
        for (std::int64_t i = 0; i < n; ++i) self->send(target, i);
        return self->delegate(target, sum_atom::value);
      },
  };
}

// The server of the ask workload.
caf::behavior echo_plus_one(caf::event_based_actor*) {
  return {
      [](std::int64_t x) { return x + 1; },
  };
}

struct ClientState {
  caf::response_promise done;
  std::int64_t bad = 0;
};

void ask_next(caf::stateful_actor<ClientState>* self, caf::actor server, std::int64_t i, std::int64_t n) {
  self->request(server, std::chrono::seconds(10), i)
      .then(
          [=](std::int64_t r) {
            if (r != i + 1) ++self->state.bad;
            if (i + 1 == n) {
              self->state.done.deliver(self->state.bad);
            } else {
              ask_next(self, server, i + 1, n);
            }
          },
          [=](caf::error&) {
            ++self->state.bad;
            self->state.done.deliver(self->state.bad);
          });
}

// The client: on run_atom, asks the server n times in sequence; answers with the number of wrong
// replies.
caf::behavior client(caf::stateful_actor<ClientState>* self, caf::actor server, std::int64_t n) {
  return {
      [=](run_atom) {
        self->state.done = self->make_response_promise();
        ask_next(self, server, 0, n);
        return self->state.done;
      },
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  workload = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos) return 2;
    params[a.substr(0, eq)] = std::strtoull(a.c_str() + eq + 1, nullptr, 10);
  }
  if (workload != "actor-tell" && workload != "actor-ask") {
    std::printf(
        "{\"runtime\":\"caf\",\"workload\":\"%s\",\"ok\":false,\"unsupported\":true,\"error\":\"peer-caf runs the "
        "actor workloads only\"}\n",
        workload.c_str());
    return 3;
  }
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", static_cast<size_t>(param("workers", 2)));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  using clock = std::chrono::steady_clock;
  const auto n = static_cast<std::int64_t>(param("n", workload == "actor-tell" ? 1'000'000 : 100'000));
  bool ok = false;
  std::string err;
  std::string extras;
  auto t0 = clock::now();
  if (workload == "actor-tell") {
    auto target = sys.spawn(summer);
    auto driver = sys.spawn(sender, target, n);
    std::int64_t sum = -1;
    self->request(driver, caf::infinite, run_atom::value)
        .receive([&](std::int64_t s) { sum = s; }, [&](caf::error& e) { err = sys.render(e); });
    ok = sum == n * (n - 1) / 2;
    if (!ok && err.empty()) err = "wrong sum " + std::to_string(sum);
    extras = ",\"check\":" + std::to_string(sum);
    self->send_exit(driver, caf::exit_reason::user_shutdown);
    self->send_exit(target, caf::exit_reason::user_shutdown);
  } else {
    auto server = sys.spawn(echo_plus_one);
    auto asker = sys.spawn(client, server, n);
    std::int64_t bad = -1;
    self->request(asker, caf::infinite, run_atom::value)
        .receive([&](std::int64_t b) { bad = b; }, [&](caf::error& e) { err = sys.render(e); });
    ok = bad == 0;
    if (!ok && err.empty()) err = std::to_string(bad) + " wrong replies";
    self->send_exit(asker, caf::exit_reason::user_shutdown);
    self->send_exit(server, caf::exit_reason::user_shutdown);
  }
  auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
  report(ok, static_cast<std::uint64_t>(elapsed), static_cast<std::uint64_t>(n), extras, err);
  return ok ? 0 : 1;
}
