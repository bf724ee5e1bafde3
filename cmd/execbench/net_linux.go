package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/executor-go/executor"
	"golang.org/x/sys/unix"
)

// gnetNote is printed under the echo table: gnet lives in the bench
// module, which this command must not depend on.
const gnetNote = "gnet v2 is measured in the bench module: cd bench && go test -run '^$' -bench Echo ./netbench"

// runNet is the net subcommand: it parses args (after "net"), runs every
// cell of the echo benchmark in a child process, and prints the table to
// stdout and progress to stderr.
func runNet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseNetFlags(args, stderr)
	if err != nil {
		return err
	}
	m := netMachine{
		host:           thisHost(),
		CellDuration:   c.duration.String(),
		MsgSize:        c.size,
		Workers:        cmp.Or(c.workers, runtime.GOMAXPROCS(0)),
		Client:         "net.Dial to 127.0.0.1, a goroutine per connection writing a message and reading its echo",
		Gnet:           gnetNote,
		BackendReasons: make(map[string]string),
	}
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		m.Notes = append(m.Notes, s)
		fmt.Fprintln(stderr, s)
	}
	// A cell holds both ends of its connections, and a few descriptors
	// more. Go raised the soft limit to the hard one at start-up, and the
	// children inherit it: if it is still too low, say so now rather than
	// fail in the middle of the run.
	need := 2*slices.Max(c.conns) + 64
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(need) {
		return fmt.Errorf("-conns %d needs %d file descriptors; the limit is %d (raise it with ulimit -n)", slices.Max(c.conns), need, lim.Cur)
	}

	unavailable := make(map[string]string) // contender: why
	for _, b := range c.backends {
		if b == "net" {
			continue
		}
		backend := b
		if b == "ring" {
			backend = "uring" // with ring sockets
		}
		name, reason := probeBackend(backend)
		m.BackendReasons[backend] = reason
		if why := backendMismatch(backend, name, reason); why != "" {
			unavailable[b] = why
			note("executor(%s): unavailable: %s", b, why)
		}
	}

	total := len(c.conns) * len(c.backends) * c.rounds
	fmt.Fprintf(stderr, "execbench net: %d cells of %v, %s messages on 127.0.0.1, GOMAXPROCS %d\n",
		total, c.duration, sizeString(int64(c.size)), m.GOMAXPROCS)
	start := time.Now()
	// rounds[i][j] are the rounds of connection count i and server j. A
	// round runs every cell once, so that the rounds of two servers
	// alternate and share the machine's slow and fast moments alike.
	rounds := make([][][]netCell, len(c.conns))
	for i := range rounds {
		rounds[i] = make([][]netCell, len(c.backends))
	}
	n := 0
	for round := range c.rounds {
		for i, conns := range c.conns {
			for j, b := range c.backends {
				n++
				var r cellResult
				if why := unavailable[b]; why != "" {
					r.Unavailable = why
				} else {
					r, err = runCell(ctx, cellSpec{Bench: "net", Contender: b, Conns: conns, MsgSize: c.size, Duration: c.duration, Workers: c.workers})
					if err != nil {
						if ctx.Err() != nil {
							return err
						}
						// One broken cell should not cost the rest of the run.
						r = cellResult{Unavailable: "failed: " + err.Error()}
					}
				}
				cl := newNetCell(conns, b, r)
				rounds[i][j] = append(rounds[i][j], cl)
				progress := "unavailable: " + cl.Unavailable
				if cl.Unavailable == "" {
					progress = group(int64(cl.ReqPerSec+0.5)) + " req/s"
				}
				fmt.Fprintf(stderr, "[%*d/%d] %-18s conns %4d%s … %s\n", len(strconv.Itoa(total)), n, total, cl.Name, conns, roundLabel(round, c.rounds), progress)
				if r.SyscallsWhy != "" && cl.Unavailable == "" && round == 0 {
					note("%s, %d conns: syscalls/req not measured: %s", cl.Name, conns, r.SyscallsWhy)
				}
			}
		}
	}
	var cells []netCell
	for i := range rounds {
		cells = append(cells, medianCells(rounds[i])...)
	}
	fmt.Fprintf(stderr, "done in %.0fs\n\n", time.Since(start).Seconds())

	if err := writeNetTable(stdout, cells); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "\n%s\n", gnetNote); err != nil {
		return err
	}
	if c.jsonPath != "" {
		return writeFile(c.jsonPath, func(w io.Writer) error { return writeNetJSON(w, m, cells) })
	}
	return nil
}

