#!/usr/bin/env python3
"""tether's side-by-side peer suite: builds tether's benchmark binary and its
peers (Tokio, Go, Boost.Asio), runs every workload on every runtime,
alternating runtimes within each repetition, and reports medians, spread,
peak memory and the ratio tether/peer.

Usage: bench/run-peers.sh [options]        (installs the Debian deps first)
       python3 bench/suite/run.py [options]

Python standard library only. The command-line and output protocol that
every runtime's binary follows is in bench/suite/PROTOCOL.md; the workloads'
semantics are in docs/benchmarks.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build", "peers")
SUITE_OUT = os.path.join(ROOT, "build", "bench-suite")
DOCS_MD = os.path.join(ROOT, "docs", "benchmarks.md")
DOCS_DIR = os.path.join(ROOT, "docs", "benchmarks")
BEGIN_MARK = "<!-- BEGIN GENERATED: peer-suite (bench/suite/run.py rewrites this section) -->"
END_MARK = "<!-- END GENERATED: peer-suite -->"

TETHER = "tether"
PEERS = ["tokio", "go", "asio"]
RUNTIMES = [TETHER] + PEERS
# Floors, not peers: servers with no runtime at all (bench/peers/bare), run beside the runtimes on
# echo so that every runtime's figure can be read against what the machine allows. Shown in the
# table, left out of the charts.
FLOORS = ["bare-epoll", "bare-uring"]
# Variants of tether itself, run on echo beside the default: the same tether_peer with extra
# arguments. Shown in the table (its tether/peer column is the default against the variant), left
# out of the charts.
VARIANTS = {"tether-uring": (TETHER, ["uring=1"])}
TABLE_ONLY = FLOORS + list(VARIANTS)


# ---------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------
class Metric:
    """One reported figure of a workload: `key` in the result line, shown with
    `label`, scaled by `scale` into `unit`; `better` is "lower" or "higher"."""

    def __init__(self, key, label, unit, scale=1.0, better="lower", digits=1):
        self.key, self.label, self.unit = key, label, unit
        self.scale, self.better, self.digits = scale, better, digits


TIME = Metric("elapsed_ns", "time", "ms", 1e-6)


class Workload:
    """A task workload: the runtime's binary runs `command` with `params` and
    prints one result line.

    A server workload (server=True) starts each runtime's binary with
    `command` as a server on a port the runner picks, drives it with `client`
    (a function returning argv) and takes the metrics from the client's line.
    That is the hook for further server families (see `redis` below):
    `servers` maps runtime -> argv builder when the servers are not the
    suite's own peer binaries.
    """

    def __init__(self, name, command, params, quick, metrics, server=False, client=None,
                 servers=None, runtimes=None, default=True, about=""):
        self.name, self.command, self.params, self.quick = name, command, params, quick
        self.metrics, self.server, self.client = metrics, server, client
        self.servers, self.runtimes, self.default, self.about = servers, runtimes, default, about

    def args(self, quick):
        p = dict(self.params)
        if quick:
            p.update(self.quick)
        return p


def loadgen_argv(port, params):
    return [os.path.join(BUILD, "loadgen", "loadgen"), "port=%d" % port] + [
        "%s=%s" % kv for kv in sorted(params.items())]


def redis_benchmark_argv(port, params):
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(params["conns"]),
            "-n", str(params["requests"]), "-d", str(params["size"]), "-t", "set,get", "--csv", "-q"]


def parse_redis_csv(text):
    """redis-benchmark --csv: a header line, then one line per test."""
    rows = [re.findall(r'"([^"]*)"', line) for line in text.splitlines() if line.strip()]
    if not rows or rows[0][:2] != ["test", "rps"]:
        return {"ok": False, "error": "unexpected redis-benchmark output"}
    head, out = rows[0], {"ok": True}
    for row in rows[1:]:
        rec = dict(zip(head, row))
        t = rec["test"].lower()
        out["%s_rps" % t] = float(rec["rps"])
        if "p99_latency_ms" in rec:
            out["%s_p99_us" % t] = float(rec["p99_latency_ms"]) * 1000
    return out


WORKLOADS = [
    Workload("spawn", "spawn", {"n": 1000000}, {"n": 100000}, [TIME],
             about="spawn 1,000,000 trivial tasks, wait for all"),
    Workload("skynet", "skynet", {"n": 1000000, "branch": 10}, {"n": 100000}, [TIME],
             about="skynet, 1,000,000 leaves, 10 children per node"),
    Workload("mpsc-1p", "mpsc", {"n": 10000000, "producers": 1, "capacity": 1024}, {"n": 1000000}, [TIME],
             about="mpsc capacity 1024, 10,000,000 values, 1 producer"),
    Workload("mpsc-4p", "mpsc", {"n": 10000000, "producers": 4, "capacity": 1024}, {"n": 1000000}, [TIME],
             about="mpsc capacity 1024, 10,000,000 values, 4 producers"),
    Workload("pingpong", "pingpong", {"n": 1000000}, {"n": 100000}, [TIME],
             about="ping-pong over two capacity-1 channels, 1,000,000 round trips"),
    Workload("sleep", "sleep", {"n": 1000000, "max_ms": 100, "seed": 42}, {"n": 100000}, [TIME],
             about="1,000,000 tasks sleeping a seeded 0-100 ms"),
    Workload("idle", "idle", {"n": 1000000}, {"n": 100000},
             [Metric("bytes_per_task", "memory", "B/task", 1.0, "lower", 0)],
             about="1,000,000 parked idle tasks"),
    Workload("mutex", "mutex", {"tasks": 1000, "iters": 1000}, {"iters": 100}, [TIME],
             about="contended async mutex, 1,000 tasks x 1,000 locks"),
    Workload("echo", "echo-server", {"conns": 100, "size": 64, "seconds": 5, "warmup_ms": 500, "threads": 1},
             {"seconds": 1, "warmup_ms": 200},
             [Metric("rtt_per_s", "throughput", "k rtt/s", 1e-3, "higher", 1),
              Metric("p99_us", "p99", "us", 1.0, "lower", 0),
              Metric("server_cpu_us_per_rtt", "server CPU", "us/rtt", 1.0, "lower", 2)],
             server=True, client=loadgen_argv, runtimes=RUNTIMES + list(VARIANTS) + FLOORS,
             about="TCP echo, 100 connections x 64 bytes, 5 s, shared load generator"),
    # Actors: tether's actors against CAF (Debian's libcaf-dev, bench/peers/caf); see PROTOCOL.md.
    Workload("actor-tell", "actor-tell", {"n": 1000000}, {"n": 100000}, [TIME], runtimes=[TETHER, "caf"],
             about="actor tell throughput: 1,000,000 integers to a summing actor, then ask the sum"),
    Workload("actor-ask", "actor-ask", {"n": 100000}, {"n": 10000}, [TIME], runtimes=[TETHER, "caf"],
             about="actor ask round trips: 100,000 sequential asks with a 10 s deadline each"),
    # Hook for the Redis family: redis-benchmark against redis-server and,
    # once it exists, tether-kv. Opt-in (--only redis); see PROTOCOL.md.
    Workload("redis", None, {"conns": 100, "requests": 200000, "size": 64}, {"requests": 20000},
             [Metric("set_rps", "SET", "k req/s", 1e-3, "higher", 1),
              Metric("get_rps", "GET", "k req/s", 1e-3, "higher", 1),
              Metric("get_p99_us", "GET p99", "us", 1.0, "lower", 0)],
             server=True, client=redis_benchmark_argv, runtimes=[TETHER, "redis"], default=False,
             servers={
                 "redis": lambda port: [shutil.which("redis-server") or "redis-server", "--port", str(port),
                                        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                 TETHER: lambda port: [tether_kv_binary() or "tether-kv", "--port", str(port)],
             },
             about="redis-benchmark SET/GET, 100 connections, 64-byte values"),
]
BY_NAME = {w.name: w for w in WORKLOADS}


# ---------------------------------------------------------------------------
# Child processes: every one is tracked and stopped, whatever happens
# ---------------------------------------------------------------------------
LIVE = {}  # pid -> Popen
LIVE_LOCK = threading.Lock()


def start(argv, **kw):
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    with LIVE_LOCK:
        LIVE[p.pid] = p
    return p


def reap(p, timeout=None):
    """Waits for `p` (killing its process group after `timeout` seconds);
    returns (exit code, rusage)."""
    timer = None
    if timeout is not None:
        timer = threading.Timer(timeout, kill_group, (p, signal.SIGKILL))
        timer.daemon = True
        timer.start()
    try:
        while True:
            try:
                _, status, ru = os.wait4(p.pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        if timer:
            timer.cancel()
    # only once reaped: an interrupted wait leaves p in LIVE for stop_all()
    with LIVE_LOCK:
        LIVE.pop(p.pid, None)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru


def kill_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(p, grace=5.0):
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
    if p.returncode is not None:
        return p.returncode, None
    kill_group(p, signal.SIGTERM)
    return reap(p, timeout=grace)


def stop_all():
    with LIVE_LOCK:
        procs = list(LIVE.values())
    for p in procs:
        kill_group(p, signal.SIGTERM)
    deadline = time.monotonic() + 3
    for p in procs:
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # the group may hold more than its leader (e.g. /usr/bin/time's child)
        kill_group(p, signal.SIGKILL)
        p.wait()
        with LIVE_LOCK:
            LIVE.pop(p.pid, None)
    reap_orphans(2.0 if procs else 0.0)


def become_subreaper():
    """Orphaned grandchildren (the child of a killed /usr/bin/time) become
    ours, so that stop_all() can reap them instead of leaving it to init."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans(wait_s=2.0):
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)


