package netbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/executor-go/executor"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

const msgSize = 1 << 10

// A contender is a running echo server.
type contender struct {
	addr  string
	stop  func()
	enter func() uint64 // io_uring_enter calls so far, or nil
}

type starter struct {
	name  string
	start func(tb testing.TB) contender
}

var starters = []starter{
	{"executor-uring", func(tb testing.TB) contender { return startExecutor(tb, "uring", false) }},
	{"executor-ring", func(tb testing.TB) contender { return startExecutor(tb, "uring", true) }},
	{"executor-portable", func(tb testing.TB) contender { return startExecutor(tb, "portable", false) }},
	{"net", startNet},
	{"gnet", startGnet},
}

// startExecutor serves echo with a task per connection, with ring sockets
// (Options.RingSockets) if ring.
func startExecutor(tb testing.TB, backend string, ring bool) contender {
	e, err := executor.New(executor.Options{Backend: backend, RingSockets: ring})
	if err != nil {
		tb.Fatal(err)
	}
	if got := e.Backend(); got != backend {
		tb.Skipf("backend %s unavailable: %s", backend, e.BackendReason())
	}
	ctx := e.Context()
	l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return struct{}{}, nil
			}
			executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				defer c.Close()
				buf := make([]byte, 4<<10)
				for {
					n, err := c.Read(ctx, buf)
					if err != nil {
						return struct{}{}, nil
					}
					if _, err := c.Write(ctx, buf[:n]); err != nil {
						return struct{}{}, nil
					}
				}
			})
		}
	})
	return contender{
		addr: l.Addr().String(),
		stop: func() {
			l.Close()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.Shutdown(sctx); err != nil {
				tb.Errorf("executor shutdown: %v", err)
			}
		},
		enter: func() uint64 { return e.IOStats().Enters },
	}
}

// startNet serves echo with the net package and a goroutine per
// connection: the anchor.
func startNet(tb testing.TB) contender {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 4<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	return contender{addr: l.Addr().String(), stop: func() { l.Close(); wg.Wait() }}
}

// gnetEcho is gnet's echo server.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	eng     gnet.Engine
	started chan struct{}
}

func (h *gnetEcho) OnBoot(eng gnet.Engine) gnet.Action {
	h.eng = eng
	close(h.started)
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

// quietLogger drops gnet's log lines but errors, which would otherwise
// interleave with the benchmark's output (gnet logs its start-up at INFO
// whatever WithLogLevel says).
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", a...)
}
func (quietLogger) Fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", a...)
}

var _ logging.Logger = quietLogger{}

func startGnet(tb testing.TB) contender {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	h := &gnetEcho{started: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(h, "tcp://"+addr, gnet.WithMulticore(true), gnet.WithLogger(quietLogger{}))
	}()
	select {
	case <-h.started:
	case err := <-done:
		tb.Fatalf("gnet: %v", err)
	}
	return contender{addr: addr, stop: func() {
		h.eng.Stop(context.Background())
		<-done
	}}
}

// BenchmarkEcho runs the ping-pong of 1 KiB messages against every
// contender at 1, 64 and 1,000 connections; b.N is the total number of
// requests, spread over the connections.
func BenchmarkEcho(b *testing.B) {
	raiseFDLimit(b, 8192)
	for _, conns := range []int{1, 64, 1000} {
		for _, s := range starters {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, s.name), func(b *testing.B) {
				srv := s.start(b)
				defer srv.stop()
				pingPong(b, srv, conns)
			})
		}
	}
}

func pingPong(b *testing.B, srv contender, conns int) {
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	// Warm up: every connection makes a few round trips, so that the
	// servers' goroutines, threads and buffers exist before measuring.
	run(b, clients, 4*conns, nil)

	counter := newSyscallCounter()
	defer counter.close()
	lat := make([][]time.Duration, conns)
	var ru0, ru1 unix.Rusage
	var enter0 uint64
	if srv.enter != nil {
		enter0 = srv.enter()
	}
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	sys0 := counter.read()
	b.ResetTimer()
	start := time.Now()
	run(b, clients, b.N, lat)
	elapsed := time.Since(start)
	b.StopTimer()
	sys1 := counter.read()
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds())/1e3, "p99-µs")
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/n, "cpu-µs/req")
	if counter.ok() {
		b.ReportMetric(float64(sys1-sys0)/n, "sys/req")
	}
	csw := (ru1.Nvcsw + ru1.Nivcsw) - (ru0.Nvcsw + ru0.Nivcsw)
	b.ReportMetric(float64(csw)/n, "csw/req")
	if srv.enter != nil {
		b.ReportMetric(float64(srv.enter()-enter0)/n, "enter/req")
	}
	b.ReportMetric(0, "ns/op") // meaningless here: req/s says it
}

// run makes total round trips spread over the clients, each from its own
// goroutine, recording each round trip's latency in lat[i] if lat is not
// nil.
func run(b *testing.B, clients []net.Conn, total int, lat [][]time.Duration) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, c := range clients {
		quota := total / len(clients)
		if i < total%len(clients) {
			quota++
		}
		if quota == 0 {
			continue
		}
		if lat != nil {
			lat[i] = make([]time.Duration, 0, quota)
		}
		wg.Go(func() {
			msg := make([]byte, msgSize)
			buf := make([]byte, msgSize)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			for range quota {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					return
				}
				if lat != nil {
					lat[i] = append(lat[i], time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func raiseFDLimit(tb testing.TB, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= n {
		return
	}
	lim.Cur = min(n, lim.Max)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// syscallCounter counts the system calls of every thread of the process
// with a perf tracepoint counter (raw_syscalls:sys_enter) per thread. It
// counts threads that exist when it is made; the warm-up before it makes
// sure the servers' threads do.
type syscallCounter struct {
	fds []int
}

func newSyscallCounter() *syscallCounter {
	c := &syscallCounter{}
	idb, err := os.ReadFile("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id")
	if err != nil {
		return c
	}
	id, err := strconv.ParseUint(string(trim(idb)), 10, 64)
	if err != nil {
		return c
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return c
	}
	for _, ent := range ents {
		tid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_TRACEPOINT, Config: id}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, tid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			c.close()
			return &syscallCounter{}
		}
		c.fds = append(c.fds, fd)
	}
	return c
}

func (c *syscallCounter) ok() bool { return len(c.fds) > 0 }

func (c *syscallCounter) read() uint64 {
	var total uint64
	var b [8]byte
	for _, fd := range c.fds {
		if n, err := unix.Read(fd, b[:]); err == nil && n == 8 {
			total += *(*uint64)(unsafe.Pointer(&b[0]))
		}
	}
	return total
}

func (c *syscallCounter) close() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// TestEchoServers checks that every contender echoes byte for byte, so
// that the benchmark measures servers that work.
func TestEchoServers(t *testing.T) {
	for _, s := range starters {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			defer srv.stop()
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := make([]byte, 64<<10)
			for i := range msg {
				msg[i] = byte(i * 7)
			}
			go c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != string(msg) {
				t.Fatal("echo differs")
			}
		})
	}
}
