// How tether-kv shards its keyspace, measured: Mutex<T> shards entered with the closure API (what
// tether-kv does) against shard owner tasks fed by bounded channels (an actor per shard, each request
// carrying a oneshot reply). Same map, same 64 shards, same clients: 100 tasks on 2 workers, each
// doing 10,000 operations on random keys of a 10,000-key space, 80% GET and 20% SET.
// Run: build with -DCMAKE_BUILD_TYPE=Release -DTETHER_BUILD_BENCH=ON, then
//   ./bench/tether_micro_bench --benchmark_filter=KvShard
#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/sync/mutex.hpp"

namespace {

using tether::Task;
using Map = std::unordered_map<std::string, std::string>;

constexpr int kShards = 64;
constexpr int kClients = 100;
constexpr int kOpsPerClient = 10'000;
constexpr int kKeys = 10'000;

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  keys.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) keys.push_back("key:" + std::to_string(i));
  return keys;
}

std::size_t shard_of(const std::string& key) { return std::hash<std::string>{}(key) % kShards; }

// ---- Mutex<Map> shards, closure API ----
Task<std::uint64_t> mutex_client(std::vector<tether::sync::Mutex<Map>>* shards, const std::vector<std::string>* keys,
                                 unsigned seed) {
  std::minstd_rand rng(seed);
  std::uint64_t hits = 0;
  for (int i = 0; i < kOpsPerClient; ++i) {
    const std::string& key = (*keys)[rng() % kKeys];
    auto& shard = (*shards)[shard_of(key)];
    if (rng() % 5 == 0) {
      co_await shard.with([&key](Map& m) { m[key] = "value"; });
    } else {
      hits += co_await shard.with([&key](Map& m) { return m.count(key); });
    }
  }
  co_return hits;
}

void BM_KvShardMutex(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const auto keys = make_keys();
  for (auto _ : state) {
    std::vector<tether::sync::Mutex<Map>> shards(kShards);
    auto root = [](std::vector<tether::sync::Mutex<Map>>* shards, const std::vector<std::string>* keys) -> Task<void> {
      std::vector<tether::JoinHandle<std::uint64_t>> hs;
      for (int c = 0; c < kClients; ++c) hs.push_back(tether::spawn(mutex_client(shards, keys, c + 1)));
      for (auto& h : hs) (void)co_await h;
    };
    rt.block_on(root(&shards, &keys));
  }
  state.SetItemsProcessed(state.iterations() * kClients * kOpsPerClient);
}
BENCHMARK(BM_KvShardMutex)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- shard owner tasks (actors) fed by bounded channels ----
struct Request {
  const std::string* key;
  bool set;
  tether::oneshot::Sender<std::size_t> reply;
};

Task<void> shard_owner(tether::mpsc::Receiver<Request> rx) {
  Map m;
  while (auto req = co_await rx.recv()) {
    std::size_t result = 0;
    if (req->set) {
      m[*req->key] = "value";
    } else {
      result = m.count(*req->key);
    }
    (void)req->reply.send(result);
  }
}

Task<std::uint64_t> actor_client(std::vector<tether::mpsc::Sender<Request>>* shards,
                                 const std::vector<std::string>* keys, unsigned seed) {
  std::minstd_rand rng(seed);
  std::uint64_t hits = 0;
  for (int i = 0; i < kOpsPerClient; ++i) {
    const std::string& key = (*keys)[rng() % kKeys];
    auto [tx, rx] = tether::oneshot::channel<std::size_t>();
    Request req{&key, rng() % 5 == 0, std::move(tx)};
    auto sent = co_await (*shards)[shard_of(key)].send(std::move(req));
    if (!sent) co_return hits;
    auto got = co_await rx.recv();
    if (got) hits += *got;
  }
  co_return hits;
}

void BM_KvShardActor(benchmark::State& state) {
  tether::Runtime rt({.workers = 2});
  const auto keys = make_keys();
  for (auto _ : state) {
    auto root = [](const std::vector<std::string>* keys) -> Task<void> {
      std::vector<tether::mpsc::Sender<Request>> senders;
      std::vector<tether::JoinHandle<void>> owners;
      for (int s = 0; s < kShards; ++s) {
        auto [tx, rx] = tether::mpsc::channel<Request>(1024);
        senders.push_back(std::move(tx));
        owners.push_back(tether::spawn(shard_owner(std::move(rx))));
      }
      std::vector<tether::JoinHandle<std::uint64_t>> hs;
      for (int c = 0; c < kClients; ++c) hs.push_back(tether::spawn(actor_client(&senders, keys, c + 1)));
      for (auto& h : hs) (void)co_await h;
      senders.clear();  // the owners drain and stop
      for (auto& o : owners) co_await o;
    };
    rt.block_on(root(&keys));
  }
  state.SetItemsProcessed(state.iterations() * kClients * kOpsPerClient);
}
BENCHMARK(BM_KvShardActor)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
