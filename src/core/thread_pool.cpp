// Blocking and compute pools; protocol in include/tether/core/detail/thread_pool.hpp.
#include "tether/core/detail/thread_pool.hpp"

#include <pthread.h>

#include "tether/core/detail/task_header.hpp"

namespace tether::detail {

ThreadPool::ThreadPool(Options o) : opts_(std::move(o)) {
  if (opts_.fixed) {
    std::lock_guard<std::mutex> g(mu_);
    for (std::size_t i = 0; i < opts_.max_threads; ++i) start_thread_locked();
  }
}

ThreadPool::~ThreadPool() {
  std::deque<PoolJob*> dropped;
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    for (PoolJob* j : submitters_) dropped.push_back(j);
    submitters_.clear();
  }
  cv_.notify_all();
  for (Worker& w : workers_) {
    if (w.thread.joinable()) w.thread.join();
  }
  // Jobs that never ran: their tasks are being torn down with the runtime; nobody waits for them.
  for (PoolJob* j : dropped) j->release();
}

void ThreadPool::start_thread_locked() {
  reap_exited_locked();
  workers_.emplace_back();
  Worker* w = &workers_.back();
  ++live_threads_;
  if (live_threads_ > peak_) peak_ = live_threads_;
  w->thread = std::thread([this, w] { worker_loop(w); });
}

void ThreadPool::reap_exited_locked() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->exited) {
      it->thread.join();  // it has returned from worker_loop, or is about to
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void ThreadPool::submit(PoolJob* job) {
  job->add_ref();  // the pool's reference, dropped after run()
  std::unique_lock<std::mutex> g(mu_);
  if (queue_.size() < opts_.queue_capacity) {
    job->stage = PoolJob::Stage::kQueued;
    queue_.push_back(job);
    // Idle threads already woken for earlier jobs still count as idle until they run: compare with
    // the queue, or a job can wait behind a long blocking one while threads are available.
    if (queue_.size() > idle_ && live_threads_ < opts_.max_threads) start_thread_locked();
    g.unlock();
    cv_.notify_one();
  } else {
    job->stage = PoolJob::Stage::kWaitingRoom;  // rule 2: moves to queue_ when a slot frees
    submitters_.push_back(job);
  }
}

bool ThreadPool::cancel(PoolJob* job) {
  std::lock_guard<std::mutex> g(mu_);
  auto drop_from = [&](std::deque<PoolJob*>& q) {
    for (auto it = q.begin(); it != q.end(); ++it) {
      if (*it == job) {
        q.erase(it);
        return true;
      }
    }
    return false;
  };
  if (job->stage == PoolJob::Stage::kQueued && drop_from(queue_)) {
    if (!submitters_.empty()) {  // rule 2
      PoolJob* next = submitters_.front();
      submitters_.pop_front();
      next->stage = PoolJob::Stage::kQueued;
      queue_.push_back(next);
      cv_.notify_one();
    }
  } else if (!(job->stage == PoolJob::Stage::kWaitingRoom && drop_from(submitters_))) {
    job->abandoned = true;  // rule 4
    return false;
  }
  job->stage = PoolJob::Stage::kDone;
  job->release();  // the pool's reference (rule 3)
  return true;
}

void ThreadPool::worker_loop(Worker* self) {
  std::string name = opts_.name.substr(0, 15);
  pthread_setname_np(pthread_self(), name.c_str());
  std::unique_lock<std::mutex> g(mu_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool timed_out = false;
      if (opts_.fixed) {
        cv_.wait(g, [&] { return stopping_ || !queue_.empty(); });
      } else {
        timed_out = !cv_.wait_for(g, opts_.keep_alive, [&] { return stopping_ || !queue_.empty(); });
      }
      --idle_;
      if (timed_out) break;  // idle past keep-alive: this thread exits
      continue;
    }
    PoolJob* job = queue_.front();
    queue_.pop_front();
    job->stage = PoolJob::Stage::kRunning;
    if (!submitters_.empty()) {  // rule 2
      PoolJob* next = submitters_.front();
      submitters_.pop_front();
      next->stage = PoolJob::Stage::kQueued;
      queue_.push_back(next);
    }
    g.unlock();
    job->run();
    g.lock();
    job->stage = PoolJob::Stage::kDone;
    // Rule 4: claimed under mu_, so a cancelled awaiter cannot leave (and free its task) meanwhile.
    // Once claimed, the task stays suspended until this thread wakes it.
    bool notified = !job->abandoned && job->waiter.claim_notify();
    g.unlock();
    if (notified) job->waiter.wake();
    job->release();
    g.lock();
  }
  --live_threads_;
  self->exited = true;
}

std::size_t ThreadPool::threads() const {
  std::lock_guard<std::mutex> g(mu_);
  return live_threads_;
}
std::size_t ThreadPool::idle_threads() const {
  std::lock_guard<std::mutex> g(mu_);
  return idle_;
}
std::size_t ThreadPool::queue_depth() const {
  std::lock_guard<std::mutex> g(mu_);
  return queue_.size() + submitters_.size();
}
std::size_t ThreadPool::peak_threads() const {
  std::lock_guard<std::mutex> g(mu_);
  return peak_;
}

}  // namespace tether::detail