// Bounds on a cell beyond its duration.
const (
	dialTimeout = 5 * time.Second
	// stuckGrace is how long after the end of its duration a cell may
	// take to finish its last round trips before its connections are
	// closed under it and it fails: a server that stopped echoing must
	// not hang the run.
	stuckGrace = 10 * time.Second
	warmRounds = 4 // round trips per connection before measuring
)

// measureNet runs one echo cell in this process: it starts the server of
// spec.Contender on 127.0.0.1, connects spec.Conns clients, warms them up,
// then has each make round trips until spec.Duration has passed, and stops
// everything before returning.
func measureNet(spec cellSpec) (r cellResult, err error) {
	if spec.Conns < 1 || spec.MsgSize < 1 || spec.Duration <= 0 {
		return cellResult{}, fmt.Errorf("bad cell %+v", spec)
	}
	srv, why, err := startEcho(spec.Contender, spec.MsgSize, spec.Workers)
	if err != nil || why != "" {
		return cellResult{Unavailable: why}, err
	}
	defer func() {
		if serr := srv.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("server: %w", serr))
		}
	}()

	clients := make([]net.Conn, 0, spec.Conns)
	defer func() {
		// Before the server stops, so that its side ends on EOF.
		for _, c := range clients {
			c.Close()
		}
	}()
	d := net.Dialer{Timeout: dialTimeout}
	for range spec.Conns {
		c, err := d.Dial("tcp", srv.addr)
		if err != nil {
			return cellResult{}, fmt.Errorf("dialing connection %d: %w", len(clients)+1, err)
		}
		clients = append(clients, c)
	}

	// Warm up: every connection makes a few round trips, checked byte for
	// byte, so that the server's tasks or goroutines, the runtime's threads
	// and the buffers exist before measuring, and the server is known to
	// echo.
	if _, err := echoClients(clients, spec.MsgSize, warmRounds, 0, nil); err != nil {
		return cellResult{}, fmt.Errorf("warm-up: %w", err)
	}

	counter := newSyscallCounter()
	defer counter.close()
	hists := make([]histogram, len(clients))
	r = cellResult{Backend: srv.backend}
	sys0, _ := counter.read()
	m := startMeter()
	r.Ops, err = echoClients(clients, spec.MsgSize, 0, spec.Duration, hists)
	sys1, late := counter.read()
	m.stop(&r)
	if err != nil {
		return cellResult{}, err
	}
	if counter.why != "" {
		r.SyscallsWhy = counter.why
	} else {
		r.Syscalls, r.HaveSyscalls, r.LateThreads = sys1-sys0, true, late
	}
	var all histogram
	for i := range hists {
		all.add(&hists[i])
	}
	r.P50, r.P99 = all.quantile(0.50), all.quantile(0.99)
	return r, nil
}

