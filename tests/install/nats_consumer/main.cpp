// Built against an installed tether with find_package(tether REQUIRED COMPONENTS nats) and with
// pkg-config (tether-nats). Needs no NATS server: connect() refuses options that name no server,
// before any network call. Prints "nats consumer ok".
#include <tether/nats/nats.hpp>
#include <tether/tether.hpp>

#include <chrono>
#include <cstdio>

tether::Task<bool> refuses_options_without_servers() {
  tether::nats::ConnectOptions options;
  options.name = "tether-install-check";
  try {
    auto connection =
        co_await tether::nats::Connection::connect(options, tether::Deadline::after(std::chrono::seconds(5)));
    (void)connection;
  } catch (const tether::Error&) {
    co_return true;
  }
  co_return false;
}

int main() {
  tether::Runtime rt({.workers = 2});
  if (!rt.block_on(refuses_options_without_servers())) {
    std::printf("nats consumer: connect() accepted options without servers\n");
    return 1;
  }
  std::printf("nats consumer ok\n");
  return 0;
}
