// Task dumps: inspection under the claim, async backtraces, and their symbolisation.
//
// Reading map: inspect() claims one task (task_header.hpp rule 4) and copies what it needs; the
// walk follows PromiseBase::awaited_child() from the root frame. symbolize() names the resume
// functions afterwards, with no claim held: dladdr() + __cxa_demangle for exported symbols, and
// one addr2line process per binary for the rest and for file:line, cached for the process.
#include "tether/observe/task_dump.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "inspect.hpp"
#include "tether/core/task.hpp"
#include "tether/time/timeout.hpp"

extern char** environ;

namespace tether::observe {
namespace detail {
namespace {

namespace core = ::tether::detail;

// A chain longer than this is cut (a runaway recursion of awaits is still readable).
constexpr std::size_t kMaxFrames = 256;

std::string basename_of(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

// The coroutine's resume function is the first word of its frame in the GCC and Clang ABIs (what
// coroutine_handle::resume() calls).
const void* resume_function_of(const void* frame) noexcept {
  // SAFETY: `frame` is a live coroutine frame of a task held by the inspection claim.
  return *static_cast<const void* const*>(frame);
}

bool has_deadline_above(core::TaskHeader* t) {
  for (core::CancelState* s = t->scope; s && s != t; s = s->parent()) {
    if (dynamic_cast<core::TimeoutScope*>(s)) return true;
  }
  return false;
}

int thread_running(core::RuntimeCore& rt, core::TaskHeader* t) {
  int found = -1;
  rt.for_each_run_slot([&](const core::RuntimeCore::RunSlot& s) {
    if (s.task.load(std::memory_order_relaxed) == t) found = static_cast<int>(s.index);
  });
  return found;
}

// Removes the compilers' coroutine decorations: GCC "f() [clone .actor]" (and, from addr2line,
// "f(f(args)::_Z...Frame*)": the actor takes the frame), Clang "f() (.resume)".
std::string strip_coroutine_suffix(std::string name) {
  for (const char* suffix : {" [clone .actor]", " (.resume)", ".resume", " [clone .destroy]", " (.destroy)"}) {
    std::size_t n = std::strlen(suffix);
    if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0) {
      name.resize(name.size() - n);
      break;
    }
  }
  static constexpr std::string_view kFrameArg = ".Frame*)";
  if (name.size() > kFrameArg.size() &&
      name.compare(name.size() - kFrameArg.size(), kFrameArg.size(), kFrameArg) == 0) {
    // Find the '(' that opens the final argument list: its content is "f(args)::<mangled>.Frame*".
    int depth = 0;
    std::size_t open = std::string::npos;
    for (std::size_t i = name.size(); i-- > 0;) {
      if (name[i] == ')') ++depth;
      if (name[i] == '(' && --depth == 0) {
        open = i;
        break;
      }
    }
    if (open != std::string::npos) {
      std::string inner = name.substr(open + 1, name.size() - open - 2);
      std::size_t cut = inner.rfind("::_Z");
      if (cut != std::string::npos) return inner.substr(0, cut);
    }
  }
  return name;
}

std::string demangle(const char* symbol) {
  int status = 0;
  char* out = abi::__cxa_demangle(symbol, nullptr, nullptr, &status);
  if (status != 0 || !out) return symbol;
  std::string s(out);
  std::free(out);
  return s;
}

std::string self_exe() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(path, static_cast<std::size_t>(n));
}

struct SymbolInfo {
  std::string function;
  std::string file;
  unsigned line = 0;
};

// Runs `addr2line -f -C -e <object> <addresses...>` and parses its pairs of lines. Returns false if
// it could not be run.
bool run_addr2line(const std::string& object, const std::vector<std::uintptr_t>& offsets,
                   std::vector<SymbolInfo>& out) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return false;
  std::vector<std::string> args = {"addr2line", "-f", "-C", "-e", object};
  char buf[32];
  for (std::uintptr_t off : offsets) {
    std::snprintf(buf, sizeof buf, "0x%zx", static_cast<std::size_t>(off));
    args.emplace_back(buf);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "addr2line", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    return false;
  }
  std::string text;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(pipefd[0], chunk, sizeof chunk);
    if (n > 0) {
      text.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;

  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 2 * offsets.size()) return false;
  out.resize(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const std::string& fn = lines[2 * i];
    const std::string& where = lines[2 * i + 1];
    if (fn != "??") out[i].function = fn;
    // "file:line" or "file:line (discriminator n)"; "??:0" or "??:?" when unknown.
    std::size_t colon = where.rfind(':');
    if (colon != std::string::npos && where.compare(0, 2, "??") != 0) {
      out[i].file = where.substr(0, colon);
      out[i].line = static_cast<unsigned>(std::strtoul(where.c_str() + colon + 1, nullptr, 10));
    }
  }
  return true;
}

// Process-wide cache: resume function -> its name and place. Functions never move.
std::mutex cache_mu;
std::unordered_map<const void*, SymbolInfo> cache;       // guarded by cache_mu
std::unordered_map<const void*, bool> cache_with_lines;  // guarded by cache_mu: looked up with addr2line?

}  // namespace

