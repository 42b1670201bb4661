// Durability for tether-kv: the append-only log's single writer task, the everysec ticker, and
// compaction (rewrite).
//
// Defines:
//   aof_writer()        the only task that touches the log file; fed by a bounded mpsc channel
//   aof_sync_ticker()   appendfsync everysec: asks the writer to fsync once a second
//   aof_rewrite()       compaction's snapshot half: dumps every shard to "<log>.rewrite"
//
// The writer's loop (group commit): wait for one message, take whatever else is queued (up to
// 4 MiB), write it with one call, then fsync if a message asked for it (a kBarrier under
// appendfsync always, a kSync tick under everysec, kShutdown always), then answer every barrier of
// the group. So under `always` one fsync covers every client that wrote meanwhile, and a client
// gets its reply only after its records are on disk (connection.cpp sends the barrier after its
// batch's records and waits for the answer before writing replies).
//
// Compaction protocol (rewrite), relying on server.hpp's AOF ordering rule:
//   1. When the log passes ServerConfig::aof_rewrite_min_size and has doubled since the last
//      rewrite, the writer sets `rewriting` and starts aof_rewrite() as a tracked task.
//   2. aof_rewrite() visits the shards one at a time; under each shard's lock it dumps the shard
//      (SET [PXAT] records) and notes the shard's aof_seq; it writes each dump to the temp file
//      outside the lock (file I/O runs on the blocking pool, with deadlines), fsyncs, and sends
//      kRewriteDone with the noted sequence numbers.
//   3. Meanwhile the writer keeps appending records to the old log (durability is unchanged) and
//      also keeps a copy of each record received since step 1 (the tail).
//   4. On kRewriteDone the writer appends to the temp file every tail record whose seq is above
//      its shard's snapshot seq (those the snapshot lacks), fsyncs, renames the temp file over the
//      log, fsyncs the directory and reopens the log. A failed rewrite leaves the old log alone.
// The pause a rewrite causes is one shard's dump at a time, never the whole keyspace.
#pragma once

#include "server.hpp"
#include "tether/io/file.hpp"
#include "tether/task/task_tracker.hpp"

namespace tether::kv {

// Runs until it receives kShutdown (or every sender is gone). Never throws except Cancelled;
// I/O failures are logged, counted (INFO aof_last_write_status) and answered as `false` to
// barriers. `background` tracks the rewrite tasks it starts.
Task<void> aof_writer(ServerContext& ctx, mpsc::Receiver<AofMsg> rx, io::File log, TaskTracker& background);

// Sends kSync once a second until cancelled.
Task<void> aof_sync_ticker(ServerContext& ctx);

// Step 2 of the compaction protocol.
Task<void> aof_rewrite(ServerContext& ctx);

// Opens the log for appending (creating it). Throws io::Error, TimedOut.
Task<io::File> open_aof_for_append(const std::string& path);

}  // namespace tether::kv
