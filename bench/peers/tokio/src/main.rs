//! peer-tokio: the Tokio side of tether's side-by-side benchmark suite.
//!
//! Usage: peer-tokio <workload> [key=value ...]
//! Prints exactly one JSON object on stdout (see bench/suite/PROTOCOL.md) and
//! exits non-zero when the workload's own result check fails.
//! Workload semantics are specified in docs/benchmarks.md.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Mutex, Notify, Semaphore};

struct Params(HashMap<String, String>);

impl Params {
    fn get(&self, key: &str, def: u64) -> u64 {
        match self.0.get(key) {
            None => def,
            Some(v) => v.parse().unwrap_or_else(|_| fail(&format!("bad value for {key}: {v:?}"))),
        }
    }
}

static mut WORKLOAD: String = String::new();

fn workload_name() -> &'static str {
    // written once in main before any task starts
    unsafe { WORKLOAD.as_str() }
}

/// One JSON value of a result line: numbers and booleans only, plus the error string.
enum V {
    U(u64),
    F(f64),
    B(bool),
    S(String),
}

fn emit(fields: &[(&str, V)]) {
    let mut out = format!("{{\"runtime\":\"tokio\",\"workload\":\"{}\"", workload_name());
    for (k, v) in fields {
        let val = match v {
            V::U(u) => u.to_string(),
            V::F(f) => format!("{f:.3}"),
            V::B(b) => b.to_string(),
            V::S(s) => format!("{:?}", s),
        };
        out.push_str(&format!(",\"{k}\":{val}"));
    }
    out.push('}');
    println!("{out}");
}

fn fail(msg: &str) -> ! {
    emit(&[("ok", V::B(false)), ("error", V::S(msg.to_string()))]);
    std::process::exit(1);
}

fn result(start: Instant, ops: u64, mut extra: Vec<(&str, V)>) {
    let mut f = vec![
        ("ok", V::B(true)),
        ("elapsed_ns", V::U(start.elapsed().as_nanos() as u64)),
        ("ops", V::U(ops)),
    ];
    f.append(&mut extra);
    emit(&f);
}

/// splitmix64: the shared pseudo-random generator of the suite (same constants in every peer).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_else(|e| fail(&format!("statm: {e}")));
    let pages: u64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    pages * unsafe { libc_page_size() }
}

extern "C" {
    fn getpagesize() -> i32;
}
unsafe fn libc_page_size() -> u64 {
    getpagesize() as u64
}

/// Counts finished tasks; the last one wakes the waiter (a WaitGroup).
struct Countdown {
    left: AtomicU64,
    done: Notify,
}

impl Countdown {
    fn new(n: u64) -> Arc<Self> {
        Arc::new(Countdown { left: AtomicU64::new(n), done: Notify::new() })
    }
    fn finish(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }
    async fn wait(&self) {
        while self.left.load(Ordering::Acquire) != 0 {
            self.done.notified().await;
        }
    }
}

async fn spawn_wl(p: Params) {
    let n = p.get("n", 1_000_000);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for _ in 0..n {
        handles.push(tokio::spawn(async { 1u64 }));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap();
    }
    if sum != n {
        fail(&format!("spawn: {sum} tasks ran, want {n}"));
    }
    result(start, n, vec![]);
}

fn skynet_node(num: u64, size: u64, branch: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let child = size / branch;
        let mut handles = Vec::with_capacity(branch as usize);
        for i in 0..branch {
            handles.push(tokio::spawn(skynet_node(num + i * child, child, branch)));
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

async fn skynet(p: Params) {
    let n = p.get("n", 1_000_000);
    let branch = p.get("branch", 10);
    let start = Instant::now();
    let sum = tokio::spawn(skynet_node(0, n, branch)).await.unwrap();
    if sum != n * (n - 1) / 2 {
        fail(&format!("skynet: sum {sum}, want {}", n * (n - 1) / 2));
    }
    let (mut tasks, mut level) = (0, 1);
    while level <= n {
        tasks += level;
        level *= branch;
    }
    result(start, tasks, vec![("check", V::U(sum))]);
}

async fn mpsc_wl(p: Params) {
    let n = p.get("n", 10_000_000);
    let producers = p.get("producers", 1);
    let capacity = p.get("capacity", 1024);
    if n % producers != 0 {
        fail("n must be a multiple of producers");
    }
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel::<u64>(capacity as usize);
    for first in 0..producers {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut v = first;
            while v < n {
                if tx.send(v).await.is_err() {
                    fail("mpsc: receiver gone");
                }
                v += producers;
            }
        });
    }
    drop(tx);
    let mut sum = 0u64;
    for _ in 0..n {
        sum += rx.recv().await.unwrap_or_else(|| fail("mpsc: channel closed early"));
    }
    if sum != n * (n - 1) / 2 {
        fail(&format!("mpsc: sum {sum}"));
    }
    result(start, n, vec![("check", V::U(sum))]);
}