def on_signal(signum, _frame):
    raise KeyboardInterrupt("signal %d" % signum)


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------
def log_path(name):
    os.makedirs(os.path.join(SUITE_OUT, "logs"), exist_ok=True)
    return os.path.join(SUITE_OUT, "logs", "build-%s.log" % name)


def run_logged(name, argv, cwd=ROOT, env=None):
    with open(log_path(name), "a") as log:
        log.write("$ %s\n" % " ".join(argv))
        log.flush()
        p = start(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        rc, _ = reap(p, timeout=1800)
    return rc == 0


def newer(target, sources):
    if not os.path.exists(target):
        return True
    t = os.path.getmtime(target)
    return any(os.path.getmtime(s) > t for s in sources)


def build_go():
    out = os.path.join(BUILD, "go")
    env = dict(os.environ, GOCACHE=os.path.join(out, "cache"), GOPATH=os.path.join(out, "gopath"),
               GOPROXY="off", GOFLAGS="", GO111MODULE="on", CGO_ENABLED="0")
    return run_logged("go", ["go", "build", "-o", os.path.join(out, "peer-go"), "."],
                      cwd=os.path.join(ROOT, "bench", "peers", "go"), env=env)


def build_tokio():
    out = os.path.join(BUILD, "tokio")
    home = os.path.join(out, "cargo-home")
    os.makedirs(home, exist_ok=True)
    # Source replacement: crates.io -> Debian's vendored crate directory, offline.
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[source.crates-io]\nreplace-with = "debian-vendored"\n\n'
                '[source.debian-vendored]\ndirectory = "/usr/share/cargo/registry"\n\n'
                '[net]\noffline = true\n')
    cargo = "/usr/bin/cargo" if os.path.exists("/usr/bin/cargo") else "cargo"
    env = dict(os.environ, CARGO_HOME=home, CARGO_TARGET_DIR=os.path.join(out, "target"))
    if os.path.exists("/usr/bin/rustc"):
        env["RUSTC"] = "/usr/bin/rustc"  # Debian's toolchain, matching its vendored crates
    return run_logged("tokio", [cargo, "build", "--release", "--offline"],
                      cwd=os.path.join(ROOT, "bench", "peers", "tokio"), env=env)