// echoClients runs a client on each connection, each from its own
// goroutine, and returns the round trips they completed. A client makes
// rounds round trips, checking each echo byte for byte, if rounds > 0; else
// it makes them without checking until d has passed, recording each round
// trip's latency in hists[i]. The first error stops every client. If the
// clients are not done stuckGrace after d, it closes their connections so
// that they are.
func echoClients(clients []net.Conn, size, rounds int, d time.Duration, hists []histogram) (int64, error) {
	var (
		stop, stuck atomic.Bool
		total       atomic.Int64
		wg          sync.WaitGroup
		mu          sync.Mutex
		errs        []error
	)
	if rounds == 0 {
		t := time.AfterFunc(d, func() { stop.Store(true) })
		defer t.Stop()
	}
	watchdog := time.AfterFunc(d+stuckGrace, func() {
		stuck.Store(true)
		for _, c := range clients {
			c.Close()
		}
	})
	defer watchdog.Stop()
	for i, c := range clients {
		wg.Go(func() {
			msg, buf := make([]byte, size), make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			var h *histogram
			if hists != nil {
				h = &hists[i]
			}
			n, err := echoLoop(c, msg, buf, rounds, &stop, h)
			total.Add(n)
			if err != nil {
				stop.Store(true)
				mu.Lock()
				errs = append(errs, fmt.Errorf("connection %d: %w", i+1, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stuck.Load() {
		return 0, fmt.Errorf("the clients still awaited echoes %v after their time was up: the server is stuck", stuckGrace)
	}
	if len(errs) > 0 {
		return 0, errs[0] // the first is the cause; the rest follow from stop
	}
	return total.Load(), nil
}

// echoLoop is one client: write msg, read its echo into buf, again. See
// echoClients.
func echoLoop(c net.Conn, msg, buf []byte, rounds int, stop *atomic.Bool, h *histogram) (int64, error) {
	var n int64
	for !stop.Load() && (rounds == 0 || n < int64(rounds)) {
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return n, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return n, err
		}
		if h != nil {
			h.record(time.Since(t0))
		}
		if rounds > 0 && !bytes.Equal(buf, msg) {
			return n, errors.New("the echo differs from the message")
		}
		n++
	}
	return n, nil
}

// echoServer is a running echo server.
type echoServer struct {
	addr    string
	backend string       // the executor's backend; "" for net
	stop    func() error // closes the listener and every connection, and waits for the server to end
}

// startEcho starts contender's echo server on 127.0.0.1 with an ephemeral
// port, reading up to size bytes at a time. why says why the contender
// cannot run here (io_uring refused), if it cannot.
func startEcho(contender string, size, workers int) (srv *echoServer, why string, err error) {
	switch contender {
	case "uring", "portable":
		return startExecutorEcho(contender, false, size, workers)
	case "ring":
		return startExecutorEcho("uring", true, size, workers)
	case "net":
		srv, err := startNetEcho(size)
		return srv, "", err
	}
	return nil, "", fmt.Errorf("unknown echo server %q", contender)
}

// startExecutorEcho serves echo with a task per connection on an executor
// with the given backend and workers (0: GOMAXPROCS); ringSockets sets
// Options.RingSockets.
func startExecutorEcho(backend string, ringSockets bool, size, workers int) (*echoServer, string, error) {
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	e, err := executor.New(executor.Options{Workers: workers, Backend: backend, RingSockets: ringSockets})
	if err != nil {
		return nil, "", err
	}
	if why := backendMismatch(backend, e.Backend(), e.BackendReason()); why != "" {
		return nil, why, e.Shutdown(context.Background())
	}
	// Shutdown does not cancel tasks: cancel closes what the clients'
	// EOF did not.
	ctx, cancel := context.WithCancel(e.Context())
	l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, "", errors.Join(err, e.Shutdown(context.Background()))
	}
	accept := executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					return struct{}{}, nil // stop closed the listener
				}
				return struct{}{}, err
			}
			executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				defer c.Close()
				buf := make([]byte, size)
				for {
					n, err := c.Read(ctx, buf)
					if err != nil {
						return struct{}{}, nil // EOF when the client closes
					}
					if _, err := c.Write(ctx, buf[:n]); err != nil {
						return struct{}{}, nil
					}
				}
			})
		}
	})
	stop := func() error {
		lerr := l.Close()
		_, aerr := accept.Join(e.Context())
		cancel()
		sctx, cancelShutdown := context.WithTimeout(context.Background(), stuckGrace)
		defer cancelShutdown()
		return errors.Join(lerr, aerr, e.Shutdown(sctx))
	}
	return &echoServer{addr: l.Addr().String(), backend: backend, stop: stop}, "", nil
}

// backendMismatch says why an executor asked for backend want runs on got
// (its BackendReason being reason), or "" if it does not: a server on
// another backend would measure the wrong thing.
func backendMismatch(want, got, reason string) string {
	switch got {
	case want:
		return ""
	case "":
		return "io_uring refused: " + reason
	}
	return fmt.Sprintf("runs on the %s backend: %s", got, reason)
}

// startNetEcho serves echo with the net package and a goroutine per
// connection: the anchor of the ratios.
func startNetEcho(size int) (*echoServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conns     = make(map[net.Conn]struct{})
		closed    bool
		acceptErr error
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					acceptErr = err
				}
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				continue
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				buf := make([]byte, size)
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
	stop := func() error {
		lerr := l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		return errors.Join(lerr, acceptErr)
	}
	return &echoServer{addr: l.Addr().String(), stop: stop}, nil
}

