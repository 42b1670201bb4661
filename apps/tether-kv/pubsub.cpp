// Pub/sub registry: see pubsub.hpp for the design and the ordering rule.
#include "pubsub.hpp"

#include <optional>
#include <utility>

#include "glob.hpp"
#include "resp.hpp"
#include "server.hpp"

namespace tether::kv {

namespace {

// Queues `bytes` for `sub` without waiting; a full queue marks the subscriber overflowed (its
// pusher then disconnects it) and the message is dropped for it.
void deliver(Subscriber& sub, std::string bytes, ServerStats& stats) {
  if (sub.overflowed->load(std::memory_order_acquire)) return;  // acquire: pairs with the store below
  auto r = sub.tx.try_send(std::move(bytes));
  if (!r && r.error().is_full()) {
    // release: pairs with the pusher's acquire load (pubsub.hpp, Subscriber::overflowed)
    if (!sub.overflowed->exchange(true, std::memory_order_acq_rel)) bump(stats.pubsub_overflows);
  }
}

}  // namespace

Task<void> PubSub::subscribe(std::shared_ptr<Subscriber> sub, std::vector<std::string> names, bool pattern,
                             std::string reply) {
  auto permit = co_await sub->tx.reserve();
  if (!permit) throw Error("subscriber queue closed");
  co_await registry_.with([&](Registry& r) {
    auto& table = pattern ? r.patterns : r.channels;
    for (auto& n : names) table[n].emplace(sub->id, sub);
    std::move(*permit).send(std::move(reply));
  });
}

Task<void> PubSub::unsubscribe(std::shared_ptr<Subscriber> sub, std::vector<std::string> names, bool pattern,
                               std::string reply) {
  auto permit = co_await sub->tx.reserve();
  if (!permit) throw Error("subscriber queue closed");
  co_await registry_.with([&](Registry& r) {
    auto& table = pattern ? r.patterns : r.channels;
    for (auto& n : names) {
      auto it = table.find(n);
      if (it == table.end()) continue;
      it->second.erase(sub->id);
      if (it->second.empty()) table.erase(it);
    }
    std::move(*permit).send(std::move(reply));
  });
}

Task<void> PubSub::remove_all(std::shared_ptr<Subscriber> sub, std::vector<std::string> channels,
                              std::vector<std::string> patterns) {
  co_await registry_.with([&](Registry& r) {
    auto drop = [&](std::unordered_map<std::string, Members>& table, const std::vector<std::string>& names) {
      for (auto& n : names) {
        auto it = table.find(n);
        if (it == table.end()) continue;
        it->second.erase(sub->id);
        if (it->second.empty()) table.erase(it);
      }
    };
    drop(r.channels, channels);
    drop(r.patterns, patterns);
  });
}

Task<std::int64_t> PubSub::publish(std::string_view channel, std::string_view message) {
  co_return co_await registry_.with([&](Registry& r) -> std::int64_t {
    std::int64_t receivers = 0;
    if (auto it = r.channels.find(std::string(channel)); it != r.channels.end()) {
      std::string bytes;
      append_array_header(bytes, 3);
      append_bulk(bytes, "message");
      append_bulk(bytes, channel);
      append_bulk(bytes, message);
      for (auto& [id, sub] : it->second) {
        deliver(*sub, bytes, stats_);
        ++receivers;
      }
    }
    for (auto& [pattern, members] : r.patterns) {
      if (!glob_match(pattern, channel)) continue;
      std::string bytes;
      append_array_header(bytes, 4);
      append_bulk(bytes, "pmessage");
      append_bulk(bytes, pattern);
      append_bulk(bytes, channel);
      append_bulk(bytes, message);
      for (auto& [id, sub] : members) {
        deliver(*sub, bytes, stats_);
        ++receivers;
      }
    }
    return receivers;
  });
}

Task<std::pair<std::size_t, std::size_t>> PubSub::counts() {
  co_return co_await registry_.with([](Registry& r) { return std::pair{r.channels.size(), r.patterns.size()}; });
}

}  // namespace tether::kv
