// examples/channel/pipeline.cpp
//
// Shows a bounded pipeline: a producer → three workers → a collector, joined by bounded channels so
// that backpressure reaches the producer when the collector is slow; closing propagates by dropping
// senders (each stage ends when its input is closed and drained); a oneshot carries the final
// report back; reserve() sends without risking a value on cancellation.
//
// Run: build/debug/examples/example_channel_pipeline
#include <cstdio>
#include <string>
#include <vector>

#include "tether/channel/mpmc.hpp"
#include "tether/channel/mpsc.hpp"
#include "tether/channel/oneshot.hpp"
#include "tether/core/runtime.hpp"
#include "tether/core/spawn.hpp"

namespace {

using tether::Task;

struct Job {
  int id;
  std::string text;
};
struct Done {
  int id;
  std::size_t length;
};
struct Report {
  int jobs = 0;
  std::size_t total_length = 0;
};

// Stage 1: produces jobs. reserve() waits for room first, so if this task were cancelled while
// waiting, no job would be lost half-sent.
Task<void> produce(tether::mpmc::Sender<Job> out, int n) {
  for (int i = 0; i < n; ++i) {
    auto permit = co_await out.reserve();
    if (!permit) co_return;  // the workers are gone
    std::move(*permit).send(Job{i, std::string(static_cast<std::size_t>(i % 17), 'x')});
  }
}  // `out` is dropped here: the workers see the channel closed once they drained it

// Stage 2: several workers compete for jobs (mpmc) and feed one collector (mpsc).
Task<void> work(tether::mpmc::Receiver<Job> in, tether::mpsc::Sender<Done> out) {
  while (auto job = co_await in.recv()) {
    auto sent = co_await out.send(Done{job->id, job->text.size()});
    if (!sent) co_return;  // the collector is gone; sent.error().value is the undelivered result
  }
}

// Stage 3: one collector; reports through a oneshot when every worker has finished.
Task<void> collect(tether::mpsc::Receiver<Done> in, tether::oneshot::Sender<Report> report) {
  Report r;
  co_await in.for_each([&](Done d) {
    ++r.jobs;
    r.total_length += d.length;
  });
  (void)report.send(r);
}

Task<int> run() {
  constexpr int kJobs = 1000;
  auto [job_tx, job_rx] = tether::mpmc::channel<Job>(16);
  auto [done_tx, done_rx] = tether::mpsc::channel<Done>(16);
  auto [report_tx, report_rx] = tether::oneshot::channel<Report>();

  std::vector<tether::JoinHandle<void>> stages;
  stages.push_back(tether::spawn(produce(std::move(job_tx), kJobs), {.name = "producer"}));
  for (int w = 0; w < 3; ++w) stages.push_back(tether::spawn(work(job_rx, done_tx), {.name = "worker"}));
  stages.push_back(tether::spawn(collect(std::move(done_rx), std::move(report_tx)), {.name = "collector"}));
  // Drop our own handles, or the stages would wait for us to close them.
  {
    auto a = std::move(job_rx);
    auto b = std::move(done_tx);
  }

  auto report = co_await report_rx;
  for (auto& s : stages) co_await s;
  if (!report) {
    std::printf("collector died without reporting\n");
    co_return 1;
  }
  std::size_t expected = 0;
  for (int i = 0; i < kJobs; ++i) expected += static_cast<std::size_t>(i % 17);
  std::printf("collected %d jobs, total length %zu (expected %zu)\n", report->jobs, report->total_length, expected);
  co_return report->jobs == kJobs && report->total_length == expected ? 0 : 1;
}

}  // namespace

int main() {
  tether::Runtime rt({.workers = 2});
  return rt.block_on(run());
}
