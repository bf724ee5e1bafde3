package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/executor-go/executor"
)

// childEnv carries a cellSpec, as JSON, to a child process: a process
// started with it set measures one cell, writes its cellResult to standard
// output as JSON, and exits.
const childEnv = "EXECBENCH_CELL"

// cellSpec is the work of one cell for a Go contender.
type cellSpec struct {
	Bench     string        `json:"bench,omitempty"`    // "" for file reads, "net" for echo, "tasks" for the task workloads
	Contender string        `json:"contender"`          // "uring", "portable" or "os"; for echo, "uring", "portable" or "net"; for tasks, a key of taskContenders
	Sleepers  int           `json:"sleepers,omitempty"` // tasks: sleepers per nap
	Nap       time.Duration `json:"nap,omitempty"`      // tasks: how long each sleeps
	Conns     int           `json:"conns,omitempty"`    // echo: connections
	MsgSize   int           `json:"msg_size,omitempty"` // echo: bytes per message
	Workers   int           `json:"workers,omitempty"`  // echo: the executor's Workers; 0 means GOMAXPROCS
	Path      string        `json:"path"`
	Size      int64         `json:"size"`
	Direct    bool          `json:"direct"`
	Depth     int           `json:"depth"`
	Duration  time.Duration `json:"duration"`
}

// runCell measures one cell of a Go contender in a child process, so that
// the process-wide figures (CPU time, OS threads) are the cell's own.
func runCell(ctx context.Context, spec cellSpec) (cellResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return cellResult{}, fmt.Errorf("finding own executable to run a cell: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return cellResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttr()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return cellResult{}, ctx.Err()
		}
		return cellResult{}, fmt.Errorf("cell process: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var r cellResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return cellResult{}, fmt.Errorf("cell process wrote %q: %v", stdout.Bytes(), err)
	}
	return r, nil
}

// childAttr returns the attributes of a child process, a cell's or fio's.
// A child gets a process group of its own, so that the terminal's Ctrl-C
// reaches only us: we then stop the child (exec.CommandContext kills it)
// and know the cell was interrupted rather than failed. If we die without
// stopping it, the kernel kills it (Pdeathsig) rather than let it read on.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// childMain is the whole life of a child process: decode the spec, measure,
// print the result.
func childMain(specJSON string) {
	var spec cellSpec
	err := json.Unmarshal([]byte(specJSON), &spec)
	var r cellResult
	if err == nil {
		r, err = measure(spec)
	}
	if err == nil {
		err = json.NewEncoder(os.Stdout).Encode(r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "execbench cell %s: %v\n", specJSON, err)
		os.Exit(1)
	}
}

// measure runs one cell in this process.
func measure(spec cellSpec) (cellResult, error) {
	switch spec.Bench {
	case "net":
		return measureNet(spec)
	case "tasks":
		return measureTask(spec)
	}
	if spec.Depth < 1 || spec.Size < blockSize || spec.Duration <= 0 {
		return cellResult{}, fmt.Errorf("bad cell %+v", spec)
	}
	flag := os.O_RDONLY
	if spec.Direct {
		flag |= syscall.O_DIRECT
	}
	switch spec.Contender {
	case "uring", "portable", "pool":
		return measureExecutor(spec, flag)
	case "os":
		return measureOS(spec, flag)
	}
	return cellResult{}, fmt.Errorf("unknown contender %q", spec.Contender)
}

// measureExecutor: Depth tasks on an executor with GOMAXPROCS workers, each
// reading through an executor.File.
func measureExecutor(spec cellSpec, flag int) (cellResult, error) {
	e, err := executor.New(executor.Options{Workers: runtime.GOMAXPROCS(0), Backend: executorBackend(spec.Contender)})
	if err != nil {
		return cellResult{}, err
	}
	defer e.Shutdown(context.Background())
	backend := e.Backend()
	if backend == "" {
		return cellResult{Unavailable: "io_uring refused: " + e.BackendReason()}, nil
	}
	ctx := e.Context()
	f, err := executor.OpenFile(ctx, spec.Path, flag, 0)
	if err != nil {
		return openFailed(spec, err)
	}
	defer f.Close()
	r := cellResult{Backend: backend}
	bufs := alignedBuffers(spec.Depth)
	if spec.Contender == "pool" {
		// The readers' buffers come from a pool registered with the ring.
		pool, err := executor.NewBufferPool(ctx, blockSize, spec.Depth)
		if err != nil {
			return cellResult{}, err
		}
		defer pool.Close()
		if !pool.Registered() {
			return cellResult{Unavailable: "buffers not registered: " + pool.RegisterError().Error()}, nil
		}
		for i := range bufs {
			if bufs[i], err = pool.Get(ctx); err != nil {
				return cellResult{}, err
			}
			defer pool.Put(bufs[i])
		}
	}
	before := e.IOStats()
	err = drive(spec, &r, bufs, func(i int, buf []byte, stop *atomic.Bool) func() (int64, error) {
		h := executor.Spawn(ctx, func(ctx context.Context) (int64, error) {
			return readLoop(uint64(i), spec.Size, buf, stop, func(p []byte, off int64) (int, error) {
				return f.ReadAt(ctx, p, off)
			})
		})
		return func() (int64, error) { return h.Join(ctx) }
	})
	after := e.IOStats()
	r.Enters, r.HaveEnters = after.Enters-before.Enters, true
	r.Inline = after.Inline - before.Inline
	r.Fixed = after.Fixed - before.Fixed
	r.ThreadCPU = after.ThreadCPU - before.ThreadCPU
	return r, err
}