def build_cxx(name, source, binary, extra=()):
    src = os.path.join(ROOT, source)
    if not newer(binary, [src]):
        return True
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    return run_logged(name, ["g++", "-std=c++20", "-O2", "-DNDEBUG", "-Wall", "-o", binary, src, "-pthread"]
                      + list(extra))


def tether_candidates():
    env = os.environ.get("TETHER_PEER_BIN")
    c = [env] if env else []
    return c + [os.path.join(ROOT, "build", "release", "bench", "tether_peer"),
                os.path.join(ROOT, "build", "release", "bench", "suite", "tether_peer")]


def tether_kv_binary():
    env = os.environ.get("TETHER_KV_BIN")
    for c in ([env] if env else []) + [os.path.join(ROOT, "build", "release", "apps", "tether-kv", "tether-kv"),
                                      os.path.join(ROOT, "build", "release", "apps", "tether-kv")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def build_tether():
    """Builds target tether_peer with the release preset. Missing source,
    missing target or a failing build leave tether "not built"."""
    if not os.path.exists(os.path.join(ROOT, "bench", "suite", "tether_peer.cpp")):
        return "skipped: bench/suite/tether_peer.cpp not written yet"
    bdir = os.path.join(ROOT, "build", "release")
    if not os.path.exists(os.path.join(bdir, "build.ninja")):
        if not run_logged("tether", ["cmake", "--preset", "release"]):
            return False
    return run_logged("tether", ["cmake", "--build", bdir, "--target", "tether_peer"])


BINARIES = {
    "tokio": os.path.join(BUILD, "tokio", "target", "release", "peer-tokio"),
    "go": os.path.join(BUILD, "go", "peer-go"),
    "asio": os.path.join(BUILD, "asio", "peer-asio"),
    "caf": os.path.join(BUILD, "caf", "peer-caf"),
    "bare-epoll": os.path.join(BUILD, "bare", "bare-epoll"),
    "bare-uring": os.path.join(BUILD, "bare", "bare-uring"),
}


def binary(rt):
    rt = VARIANTS.get(rt, (rt,))[0]
    if rt == TETHER:
        for c in tether_candidates():
            if c and os.path.isfile(c) and os.access(c, os.X_OK):
                return c
        return None
    b = BINARIES.get(rt)
    return b if b and os.path.isfile(b) else None


def build_all(runtimes, need_loadgen, build_tether_side):
    steps = [("loadgen", lambda: build_cxx("loadgen", "bench/peers/loadgen/loadgen.cpp",
                                           os.path.join(BUILD, "loadgen", "loadgen")))] if need_loadgen else []
    builders = {"tokio": build_tokio, "go": build_go,
                "asio": lambda: build_cxx("asio", "bench/peers/asio/peer_asio.cpp", BINARIES["asio"]),
                "caf": lambda: build_cxx("caf", "bench/peers/caf/peer_caf.cpp", BINARIES["caf"], ["-lcaf_core"]),
                "bare-epoll": lambda: build_cxx("bare-epoll", "bench/peers/bare/bare_echo.cpp", BINARIES["bare-epoll"],
                                                ["-luring"]),
                "bare-uring": lambda: build_cxx("bare-uring", "bench/peers/bare/bare_echo.cpp", BINARIES["bare-uring"],
                                                ["-DBARE_ECHO_URING=1", "-luring"])}
    for rt in runtimes:
        if rt in builders:
            steps.append((rt, builders[rt]))
        elif VARIANTS.get(rt, (rt,))[0] == TETHER and build_tether_side and TETHER not in [n for n, _ in steps]:
            steps.append((TETHER, build_tether))
    status = {}
    for name, fn in steps:
        t0 = time.monotonic()
        sys.stdout.write("build %-8s ... " % name)
        sys.stdout.flush()
        ok = fn()
        if isinstance(ok, str):  # a reason for not building
            print(ok)
            status[name] = None
            continue
        status[name] = ok
        print("%s (%.1fs)%s" % ("ok" if ok else "FAILED", time.monotonic() - t0,
                                "" if ok else "  log: " + os.path.relpath(log_path(name), ROOT)))
    return status


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------
def parse_line(text):
    """The last line of `text` that is a JSON object, or None."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


GNU_TIME = "/usr/bin/time"


def run_process(argv, timeout, env=None):
    """Runs argv to completion; returns wall time, peak RSS, CPU time and output.

    Peak RSS comes from `/usr/bin/time -f %M`: the rusage of a child forked
    straight from this Python process would count Python's own resident set
    (ru_maxrss survives fork and exec), a few MB that would blur small peers.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="rss-", mode="r") as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name] + argv if os.path.exists(GNU_TIME) else argv
        t0 = time.monotonic()
        p = start(wrapped, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        rc, ru = reap(p, timeout=timeout)
        wall = time.monotonic() - t0
        maxrss = ru.ru_maxrss
        if wrapped is not argv:
            nums = [ln.strip() for ln in rss.read().splitlines() if ln.strip().isdigit()]
            maxrss = int(nums[-1]) if nums else 0
        out.seek(0)
        err.seek(0)
        timed_out = wall >= timeout
        return {"rc": rc, "wall_s": wall, "maxrss_kb": maxrss, "cpu_s": ru.ru_utime + ru.ru_stime,
                "timed_out": timed_out,
                "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}


def vm_hwm_kb(pid):
    """Peak resident set of a running process (reset at exec, unlike ru_maxrss)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def child_env():
    return dict(os.environ, GOMAXPROCS="2")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def run_task(w, rt, quick, timeout):
    params = w.args(quick)
    argv = [binary(rt), w.command] + ["%s=%s" % kv for kv in sorted(params.items())]
    r = run_process(argv, timeout, env=child_env())
    res = parse_line(r["stdout"]) or {}
    ok = r["rc"] == 0 and res.get("ok") is True
    error = None if ok else ("timed out after %ds" % timeout if r["timed_out"] else
                             res.get("error") or "exit %s: %s" % (r["rc"], r["stderr"].strip()[-300:]))
    return {"ok": ok, "error": error, "result": res, "wall_s": r["wall_s"], "maxrss_kb": r["maxrss_kb"],
            "cpu_s": r["cpu_s"], "argv": argv[1:], "unsupported": is_unsupported(res)}


def is_unsupported(res):
    """The runtime answered that it cannot run this workload yet (PROTOCOL.md: "unsupported")."""
    return res.get("unsupported") is True and res.get("ok") is not True


def server_argv(w, rt, port):
    if w.servers:
        return w.servers[rt](port)
    return [binary(rt), w.command, "port=%d" % port] + VARIANTS.get(rt, (rt, []))[1]


def run_server(w, rt, quick, timeout):
    params = w.args(quick)
    port = free_port()
    argv = server_argv(w, rt, port)
    with tempfile.TemporaryFile() as sout, tempfile.TemporaryFile() as serr:
        server = start(argv, stdout=sout, stderr=serr, stdin=subprocess.DEVNULL, env=child_env())
        try:
            if not wait_listening(port, server):
                stop(server)
                sout.seek(0)
                early = parse_line(sout.read().decode(errors="replace")) or {}
                if is_unsupported(early):
                    return {"ok": False, "unsupported": True, "error": early.get("error") or "unsupported",
                            "result": early, "wall_s": 0, "maxrss_kb": 0, "cpu_s": 0, "argv": argv[1:]}
                return {"ok": False, "error": "server did not listen on port %d" % port, "result": {},
                        "wall_s": 0, "maxrss_kb": 0, "cpu_s": 0, "argv": argv[1:]}
            c = run_process(w.client(port, params), timeout)
            hwm = vm_hwm_kb(server.pid)
        finally:
            rc, ru = stop(server)
        sout.seek(0)
        serr.seek(0)
        server_line = parse_line(sout.read().decode(errors="replace")) or {}
        server_err = serr.read().decode(errors="replace")
    res = parse_line(c["stdout"]) if w.command else parse_redis_csv(c["stdout"])
    res = res or {}
    ok = c["rc"] == 0 and res.get("ok") is True
    if ok and ru and res.get("ops") and "seconds" in params:
        # The server's CPU time covers the warm-up too, at the same load; the loadgen counts round trips
        # only after it. Start-up and shutdown are idle (a few ms in runs of seconds).
        served = res["ops"] * (params["seconds"] + params.get("warmup_ms", 0) / 1000.0) / params["seconds"]
        res["server_cpu_us_per_rtt"] = (ru.ru_utime + ru.ru_stime) * 1e6 / served
    error = None if ok else (res.get("error") or "client exit %s: %s" % (c["rc"], (c["stderr"] + server_err).strip()[-300:]))
    return {"ok": ok, "error": error, "result": res, "server": server_line, "wall_s": c["wall_s"],
            "maxrss_kb": hwm, "cpu_s": (ru.ru_utime + ru.ru_stime) if ru else 0,
            "client_cpu_s": c["cpu_s"], "argv": argv[1:]}


def available(w, rt):
    if w.servers:
        if rt == TETHER:
            return tether_kv_binary() is not None
        return shutil.which(w.servers[rt](0)[0]) is not None or os.path.exists(w.servers[rt](0)[0])
    return binary(rt) is not None


# ---------------------------------------------------------------------------
# Statistics, table, chart, docs
# ---------------------------------------------------------------------------
def summarize(runs, metric):
    vals = [r["result"][metric.key] for r in runs if r["ok"] and metric.key in r["result"]]
    if not vals:
        return None
    rss = [r["maxrss_kb"] for r in runs if r["ok"]]
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals),
            "values": vals, "peak_rss_kb": max(rss) if rss else None,
            "wall_median_s": statistics.median([r["wall_s"] for r in runs if r["ok"]])}


def sign_test_p(better, n):
    """One-sided sign test: the chance of tether doing better in at least `better` of `n` pairs if
    neither runtime were better (each pair a coin toss)."""
    return sum(math.comb(n, k) for k in range(better, n + 1)) / 2.0 ** n if n else None


def paired(tether_runs, peer_runs, metric):
    """Repetition by repetition: both runtimes ran in the same repetition, seconds apart, so a
    ratio of the pair cancels the machine's slower drifts that a ratio of medians keeps. Returns the
    median of tether/peer over the pairs, in how many pairs tether did better, and the sign test's p."""
    def by_rep(runs):
        return {r["rep"]: r["result"][metric.key] for r in runs
                if r["ok"] and "rep" in r and metric.key in r["result"]}
    t, p = by_rep(tether_runs), by_rep(peer_runs)
    ratios = [t[k] / p[k] for k in sorted(t.keys() & p.keys()) if p[k]]
    if not ratios:
        return None
    wins = sum(1 for x in ratios if (x > 1 if metric.better == "higher" else x < 1))
    losses = sum(1 for x in ratios if (x < 1 if metric.better == "higher" else x > 1))
    return {"median": statistics.median(ratios), "better": wins, "n": len(ratios),
            "p": sign_test_p(wins, wins + losses)}


def fmt_paired(pr):
    if pr is None:
        return ""
    return "%.2f, %d/%d%s" % (pr["median"], pr["better"], pr["n"],
                              ", p=%.2g" % pr["p"] if pr["p"] is not None and pr["n"] >= 5 else "")


def fmt(v, metric):
    if v is None:
        return "n/a"
    x = v * metric.scale
    return "{:,.{d}f}".format(x, d=metric.digits)


def fmt_mem(kb):
    if not kb:
        return "n/a"
    return "%.1f MB" % (kb / 1024.0) if kb < 1000 * 1024 else "%.2f GB" % (kb / 1024.0 / 1024.0)


def ratio(tether, peer):
    if not tether or not peer or not peer["median"]:
        return None
    return tether["median"] / peer["median"]


def advantage(metric, r):
    """How many times better tether is than the peer (>1: tether better)."""
    if r is None or r == 0:
        return None
    return 1.0 / r if metric.better == "lower" else r


def build_rows(results, workloads, runtimes):
    """Rows of (workload, metric, runtime, summary, ratio, status)."""
    rows = []
    for w in workloads:
        rts = [rt for rt in runtimes if rt in (w.runtimes or RUNTIMES)]
        for m in w.metrics:
            sums = {rt: summarize(results.get(w.name, {}).get(rt, {}).get("runs", []), m) for rt in rts}
            tether_runs = results.get(w.name, {}).get(TETHER, {}).get("runs", [])
            for rt in rts:
                entry = results.get(w.name, {}).get(rt, {})
                status = entry.get("status", "not run")
                rows.append({"workload": w.name, "metric": m, "runtime": rt, "summary": sums[rt], "status": status,
                             "ratio": None if rt == TETHER else ratio(sums.get(TETHER), sums[rt]),
                             "paired": None if rt == TETHER else paired(tether_runs, entry.get("runs", []), m)})
    return rows


def render_text_table(rows):
    head = ["workload", "metric", "runtime", "median", "min-max", "peak RSS", "tether/peer", "paired"]
    lines = []
    for r in rows:
        s, m = r["summary"], r["metric"]
        if s:
            cells = [fmt(s["median"], m), "%s-%s" % (fmt(s["min"], m), fmt(s["max"], m)), fmt_mem(s["peak_rss_kb"])]
        else:
            cells = ["n/a (%s)" % r["status"], "", ""]
        rat = "" if r["runtime"] == TETHER else ("%.2f" % r["ratio"] if r["ratio"] is not None else "n/a")
        lines.append([r["workload"], "%s (%s, %s better)" % (m.label, m.unit, m.better), r["runtime"]] + cells +
                     [rat, fmt_paired(r["paired"])])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    out, last = [], None
    out.append("  ".join(h.ljust(wd) for h, wd in zip(head, widths)))
    out.append("  ".join("-" * wd for wd in widths))
    for ln in lines:
        key = (ln[0], ln[1])
        shown = list(ln)
        if key == last:
            shown[0] = shown[1] = ""
        last = key
        out.append("  ".join(str(x).ljust(wd) for x, wd in zip(shown, widths)))
    return "\n".join(out)


def render_md_table(rows):
    out = ["| workload | metric | runtime | median | min–max | peak RSS | tether/peer | paired |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    last = None
    for r in rows:
        s, m = r["summary"], r["metric"]
        key = (r["workload"], m.key)
        wl = "" if key == last else "**%s**" % r["workload"]
        ml = "" if key == last else "%s (%s, %s is better)" % (m.label, m.unit, m.better)
        last = key
        if s:
            cells = [fmt(s["median"], m), "%s–%s" % (fmt(s["min"], m), fmt(s["max"], m)), fmt_mem(s["peak_rss_kb"])]
        else:
            cells = ["n/a (%s)" % r["status"], "", ""]
        rat = "" if r["runtime"] == TETHER else ("%.2f" % r["ratio"] if r["ratio"] is not None else "n/a")
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (wl, ml, r["runtime"], cells[0], cells[1], cells[2],
                                                                  rat, fmt_paired(r["paired"])))
    return "\n".join(out)


COLORS = {"tether": "#2b8a3e", "tokio": "#c2410c", "go": "#0e7490", "asio": "#6d28d9", "redis": "#b91c1c", "caf": "#a16207"}


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_chart(title, subtitle, groups, series, xlabel, empty_note):
    """Horizontal grouped bars on a log2 axis around a reference line at 1.
    groups: [(label, {series: value or None})]."""
    label_w, plot_w, bar_h, gap, top = 230, 560, 13, 12, 70
    n_bars = sum(len(series) for _ in groups)
    height = top + n_bars * bar_h + len(groups) * gap + 70
    width = label_w + plot_w + 90
    vals = [v for _, d in groups for v in d.values() if v]
    lo = min(vals + [1.0]) / 1.3
    hi = max(vals + [1.0]) * 1.3
    import math
    l2lo, l2hi = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    if l2hi - l2lo < 2:
        l2lo, l2hi = l2lo - 1, l2hi + 1

    def x(v):
        return label_w + (math.log2(v) - l2lo) / (l2hi - l2lo) * plot_w

    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">' % (width, height, width, height),
         '<rect width="100%" height="100%" fill="#ffffff"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>' % (10, esc(title)),
         '<text x="%d" y="40" fill="#555">%s</text>' % (10, esc(subtitle))]
    plot_bottom = height - 50
    for e in range(l2lo, l2hi + 1):
        v = 2.0 ** e
        xx = x(v)
        o.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>'
                 % (xx, top - 8, xx, plot_bottom, "#333" if e == 0 else "#ddd", "1.5" if e == 0 else "1"))
        lab = ("%g" % v) if v >= 1 else "1/%g" % (1 / v)
        o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s×</text>' % (xx, plot_bottom + 14, lab))
    o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>'
             % (label_w + plot_w / 2, plot_bottom + 32, esc(xlabel)))
    y = top
    for label, data in groups:
        o.append('<text x="%d" y="%.1f" text-anchor="end" font-weight="bold">%s</text>'
                 % (label_w - 8, y + bar_h * len(series) / 2 + 4, esc(label)))
        for s in series:
            v = data.get(s)
            if v:
                x0, x1 = x(1.0), x(v)
                o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"/>'
                         % (min(x0, x1), y + 1, max(abs(x1 - x0), 1), bar_h - 2, COLORS.get(s, "#888")))
                o.append('<text x="%.1f" y="%.1f" fill="#222">%s %.2f×</text>'
                         % (max(x0, x1) + 4, y + bar_h - 3, esc(s), v))
            else:
                o.append('<text x="%.1f" y="%.1f" fill="#999">%s n/a</text>' % (x(1.0) + 4, y + bar_h - 3, esc(s)))
            y += bar_h
        y += gap
    if not vals:
        o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#b91c1c" font-size="13">%s</text>'
                 % (label_w + plot_w / 2, top + 10, esc(empty_note)))
    o.append("</svg>")
    return "\n".join(o) + "\n"


