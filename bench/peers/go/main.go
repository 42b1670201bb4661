// peer-go: the Go side of tether's side-by-side benchmark suite.
//
// Usage: peer-go <workload> [key=value ...]
// Prints exactly one JSON object on stdout (see bench/suite/PROTOCOL.md) and
// exits non-zero when the workload's own result check fails.
// Workload semantics are specified in docs/benchmarks.md.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type params map[string]string

func (p params) int(key string, def int64) int64 {
	v, ok := p[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		fail("bad value for %s: %q", key, v)
	}
	return n
}

var workloadName string

func emit(fields map[string]any) {
	fields["runtime"] = "go"
	fields["workload"] = workloadName
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

func fail(format string, args ...any) {
	emit(map[string]any{"ok": false, "error": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

// splitmix64: the shared pseudo-random generator of the suite (same constants in every peer).
type splitmix64 struct{ state uint64 }

func (s *splitmix64) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fail("read statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func result(start time.Time, ops int64, extra map[string]any) {
	m := map[string]any{"ok": true, "elapsed_ns": time.Since(start).Nanoseconds(), "ops": ops}
	for k, v := range extra {
		m[k] = v
	}
	emit(m)
}

func spawn(p params) {
	n := p.int("n", 1_000_000)
	start := time.Now()
	var wg sync.WaitGroup
	var sum int64
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&sum, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	if sum != n {
		fail("spawn: %d tasks ran, want %d", sum, n)
	}
	result(start, n, nil)
}

func skynetNode(num, size, branch int64, out chan<- int64) {
	if size == 1 {
		out <- num
		return
	}
	child := size / branch
	in := make(chan int64, branch)
	for i := int64(0); i < branch; i++ {
		go skynetNode(num+i*child, child, branch, in)
	}
	var sum int64
	for i := int64(0); i < branch; i++ {
		sum += <-in
	}
	out <- sum
}

func skynet(p params) {
	n := p.int("n", 1_000_000)
	branch := p.int("branch", 10)
	start := time.Now()
	out := make(chan int64, 1)
	go skynetNode(0, n, branch, out)
	sum := <-out
	if want := n * (n - 1) / 2; sum != want {
		fail("skynet: sum %d, want %d", sum, want)
	}
	// tasks = every node of the tree
	tasks, level := int64(0), int64(1)
	for level <= n {
		tasks += level
		level *= branch
	}
	result(start, tasks, map[string]any{"check": sum})
}

func mpsc(p params) {
	n := p.int("n", 10_000_000)
	producers := p.int("producers", 1)
	capacity := p.int("capacity", 1024)
	if n%producers != 0 {
		fail("n must be a multiple of producers")
	}
	start := time.Now()
	ch := make(chan uint64, capacity)
	for pr := int64(0); pr < producers; pr++ {
		go func(first int64) {
			for v := first; v < n; v += producers {
				ch <- uint64(v)
			}
		}(pr)
	}
	var sum uint64
	for i := int64(0); i < n; i++ {
		sum += <-ch
	}
	if want := uint64(n) * uint64(n-1) / 2; sum != want {
		fail("mpsc: sum %d, want %d", sum, want)
	}
	result(start, n, map[string]any{"check": sum})
}

func pingpong(p params) {
	n := p.int("n", 1_000_000)
	start := time.Now()
	ping := make(chan uint64, 1)
	pong := make(chan uint64, 1)
	go func() {
		for i := int64(0); i < n; i++ {
			pong <- (<-ping) + 1
		}
	}()
	for i := uint64(0); i < uint64(n); i++ {
		ping <- i
		if r := <-pong; r != i+1 {
			fail("pingpong: reply %d to %d", r, i)
		}
	}
	result(start, n, nil)
}

func sleepWorkload(p params) {
	n := p.int("n", 1_000_000)
	maxMs := uint64(p.int("max_ms", 100))
	rng := splitmix64{uint64(p.int("seed", 42))}
	start := time.Now()
	var wg sync.WaitGroup
	var done int64
	var check, longest uint64
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		ms := rng.next() % (maxMs + 1)
		check += ms
		if ms > longest {
			longest = ms
		}
		go func(d time.Duration) {
			time.Sleep(d)
			atomic.AddInt64(&done, 1)
			wg.Done()
		}(time.Duration(ms) * time.Millisecond)
	}
	wg.Wait()
	if done != n {
		fail("sleep: %d tasks woke, want %d", done, n)
	}
	result(start, n, map[string]any{"check": check, "longest_ms": longest})
}

func idle(p params) {
	n := p.int("n", 1_000_000)
	runtime.GC()
	before := rssBytes()
	start := time.Now()
	release := make(chan struct{})
	var parked int64
	var wg sync.WaitGroup
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			<-release
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < n {
		time.Sleep(time.Millisecond)
	}
	// let the last tasks reach their receive
	time.Sleep(10 * time.Millisecond)
	after := rssBytes()
	close(release)
	wg.Wait()
	result(start, n, map[string]any{
		"bytes_per_task": float64(after-before) / float64(n),
		"rss_before":     before, "rss_parked": after,
	})
}

func mutex(p params) {
	tasks := p.int("tasks", 1000)
	iters := p.int("iters", 1000)
	start := time.Now()
	var mu sync.Mutex
	var counter int64
	var wg sync.WaitGroup
	wg.Add(int(tasks))
	for t := int64(0); t < tasks; t++ {
		go func() {
			for i := int64(0); i < iters; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	if counter != tasks*iters {
		fail("mutex: counter %d, want %d", counter, tasks*iters)
	}
	result(start, tasks*iters, map[string]any{"check": counter})
}

func echoServer(p params) {
	port := p.int("port", 0)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fail("listen: %v", err)
	}
	var conns int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			atomic.AddInt64(&conns, 1)
			go func(c net.Conn) {
				defer c.Close()
				c.(*net.TCPConn).SetNoDelay(true)
				buf := make([]byte, 4096)
				for {
					k, err := c.Read(buf)
					if k > 0 {
						if _, werr := c.Write(buf[:k]); werr != nil {
							return
						}
					}
					if err != nil {
						if err != io.EOF {
							return
						}
						return
					}
				}
			}(c)
		}
	}()
	fmt.Printf("{\"ready\":true,\"runtime\":\"go\",\"workload\":\"echo-server\",\"port\":%d}\n",
		ln.Addr().(*net.TCPAddr).Port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ln.Close()
	emit(map[string]any{"ok": true, "connections": atomic.LoadInt64(&conns)})
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: peer-go <workload> [key=value ...]")
		os.Exit(2)
	}
	workloadName = os.Args[1]
	p := params{}
	for _, a := range os.Args[2:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			fail("argument %q is not key=value", a)
		}
		p[k] = v
	}
	runtime.GOMAXPROCS(int(p.int("workers", 2)))
	switch workloadName {
	case "spawn":
		spawn(p)
	case "skynet":
		skynet(p)
	case "mpsc":
		mpsc(p)
	case "pingpong":
		pingpong(p)
	case "sleep":
		sleepWorkload(p)
	case "idle":
		idle(p)
	case "mutex":
		mutex(p)
	case "echo-server":
		echoServer(p)
	default:
		fmt.Fprintf(os.Stderr, "peer-go: unknown workload %q\n", workloadName)
		os.Exit(2)
	}
}