std::mutex& inspection_mutex() {
  static std::mutex mu;
  return mu;
}

bool inspect(core::RuntimeCore& rt, core::TaskHeader* t, TaskSnapshot& out, InspectExtra* extra) {
  if (t->is_complete()) return false;
  out.id = t->id();
  out.name = t->display_name();
  out.spawned_at = basename_of(t->location().file_name()) + ":" + std::to_string(t->location().line());
  out.age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t->spawn_time());
  out.backtrace.clear();
  if (!t->try_begin_inspection()) {
    if (t->is_complete()) return false;
    out.state = TaskState::kRunning;
    out.thread = thread_running(rt, t);
    return true;
  }
  // Rule 4 holds from here to end_inspection(): the task cannot run, so its frames and its
  // run-confined fields stay as its last run left them.
  out.state = (t->state_for_diagnostics() & core::TaskHeader::kScheduled) ? TaskState::kReady : TaskState::kWaiting;
  out.started = t->started;
  out.waiting_on = t->waiting_on ? t->waiting_on : "";
  out.has_deadline = has_deadline_above(t);
  if (extra) extra->last_run_epoch = t->last_run_epoch;
  if (t->root_frame) {
    out.backtrace.push_back({.frame = t->root_frame, .resume = resume_function_of(t->root_frame)});
    for (core::PromiseBase* p = t->root_promise(); p && p->awaited_child() && out.backtrace.size() < kMaxFrames;
         p = p->awaited_child()) {
      const void* frame = p->awaited_child_frame();
      out.backtrace.push_back({.frame = frame, .resume = resume_function_of(frame)});
    }
  }
  t->end_inspection();
  return true;
}

bool peek_waiting(core::TaskHeader* t, WaitPeek& out) {
  if (!t->try_begin_inspection()) return false;
  bool waiting = !(t->state_for_diagnostics() & core::TaskHeader::kScheduled) && t->started;
  out.last_run_epoch = t->last_run_epoch;
  out.waiting_on = t->waiting_on;  // static strings: the pointer stays valid after the claim
  out.has_deadline = has_deadline_above(t);
  t->end_inspection();
  return waiting;
}