def charts(rows, runtimes):
    runtimes = [rt for rt in runtimes if rt not in TABLE_ONLY]
    rows = [r for r in rows if r["runtime"] not in TABLE_ONLY]
    peers = [rt for rt in runtimes if rt != TETHER]
    adv_groups, rel_groups, order = [], [], []
    by_key = {}
    for r in rows:
        key = (r["workload"], r["metric"].key)
        if key not in by_key:
            by_key[key] = []
            order.append(key)
        by_key[key].append(r)
    for key in order:
        rs = by_key[key]
        m = rs[0]["metric"]
        label = "%s %s" % (key[0], m.label) if len(BY_NAME[key[0]].metrics) > 1 else key[0]
        adv_groups.append((label, {r["runtime"]: advantage(m, r["ratio"]) for r in rs if r["runtime"] != TETHER}))
        meds = {r["runtime"]: r["summary"]["median"] for r in rs if r["summary"] and r["summary"]["median"]}
        if meds:
            best = min(meds.values()) if m.better == "lower" else max(meds.values())
            rel = {rt: (v / best if m.better == "lower" else best / v) for rt, v in meds.items()}
        else:
            rel = {}
        rel_groups.append((label, rel))
    ratio_svg = svg_chart("tether against its peers", "bar = how many times better tether is (right of 1×: tether "
                          "wins); medians of the same run", adv_groups, peers, "tether advantage (log scale)",
                          "no tether results yet: tether_peer is not built")
    rel_svg = svg_chart("every runtime against the best one", "bar = how many times worse than the best runtime "
                        "of this workload (1× = best)", rel_groups, runtimes, "cost relative to the best (log scale)",
                        "no results")
    return ratio_svg, rel_svg


