// examples/patterns/file_pipeline.cpp
//
// Shows a multi-stage Pipeline over a file: writes a temporary log file, then reads it line by line
// (a source task feeding a bounded channel), parses each line on 4 workers (order kept), drops
// nothing, classifies on 2 unordered workers, and counts in the sink. Prints the per-stage metrics
// (items, queue depth, busy time) that show which stage is the bottleneck, and removes the file.
// Every file operation has a deadline.
//
// Run: build/<dir>/examples/example_patterns_file_pipeline   (exits 0 on success)
#include <unistd.h>
#include <cstdio>
#include <map>
#include <string>

#include "tether/channel/mpsc.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"
#include "tether/io/buffered.hpp"
#include "tether/io/file.hpp"
#include "tether/patterns/pipeline.hpp"
#include "tether/time/sleep.hpp"

using namespace std::chrono_literals;
using tether::Deadline;
using tether::Task;
namespace io = tether::io;

namespace {

constexpr int kLines = 2000;

struct Entry {
  int seq = 0;
  std::string level;
  int latency_ms = 0;
};

// Stage 0: the file, a line at a time, into a bounded channel (the reader waits when it is full).
Task<void> read_lines(std::string path, tether::mpsc::Sender<std::string> out) {
  io::File file = co_await io::File::open(path, {.read = true}, Deadline::after(5s));
  io::BufReader reader(file);
  std::string line;
  while (co_await reader.read_line(line, Deadline::after(5s))) {
    if (!co_await out.send(line)) co_return;  // the pipeline is gone
  }
}  // dropping `out` closes the source: the pipeline drains and ends

// Stage 1: "17 WARN 250" -> Entry.
Entry parse(std::string line) {
  Entry e;
  auto a = line.find(' ');
  auto b = line.find(' ', a + 1);
  e.seq = std::stoi(line.substr(0, a));
  e.level = line.substr(a + 1, b - a - 1);
  e.latency_ms = std::stoi(line.substr(b + 1));
  return e;
}

// Stage 2: pretend each classification asks a slow service.
Task<std::string> classify(Entry e) {
  co_await tether::sleep(1ms);
  co_return e.level == "ERROR" || e.latency_ms > 900 ? "alert" : "ok";
}

Task<int> run(std::string path) {
  std::string text;
  for (int i = 0; i < kLines; ++i) {
    const char* level = i % 50 == 0 ? "ERROR" : i % 7 == 0 ? "WARN" : "INFO";
    text += std::to_string(i) + " " + level + " " + std::to_string((i * 37) % 1000) + "\n";
  }
  co_await io::write_file(path, text, Deadline::after(5s));

  auto [tx, rx] = tether::mpsc::channel<std::string>(64);
  auto reader = tether::spawn(read_lines(path, std::move(tx)), {.name = "file reader"});
  std::map<std::string, int> counts;
  auto pipeline = tether::pipeline(std::move(rx), {.name = "lines", .capacity = 32})
                      .stage(parse, {.name = "parse", .parallelism = 4, .capacity = 32})
                      .stage(classify, {.name = "classify", .parallelism = 8, .capacity = 32, .ordered = false});
  auto monitor = pipeline.monitor();
  auto report = co_await std::move(pipeline).sink([&counts](std::string kind) { ++counts[kind]; }, {.name = "count"});
  co_await reader;
  co_await io::remove_file(path, Deadline::after(5s));

  std::printf("%-9s %8s %8s %6s %12s\n", "stage", "in", "out", "queue", "busy");
  for (const auto& s : report.stages) {
    std::printf("%-9s %8llu %8llu %6zu %9.3f ms\n", s.name.c_str(), static_cast<unsigned long long>(s.items_in),
                static_cast<unsigned long long>(s.items_out), s.queue_depth, s.busy.count() / 1e6);
  }
  std::printf("bottleneck: %s; alerts %d, ok %d\n", report.bottleneck()->name.c_str(), counts["alert"], counts["ok"]);
  (void)monitor;
  co_return counts["alert"] + counts["ok"] == kLines ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2, .name = "file-pipeline"});
  std::string path = "/tmp/tether_pipeline_example_" + std::to_string(::getpid()) + ".log";
  try {
    return rt.block_on(run(path));
  } catch (const tether::PipelineError& e) {
    std::fprintf(stderr, "file_pipeline: stage %s failed: %s\n", e.stage().c_str(), e.what());
    return 1;
  } catch (const tether::Error& e) {
    std::fprintf(stderr, "file_pipeline: %s\n", e.what());
    return 1;
  }
}
