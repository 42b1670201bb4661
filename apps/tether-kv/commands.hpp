// Connection-level commands that need no connection state: INFO, COMMAND, CONFIG, HELLO.
//
// Defines:
//   info_text()        INFO's body: server, clients, stats, persistence, keyspace, runtime sections
//   command_command()  COMMAND, COMMAND COUNT/DOCS/INFO: enough for redis-cli and redis-benchmark
//   config_command()   CONFIG GET (read-only view of the options), CONFIG RESETSTAT
//   hello_command()    HELLO [2]: RESP2 only (HELLO 3 gets Redis's NOPROTO error)
//
// Thread safety: each reads shared state through atomics or shard locks only.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "server.hpp"

namespace tether::kv {

// `section` lowercase; "" / "default" / "all" / "everything": every section.
Task<std::string> info_text(ServerContext& ctx, std::string section);
void command_command(std::span<const std::string_view> args, std::string& out);
void config_command(ServerContext& ctx, std::span<const std::string_view> args, std::string& out);
void hello_command(ServerContext& ctx, std::uint64_t client_id, std::span<const std::string_view> args,
                   std::string& out);

}  // namespace tether::kv