def cpu_busy_s():
    """Busy CPU seconds of the whole machine since boot (from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def own_cpu_s():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "n/a"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kb / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    dpkg = lambda pkg: tool_version(["dpkg-query", "-W", "-f=${Version}", pkg])
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "memory": mem,
            "loadavg_at_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "go": tool_version(["go", "version"]),
            "rustc": tool_version(["/usr/bin/rustc" if os.path.exists("/usr/bin/rustc") else "rustc", "--version"]),
            "tokio": dpkg("librust-tokio-dev"), "boost": dpkg("libboost1.81-dev"),
            "gxx": tool_version(["g++", "--version"])}


def write_docs(report, rows, ratio_svg, rel_svg, run_cmd):
    os.makedirs(DOCS_DIR, exist_ok=True)
    with open(os.path.join(DOCS_DIR, "ratios.svg"), "w") as f:
        f.write(ratio_svg)
    with open(os.path.join(DOCS_DIR, "runtimes.svg"), "w") as f:
        f.write(rel_svg)
    with open(os.path.join(DOCS_DIR, "results.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
        f.write("\n")
    mc = report["machine"]
    section = [BEGIN_MARK, "",
               "Latest run: %s, `%s`, %d repetition(s) per runtime, suite wall time %.1f min%s."
               % (report["started"], run_cmd, report["reps"], report["suite_seconds"] / 60,
                  " (quick sizes)" if report["quick"] else ""),
               "",
               "Machine: %s CPU(s), %s; kernel %s; %s RAM; load average at start %s; CPU used by other "
               "processes during the run: %s cores on average. Toolchains: %s; %s; Tokio %s; Boost %s; %s."
               % (mc["nproc"], mc["cpu"], mc["kernel"], mc["memory"], mc["loadavg_at_start"],
                  mc.get("other_load_cores", "n/a"), mc["go"], mc["rustc"], mc["tokio"], mc["boost"], mc["gxx"]),
               "",
               "![tether against its peers](benchmarks/ratios.svg)",
               "",
               "![every runtime against the best one](benchmarks/runtimes.svg)",
               "",
               "`tether/peer` is the ratio of medians of the metric in that row: below 1 is better for tether when "
               "lower is better, above 1 when higher is better. Peak RSS is the largest `ru_maxrss` over the "
               "repetitions (for echo: of the server). `paired`: tether/peer repetition by repetition, see "
               "\"Reading the results\" above. Raw figures: [benchmarks/results.json](benchmarks/results.json).",
               "",
               "`bare-epoll` and `bare-uring` are not runtimes but the echo workload's floors: one thread and one "
               "loop with no runtime at all (bench/peers/bare), on readiness and on io_uring completions. Their row "
               "shows what the machine allows; see \"The echo ceiling\" above. `tether-uring` is tether's echo "
               "server on its io_uring backend (`uring=1`; docs/io.md \"Backends\"), its ratio the default "
               "(epoll) against it.",
               "",
               render_md_table(rows), ""]
    problems = report.get("problems") or []
    if problems:
        section += ["Problems in this run:", ""] + ["- %s" % p for p in problems] + [""]
    section.append(END_MARK)
    text = open(DOCS_MD).read() if os.path.exists(DOCS_MD) else "# Benchmarks\n\n"
    if BEGIN_MARK in text and END_MARK in text:
        a = text.index(BEGIN_MARK)
        b = text.index(END_MARK) + len(END_MARK)
        text = text[:a] + "\n".join(section) + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Latest results\n\n" + "\n".join(section) + "\n"
    with open(DOCS_MD, "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=None, help="repetitions per runtime (default 5, --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="1 repetition and smaller sizes (a smoke test)")
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all default ones; see --list)")
    ap.add_argument("--runtimes", default="", help="comma-separated runtimes (default: tether,tokio,go,asio)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter of the chosen workloads, e.g. --only echo --reps 30 --param seconds=2 "
                         "(many short repetitions: a paired comparison that the machine's drifts disturb less)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--no-build-tether", action="store_true", help="do not run CMake for tether_peer")
    ap.add_argument("--timeout", type=float, default=180, help="seconds before one run is killed")
    ap.add_argument("--write-docs", dest="docs", action="store_true", default=None,
                    help="rewrite docs/benchmarks.md (default only for a full, unfiltered, non-quick run)")
    ap.add_argument("--no-docs", dest="docs", action="store_false")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    a = ap.parse_args()

    if a.list:
        for w in WORKLOADS:
            print("%-9s %s%s" % (w.name, w.about, "" if w.default else "  [opt-in]"))
        return 0
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    become_subreaper()

    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            ap.error("unknown workload(s): %s (known: %s)" % (", ".join(unknown), ", ".join(BY_NAME)))
        workloads = [BY_NAME[n] for n in names]
    else:
        workloads = [w for w in WORKLOADS if w.default]
    known_rts = RUNTIMES + sorted({rt for w in WORKLOADS for rt in (w.runtimes or [])} - set(RUNTIMES))
    if a.runtimes:
        runtimes = [r.strip() for r in a.runtimes.split(",") if r.strip()]
        bad = [r for r in runtimes if r not in known_rts]
        if bad:
            ap.error("unknown runtime(s): %s (known: %s)" % (", ".join(bad), ", ".join(known_rts)))
    else:
        runtimes = [rt for rt in known_rts if any(rt in (w.runtimes or RUNTIMES) for w in workloads)]
    for kv in a.param:
        key, sep, value = kv.partition("=")
        if not sep or not any(key in w.params for w in workloads):
            ap.error("--param %s: expected KEY=VALUE with a KEY of the chosen workloads (%s)" % (
                kv, ", ".join(sorted({k for w in workloads for k in w.params}))))
        for w in workloads:
            if key in w.params:
                w.params = {**w.params, key: int(value) if value.isdigit() else value}
                w.quick = {k: v for k, v in w.quick.items() if k != key}
    reps = a.reps or (1 if a.quick else 5)
    write = a.docs if a.docs is not None else (not a.quick and not a.only and not a.runtimes and a.reps is None
                                               and not a.param)

    t_start = time.monotonic()
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine_info = machine()  # before the suite loads the machine
    busy0, own0 = cpu_busy_s(), own_cpu_s()
    problems = []
    results = {}
    try:
        if not a.no_build:
            st = build_all(runtimes, any(w.server and w.command for w in workloads), not a.no_build_tether)
            problems += ["build of %s failed (see build/bench-suite/logs/build-%s.log)" % (k, k)
                         for k, ok in st.items() if ok is False]
        for w in workloads:
            rts = [rt for rt in runtimes if rt in (w.runtimes or RUNTIMES)]
            results[w.name] = {}
            live = []
            for rt in rts:
                if available(w, rt):
                    results[w.name][rt] = {"status": "ok", "runs": []}
                    live.append(rt)
                else:
                    results[w.name][rt] = {"status": "not built", "runs": []}
            shown_params = " ".join("%s=%s" % kv for kv in sorted(w.args(a.quick).items()))
            print("\n== %s (%s)  [%s]" % (w.name, shown_params, ", ".join(
                rt if rt in live else rt + " (not built)" for rt in rts)))
            for rep in range(reps):
                order = live[rep % len(live):] + live[:rep % len(live)] if live else []
                for rt in order:
                    if results[w.name][rt]["status"] == "unsupported":
                        continue
                    run = (run_server if w.server else run_task)(w, rt, a.quick, a.timeout)
                    run["rep"] = rep
                    m = w.metrics[0]
                    if run.get("unsupported"):
                        # Not a failure: the runtime cannot run this workload yet (shown as n/a).
                        results[w.name][rt]["status"] = "unsupported"
                        print("  rep %d %-6s unsupported: %s" % (rep + 1, rt, run["error"]))
                        continue
                    results[w.name][rt]["runs"].append(run)
                    if run["ok"]:
                        shown = fmt(run["result"].get(m.key), m)
                        print("  rep %d %-6s %12s %-8s wall %6.2fs  rss %s" % (
                            rep + 1, rt, shown, m.unit, run["wall_s"], fmt_mem(run["maxrss_kb"])))
                    else:
                        print("  rep %d %-6s FAILED: %s" % (rep + 1, rt, run["error"]))
                        results[w.name][rt]["status"] = "failed"
                        problems.append("%s on %s failed: %s" % (w.name, rt, run["error"]))
                    sys.stdout.flush()
            checks = {rt: {r["result"].get("check") for r in e["runs"] if r["ok"]} - {None}
                      for rt, e in results[w.name].items()}
            distinct = set().union(*checks.values()) if checks else set()
            if len(distinct) > 1:
                problems.append("%s: runtimes disagree on the check value: %s" % (w.name, checks))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every child process", file=sys.stderr)
        stop_all()
        return 130
    finally:
        stop_all()

    suite_s = time.monotonic() - t_start
    busy1, own1 = cpu_busy_s(), own_cpu_s()
    if busy0 is not None and busy1 is not None and suite_s > 0:
        # CPU used by processes outside the suite while it ran: the noise floor
        foreign = max(0.0, (busy1 - busy0) - (own1 - own0))
        machine_info["other_load_cores"] = round(foreign / suite_s, 2)
    rows = build_rows(results, workloads, runtimes)
    print("\n" + render_text_table(rows))
    print("\nsuite wall time: %.1f s (%.1f min)" % (suite_s, suite_s / 60))
    if "other_load_cores" in machine_info:
        print("other processes' CPU use during the suite: %.2f of %d cores"
              % (machine_info["other_load_cores"], os.cpu_count()))
    for p in problems:
        print("problem: " + p)

    report = {"started": started, "suite_seconds": suite_s, "reps": reps, "quick": a.quick,
              "runtimes": runtimes, "workloads": [w.name for w in workloads], "machine": machine_info,
              "problems": problems,
              "results": {wn: {rt: {"status": e["status"], "runs": e["runs"]} for rt, e in d.items()}
                          for wn, d in results.items()},
              "summary": [{"workload": r["workload"], "metric": r["metric"].key, "better": r["metric"].better,
                           "runtime": r["runtime"], "status": r["status"], "ratio_tether_over_peer": r["ratio"],
                           "paired": r["paired"],
                           **({k: v for k, v in r["summary"].items() if k != "values"} if r["summary"] else {})}
                          for r in rows]}
    os.makedirs(SUITE_OUT, exist_ok=True)
    out_json = os.path.join(SUITE_OUT, "results-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(out_json, "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    print("results: %s" % os.path.relpath(out_json, ROOT))
    ratio_svg, rel_svg = charts(rows, runtimes)
    with open(os.path.join(SUITE_OUT, "ratios.svg"), "w") as f:
        f.write(ratio_svg)
    with open(os.path.join(SUITE_OUT, "runtimes.svg"), "w") as f:
        f.write(rel_svg)
    if write:
        cmd = "bench/run-peers.sh" + ("".join(" " + x for x in sys.argv[1:]) if sys.argv[1:] else "")
        write_docs(report, rows, ratio_svg, rel_svg, cmd)
        print("docs: docs/benchmarks.md, docs/benchmarks/{ratios.svg,runtimes.svg,results.json} rewritten")
    failed = any(not r["ok"] for d in results.values() for e in d.values() for r in e["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