async fn pingpong(p: Params) {
    let n = p.get("n", 1_000_000);
    let start = Instant::now();
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    tokio::spawn(async move {
        for _ in 0..n {
            let v = ping_rx.recv().await.unwrap();
            pong_tx.send(v + 1).await.unwrap();
        }
    });
    for i in 0..n {
        ping_tx.send(i).await.unwrap();
        let r = pong_rx.recv().await.unwrap();
        if r != i + 1 {
            fail(&format!("pingpong: reply {r} to {i}"));
        }
    }
    result(start, n, vec![]);
}

async fn sleep_wl(p: Params) {
    let n = p.get("n", 1_000_000);
    let max_ms = p.get("max_ms", 100);
    let mut rng = SplitMix64(p.get("seed", 42));
    let start = Instant::now();
    let cd = Countdown::new(n);
    let (mut check, mut longest) = (0u64, 0u64);
    for _ in 0..n {
        let ms = rng.next() % (max_ms + 1);
        check += ms;
        longest = longest.max(ms);
        let cd = cd.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            cd.finish();
        });
    }
    cd.wait().await;
    result(start, n, vec![("check", V::U(check)), ("longest_ms", V::U(longest))]);
}

async fn idle(p: Params) {
    let n = p.get("n", 1_000_000);
    let before = rss_bytes();
    let start = Instant::now();
    let release = Arc::new(Semaphore::new(0));
    let parked = Arc::new(AtomicU64::new(0));
    let cd = Countdown::new(n);
    for _ in 0..n {
        let (release, parked, cd) = (release.clone(), parked.clone(), cd.clone());
        tokio::spawn(async move {
            parked.fetch_add(1, Ordering::Relaxed);
            // closing the semaphore wakes every waiter with an error
            let _ = release.acquire().await;
            cd.finish();
        });
    }
    while parked.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let after = rss_bytes();
    release.close();
    cd.wait().await;
    result(start, n, vec![
        ("bytes_per_task", V::F((after as f64 - before as f64) / n as f64)),
        ("rss_before", V::U(before)),
        ("rss_parked", V::U(after)),
    ]);
}

async fn mutex_wl(p: Params) {
    let tasks = p.get("tasks", 1000);
    let iters = p.get("iters", 1000);
    let start = Instant::now();
    let m = Arc::new(Mutex::new(0u64));
    let mut handles = Vec::with_capacity(tasks as usize);
    for _ in 0..tasks {
        let m = m.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..iters {
                *m.lock().await += 1;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let counter = *m.lock().await;
    if counter != tasks * iters {
        fail(&format!("mutex: counter {counter}, want {}", tasks * iters));
    }
    result(start, tasks * iters, vec![("check", V::U(counter))]);
}

async fn echo_server(p: Params) {
    let port = p.get("port", 0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port as u16))
        .await
        .unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let port = listener.local_addr().unwrap().port();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = match listener.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            counted.fetch_add(1, Ordering::Relaxed);
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => {
                            if sock.write_all(&buf[..k]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    println!("{{\"ready\":true,\"runtime\":\"tokio\",\"workload\":\"echo-server\",\"port\":{port}}}");
    term.recv().await;
    emit(&[("ok", V::B(true)), ("connections", V::U(conns.load(Ordering::Relaxed)))]);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: peer-tokio <workload> [key=value ...]");
        std::process::exit(2);
    }
    unsafe { WORKLOAD = args[1].clone() };
    let mut map = HashMap::new();
    for a in &args[2..] {
        match a.split_once('=') {
            Some((k, v)) => {
                map.insert(k.to_string(), v.to_string());
            }
            None => fail(&format!("argument {a:?} is not key=value")),
        }
    }
    let p = Params(map);
    let workers = p.get("workers", 2) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let name = args[1].clone();
    // The workload's main task runs on a worker, like every other task.
    let main_task: Pin<Box<dyn Future<Output = ()> + Send>> = match name.as_str() {
        "spawn" => Box::pin(spawn_wl(p)),
        "skynet" => Box::pin(skynet(p)),
        "mpsc" => Box::pin(mpsc_wl(p)),
        "pingpong" => Box::pin(pingpong(p)),
        "sleep" => Box::pin(sleep_wl(p)),
        "idle" => Box::pin(idle(p)),
        "mutex" => Box::pin(mutex_wl(p)),
        "echo-server" => Box::pin(echo_server(p)),
        _ => {
            eprintln!("peer-tokio: unknown workload {name:?}");
            std::process::exit(2);
        }
    };
    rt.block_on(async move { tokio::spawn(main_task).await.unwrap() });
    // do not wait for parked server connections to drain
    rt.shutdown_background();
}