// measureOS: Depth goroutines, each reading through the same os.File, as
// Go code does without the executor.
func measureOS(spec cellSpec, flag int) (cellResult, error) {
	f, err := os.OpenFile(spec.Path, flag, 0)
	if err != nil {
		return openFailed(spec, err)
	}
	defer f.Close()
	// os.File makes no io_uring_enter calls: 0 is a measurement.
	r := cellResult{HaveEnters: true}
	err = drive(spec, &r, alignedBuffers(spec.Depth), func(i int, buf []byte, stop *atomic.Bool) func() (int64, error) {
		var (
			n    int64
			err  error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			n, err = readLoop(uint64(i), spec.Size, buf, stop, f.ReadAt)
		}()
		return func() (int64, error) { <-done; return n, err }
	})
	return r, err
}

// drive runs a cell: it starts spec.Depth readers with start (reader i
// reads into bufs[i]), which returns a function that waits for the reader
// and returns its count, stops them after spec.Duration, and measures
// around them.
func drive(spec cellSpec, r *cellResult, bufs [][]byte, start func(i int, buf []byte, stop *atomic.Bool) (wait func() (int64, error))) error {
	var stop atomic.Bool
	m := startMeter()
	timer := time.AfterFunc(spec.Duration, func() { stop.Store(true) })
	defer timer.Stop()
	waits := make([]func() (int64, error), spec.Depth)
	for i := range waits {
		waits[i] = start(i, bufs[i], &stop)
	}
	var errs []error
	for _, wait := range waits {
		n, err := wait()
		r.Ops += n
		errs = append(errs, err)
	}
	m.stop(r)
	return errors.Join(errs...)
}

// openFailed turns the failure to open the file into the cell's result:
// unavailable if O_DIRECT was refused, an error otherwise.
func openFailed(spec cellSpec, err error) (cellResult, error) {
	if spec.Direct && errors.Is(err, syscall.EINVAL) {
		return cellResult{Unavailable: directRefused}, nil
	}
	return cellResult{}, err
}

// directRefused explains an EINVAL from open(O_DIRECT).
const directRefused = "O_DIRECT refused (EINVAL): the file system does not support it; use -dir on a disk"

// readLoop reads one block at a time into buf, at offsets drawn uniformly
// from the file's blocks, until stop is set or a read fails, and returns
// how many reads completed. Each reader has its own generator, seeded by
// its index, so runs draw the same offsets.
func readLoop(seed uint64, size int64, buf []byte, stop *atomic.Bool, readAt func([]byte, int64) (int, error)) (int64, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	blocks := size / blockSize
	var n int64
	for !stop.Load() {
		off := rng.Int64N(blocks) * blockSize
		m, err := readAt(buf, off)
		if err != nil {
			stop.Store(true) // the cell has failed: end it now
			return n, err
		}
		if m != len(buf) {
			stop.Store(true)
			return n, fmt.Errorf("short read at %d: %d bytes", off, m)
		}
		n++
	}
	return n, nil
}

// alignedBuffers returns n block-sized buffers aligned to blockSize, as
// O_DIRECT requires, cut from one allocation. The Go heap does not move
// objects, so the alignment holds for the buffers' lifetime.
func alignedBuffers(n int) [][]byte {
	mem := make([]byte, (n+1)*blockSize)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&mem[0])) % blockSize); r != 0 {
		skip = blockSize - r
	}
	mem = mem[skip:]
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = mem[i*blockSize : (i+1)*blockSize : (i+1)*blockSize]
	}
	return bufs
}

// meter measures a cell's wall time, the process's CPU time and its peak
// number of OS threads.
type meter struct {
	start time.Time
	cpu   time.Duration
	rw    uint64 // rwCalls at the start
	hasRW bool
	peak  atomic.Int64
	done  chan struct{}
	wg    sync.WaitGroup
}

// threadSample is how often the meter counts threads: often enough to see
// threads made for a burst of blocking reads, rarely enough to cost nothing.
const threadSample = 20 * time.Millisecond

func startMeter() *meter {
	m := &meter{done: make(chan struct{})}
	m.peak.Store(int64(countThreads()))
	m.wg.Go(func() {
		t := time.NewTicker(threadSample)
		defer t.Stop()
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
				if n := int64(countThreads()); n > m.peak.Load() {
					m.peak.Store(n)
				}
			}
		}
	})
	m.rw, m.hasRW = rwCalls()
	m.cpu = cpuTime()
	m.start = time.Now()
	return m
}

// stop ends the measurement and stores it in r.
func (m *meter) stop(r *cellResult) {
	r.Elapsed = time.Since(m.start)
	r.CPU, r.HaveCPU = cpuTime()-m.cpu, true
	if rw, ok := rwCalls(); ok && m.hasRW {
		r.RWCalls, r.HaveRWCalls = rw-m.rw, true
	}
	close(m.done)
	m.wg.Wait()
	r.Threads = int(max(m.peak.Load(), int64(countThreads())))
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rwCalls returns the read and write system calls the process has made
// so far, all threads included: syscr+syscw of /proc/self/io, which the
// kernel counts at no cost for every read, pread64, preadv2, write and
// their vector forms (not io_uring's requests, nor any other system call).
// ok is false if /proc cannot tell (no task I/O accounting).
func rwCalls() (n uint64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	seen := 0
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if k != "syscr" && k != "syscw" {
			continue
		}
		c, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		n += c
		seen++
	}
	return n, seen == 2
}

// countThreads returns the number of the process's OS threads, or 0 if
// /proc cannot tell.
func countThreads() int {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	return len(names)
}