// histogram counts latencies in log-linear buckets: exact below 32 ns,
// then 32 buckets per power of two, so a quantile is within 1/64 (1.6%)
// of the truth whatever the duration, in fixed memory (a slice of every
// round trip would grow with -duration).
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	histSub     = 5 // log2 of the buckets per power of two
	histMaxBits = 40
	histBuckets = (histMaxBits - histSub + 1) << histSub // up to 2^40 ns (18 minutes); longer counts as that
)

// histIndex returns the bucket of v nanoseconds.
func histIndex(v uint64) int {
	if v < 1<<histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSub - 1
	i := shift<<histSub + int(v>>shift)
	return min(i, histBuckets-1)
}

// histValue returns the middle of bucket i, in nanoseconds.
func histValue(i int) uint64 {
	if i < 1<<histSub {
		return uint64(i)
	}
	shift := i>>histSub - 1
	low := uint64(i&(1<<histSub-1)|1<<histSub) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	h.counts[histIndex(uint64(max(d, 0)))]++
	h.n++
}

func (h *histogram) add(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q ≤ 1) of the recorded durations:
// the middle of the bucket holding the ⌈q·n⌉-th smallest. 0 if none.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(q*float64(h.n)+0.999999), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(histValue(i))
		}
	}
	return time.Duration(histValue(histBuckets - 1))
}

// syscallCounter counts the system calls of the process's threads with a
// perf tracepoint counter (raw_syscalls:sys_enter) per thread. A counter
// follows one thread, and the runtime may start threads at any time (when
// a system call blocks, say): so a goroutine looks for new threads every
// counterScan and counts them from then on. Their system calls before that
// are missed; late says how many threads came late. Opening it needs perf
// events for tracepoints (root, CAP_PERFMON, or kernel.perf_event_paranoid
// ≤ -1); why says why it counts nothing otherwise.
type syscallCounter struct {
	id   uint64 // the tracepoint
	why  string
	done chan struct{}
	wg   sync.WaitGroup

	mu   sync.Mutex
	fds  []int
	tids map[string]bool
	late int
}

// counterScan is how often the counter looks for new threads.
const counterScan = 10 * time.Millisecond

func newSyscallCounter() *syscallCounter {
	c := &syscallCounter{tids: make(map[string]bool), done: make(chan struct{})}
	idb, err := os.ReadFile("/sys/kernel/tracing/events/raw_syscalls/sys_enter/id")
	if err != nil {
		idb, err = os.ReadFile("/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id")
	}
	if err != nil {
		c.why = "the raw_syscalls tracepoint is not readable (tracefs not mounted, or not root)"
		return c
	}
	if c.id, err = strconv.ParseUint(strings.TrimSpace(string(idb)), 10, 64); err != nil {
		c.why = fmt.Sprintf("bad tracepoint id %q", idb)
		return c
	}
	if err := c.scan(); err != nil {
		c.closeFDs()
		c.why = err.Error()
		return c
	}
	c.late = 0
	c.wg.Go(func() {
		t := time.NewTicker(counterScan)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				c.scan() // a thread that cannot be followed just goes uncounted
			}
		}
	})
	return c
}

// scan opens a counter on every thread that has none yet.
func (c *syscallCounter) scan() error {
	tids, err := threadIDs()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tid := range tids {
		if c.tids[tid] {
			continue
		}
		t, _ := strconv.Atoi(tid)
		attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_TRACEPOINT, Config: c.id}
		attr.Size = uint32(unsafe.Sizeof(attr))
		fd, err := unix.PerfEventOpen(&attr, t, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("perf_event_open: %w", err)
		}
		c.fds = append(c.fds, fd)
		c.tids[tid] = true
		c.late++
	}
	return nil
}

// read returns the system calls counted so far, and how many threads
// were found after the counter was made.
func (c *syscallCounter) read() (n uint64, late int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b [8]byte
	for _, fd := range c.fds {
		if m, err := unix.Read(fd, b[:]); err == nil && m == 8 {
			n += *(*uint64)(unsafe.Pointer(&b[0]))
		}
	}
	return n, c.late
}

// close stops following threads and closes the counters.
func (c *syscallCounter) close() {
	if c.why == "" {
		close(c.done)
		c.wg.Wait()
	}
	c.closeFDs()
}

func (c *syscallCounter) closeFDs() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = nil
}

// threadIDs lists the process's threads.
func threadIDs() ([]string, error) {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}