void symbolize(std::vector<AsyncFrame>& frames, bool source_lines) {
  // Group the functions not yet cached (or cached without lines when lines are wanted) by binary.
  struct Pending {
    std::vector<const void*> fns;
    std::vector<std::uintptr_t> offsets;
  };
  std::map<std::string, Pending> by_object;
  std::lock_guard<std::mutex> g(cache_mu);
  for (const AsyncFrame& f : frames) {
    if (!f.resume) continue;
    auto it = cache.find(f.resume);
    if (it != cache.end() && (!source_lines || cache_with_lines[f.resume])) continue;
    Dl_info info{};
    SymbolInfo sym;
    if (dladdr(f.resume, &info) != 0) {
      if (info.dli_sname) sym.function = strip_coroutine_suffix(demangle(info.dli_sname));
      if (source_lines && info.dli_fbase) {
        std::string object = info.dli_fname ? info.dli_fname : "";
        // The main program's link-map name may be empty or relative; its file is /proc/self/exe.
        // (resolved here: in the addr2line child, /proc/self/exe would be addr2line).
        if (object.empty() || object[0] != '/') object = self_exe();
        // Position-independent objects are looked up by offset, fixed executables by address.
        auto* ehdr = static_cast<const ElfW(Ehdr)*>(info.dli_fbase);
        std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(f.resume);
        std::uintptr_t lookup = ehdr->e_type == ET_DYN ? addr - reinterpret_cast<std::uintptr_t>(info.dli_fbase) : addr;
        Pending& p = by_object[object];
        p.fns.push_back(f.resume);
        p.offsets.push_back(lookup);
      }
    }
    cache[f.resume] = std::move(sym);
    cache_with_lines[f.resume] = false;
  }
  for (auto& [object, pending] : by_object) {
    std::vector<SymbolInfo> found;
    bool ok = run_addr2line(object, pending.offsets, found);
    for (std::size_t i = 0; i < pending.fns.size(); ++i) {
      SymbolInfo& sym = cache[pending.fns[i]];
      cache_with_lines[pending.fns[i]] = true;  // tried: do not run addr2line again for it
      if (!ok) continue;
      if (!found[i].function.empty()) sym.function = strip_coroutine_suffix(found[i].function);
      sym.file = found[i].file;
      sym.line = found[i].line;
    }
  }
  for (AsyncFrame& f : frames) {
    if (!f.resume) continue;
    const SymbolInfo& sym = cache[f.resume];
    f.function = sym.function;
    f.file = sym.file;
    f.line = sym.line;
  }
}

}  // namespace detail

const char* to_string(TaskState s) noexcept {
  switch (s) {
    case TaskState::kRunning:
      return "running";
    case TaskState::kReady:
      return "ready";
    case TaskState::kWaiting:
      return "waiting";
  }
  return "?";
}

std::string TaskSnapshot::to_string() const {
  std::string s = "task " + std::to_string(id) + " '" + name + "' (spawned at " + spawned_at + ") ";
  switch (state) {
    case TaskState::kRunning:
      s += thread >= 0 ? "running on thread " + std::to_string(thread) : std::string("running");
      break;
    case TaskState::kReady:
      s += started ? "ready" : "ready (not started)";
      break;
    case TaskState::kWaiting:
      s += "waiting on " + (waiting_on.empty() ? std::string("an unnamed awaitable") : waiting_on);
      if (has_deadline) s += " (with a deadline)";
      break;
  }
  s += ", age " + std::to_string(age.count()) + "ms";
  for (std::size_t i = 0; i < backtrace.size(); ++i) {
    const AsyncFrame& f = backtrace[i];
    char addr[32];
    std::snprintf(addr, sizeof addr, "%p", f.resume);
    s += "\n    #" + std::to_string(i) + " " + (f.function.empty() ? std::string(addr) : f.function);
    if (!f.file.empty()) s += " at " + detail::basename_of(f.file.c_str()) + ":" + std::to_string(f.line);
    if (i + 1 == backtrace.size() && state == TaskState::kWaiting && !waiting_on.empty()) {
      s += "  <- " + waiting_on;
    }
  }
  return s;
}

std::string TaskDump::to_string() const {
  std::string s = std::to_string(tasks.size()) + " live task(s)";
  for (const TaskSnapshot& t : tasks) s += "\n" + t.to_string();
  return s;
}

const TaskSnapshot* TaskDump::find(std::uint64_t id) const noexcept {
  for (const TaskSnapshot& t : tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

TaskDump dump_tasks(Runtime& rt, DumpOptions options) {
  TaskDump dump;
  tether::detail::RuntimeCore& core = rt.core();
  {
    std::lock_guard<std::mutex> g(detail::inspection_mutex());
    for (tether::detail::TaskHeader* t : core.live_tasks()) {
      TaskSnapshot snap;
      if (detail::inspect(core, t, snap)) dump.tasks.push_back(std::move(snap));
      t->release();
    }
  }
  if (options.symbolize) {
    // All frames in one batch: one addr2line run per binary for the whole dump.
    std::vector<AsyncFrame> all;
    for (const TaskSnapshot& t : dump.tasks) all.insert(all.end(), t.backtrace.begin(), t.backtrace.end());
    detail::symbolize(all, options.source_lines);
    std::size_t i = 0;
    for (TaskSnapshot& t : dump.tasks) {
      for (AsyncFrame& f : t.backtrace) f = std::move(all[i++]);
    }
  }
  return dump;
}

}  // namespace tether::observe
