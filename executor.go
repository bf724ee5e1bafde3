package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"github.com/executor-go/executor/internal/sched"
)

// DefaultShutdownGrace is how long Main and Run wait for cleanup tasks when
// Options.ShutdownGrace is zero.
const DefaultShutdownGrace = 5 * time.Second

// ErrShutdown is returned (by Join, wrapped with the task's name) for a task
// spawned on an executor that has begun to shut down.
var ErrShutdown = errors.New("executor: executor is shut down")

// ErrClosed is ErrShutdown under its first name; errors.Is matches either.
//
// Deprecated: Use ErrShutdown. ErrClosed is easily confused with
// fs.ErrClosed and net.ErrClosed, which a closed File or Conn returns.
var ErrClosed = ErrShutdown

// Options configures an Executor. The zero value is ready to use.
type Options struct {
	// Workers is how many tasks may run at once; 0 means
	// runtime.GOMAXPROCS(0). A task holds a worker while it computes and
	// gives it up at every wait, so Workers bounds CPU parallelism, not the
	// number of tasks in flight.
	Workers int

	// Backend selects the I/O backend: BackendUring, BackendPortable, or
	// "" for the one named by the EXECUTOR_BACKEND environment variable if
	// set, otherwise the best available.
	Backend string

	// RingSockets makes the uring backend run socket operations (accept,
	// connect, receive, send) as io_uring requests. By default sockets wait
	// in the Go runtime's network poller on every backend, which measures
	// faster for request-response traffic (about twice as fast in 1 KiB
	// echo; see docs/ARCHITECTURE.md, "Performance and scale"). Ring
	// sockets run on a second ring of their own, opened by the first ring
	// socket operation; files use the first ring either way. RingSockets
	// has no effect on the portable backend.
	//
	// With RingSockets, each Read (or Accept) waiting for a peer holds one
	// of the socket ring's records for waiting operations until the peer
	// acts; there are about 63,000 of them, apart from the records that
	// sends and connects use, so idle connections never make those wait.
	// Past that many idle reads, a further Read waits for a record.
	RingSockets bool

	// ShutdownGrace is how long Main and Run wait, after the root task has
	// returned, for tasks spawned with AsCleanup. 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration

	// Logger receives the executor's reports: cleanup tasks that did not
	// finish in time, recovered panics nobody joined. nil means
	// slog.Default().
	Logger *slog.Logger

	// RecoverPanics decides what a panicking task does. false (the default)
	// crashes the process, as a panicking goroutine does, after printing the
	// task's name. true recovers the panic and Join returns it as a
	// *PanicError.
	RecoverPanics bool
}

// Executor runs tasks on a bounded pool of workers. Create one with New, or
// let Spawn use the default executor.
type Executor struct {
	opts  Options
	sched *sched.Scheduler
	ctx   context.Context // Context(): bound to e, no task

	idle chan struct{} // closed once no task is live after Shutdown or drain
	once sync.Once     // closes idle

	drvMu   sync.Mutex
	drvDone bool          // the driver was opened, or can no longer be
	drv     driver.Driver // the I/O driver, opened on first use
	drvErr  error

	sleepers sleepers // tasks in Sleep (timers.go)

	cleanupMu sync.Mutex
	cleanups  map[*cleanupEntry]struct{} // AsCleanup tasks still running
	cleanupCh chan struct{}              // signalled when a cleanup task ends
}

type cleanupEntry struct{ name string }

// New returns an executor configured by opts.
func New(opts Options) (*Executor, error) {
	if opts.Workers < 0 {
		return nil, fmt.Errorf("executor: Options.Workers is %d; want 0 (GOMAXPROCS) or more", opts.Workers)
	}
	if opts.ShutdownGrace < 0 {
		return nil, fmt.Errorf("executor: Options.ShutdownGrace is %v; want 0 (the default) or more", opts.ShutdownGrace)
	}
	switch opts.Backend {
	case "", BackendUring, BackendPortable:
	default:
		return nil, fmt.Errorf("executor: unknown Options.Backend %q; want \"\", \"uring\" or \"portable\"", opts.Backend)
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Executor{
		opts:      opts,
		sched:     sched.New(opts.Workers),
		idle:      make(chan struct{}),
		cleanups:  make(map[*cleanupEntry]struct{}),
		cleanupCh: make(chan struct{}, 1),
	}
	e.ctx = &taskContext{parent: context.Background(), e: e}
	e.sleepers.sched = e.sched
	e.sched.SetIOKinds(ioKinds)
	e.sched.OnIdle(e.becameIdle)
	return e, nil
}

// Workers reports how many tasks may run at once.
func (e *Executor) Workers() int { return e.sched.Workers() }

// Context returns a context bound to e and to no task. Spawn and the waits
// use the executor they find in their context, so Spawn(e.Context(), ...)
// starts a task on e from code that is not itself a task.
func (e *Executor) Context() context.Context { return e.ctx }

// Shutdown makes e refuse new tasks and waits until every task has ended or
// ctx is done, whichever comes first; in the second case it returns ctx's
// error. Once the last task has ended it also stops the I/O driver and its
// completion thread. It never cancels a task: to stop long-running tasks,
// cancel the tokens they watch before calling Shutdown.
func (e *Executor) Shutdown(ctx context.Context) error {
	checkCtx(ctx)
	if e.sched.Close() { // refuses new tasks from now on
		e.becameIdle()
	}
	select {
	case <-e.idle:
		return e.stopDriver()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// becameIdle records that no task is left, once closed or draining.
func (e *Executor) becameIdle() {
	e.once.Do(func() { close(e.idle) })
}

// drain arranges for the driver to stop once the last task has ended,
// without refusing new tasks meanwhile: Run's way to leave nothing behind.
func (e *Executor) drain() {
	if e.sched.Drain() {
		e.stopDriver()
		return
	}
	go func() {
		<-e.idle
		e.stopDriver()
	}()
}

// driver returns e's I/O driver, opening it on first use. A refusal of
// io_uring is remembered (the portable backend, or the error when
// Options.Backend is "uring"); a shortage of descriptors or memory is an
// error for this call only, and the next call tries again.
func (e *Executor) driver() (driver.Driver, error) {
	e.drvMu.Lock()
	defer e.drvMu.Unlock()
	if !e.drvDone {
		d, err := driver.Open(e.opts.Backend)
		if err != nil && driver.Transient(err) {
			return nil, fmt.Errorf("executor: opening the I/O driver: %w", err)
		}
		e.drv, e.drvErr, e.drvDone = d, err, true
	}
	return e.drv, e.drvErr
}

// stopDriver shuts the driver down if it was opened, and makes sure it is
// never opened from now on.
func (e *Executor) stopDriver() error {
	e.drvMu.Lock()
	if !e.drvDone {
		e.drvDone, e.drvErr = true, ErrShutdown
	}
	d := e.drv
	e.drvMu.Unlock()
	if d == nil {
		return nil
	}
	return d.Shutdown()
}

// IOStats are counters of an executor's I/O driver.
type IOStats struct {
	Enters    uint64 // io_uring_enter system calls (0 on the portable backend)
	Submitted uint64 // requests the kernel took from the submission queue, cancellations included
	Completed uint64 // operations completed, those done without the ring included
	Inline    uint64 // operations completed without the ring (page-cache hits; every op on portable)
	Cancelled uint64 // cancellation requests (contexts, Close, Shutdown)
	InFlight  uint64 // operations started and not yet completed
	Fixed     uint64 // reads and writes made into a registered BufferPool buffer (READ_FIXED, WRITE_FIXED)

	// ThreadCPU is the CPU time the file ring's completion thread has run
	// since the ring was set up (0 on the portable backend, and where the
	// kernel refuses to read another thread's clock). That thread alone
	// submits the ring's requests and delivers their completions, so its
	// time per request bounds what the ring can carry, whatever the number
	// of cores: when it grows by nearly a second per second, the ring is
	// saturated and requests queue (docs/ARCHITECTURE.md, "What one ring
	// can carry").
	ThreadCPU time.Duration
}

// IOStats returns the counters of e's I/O driver since it was opened; all
// zero if no I/O has opened it yet.
func (e *Executor) IOStats() IOStats {
	e.drvMu.Lock()
	d := e.drv
	e.drvMu.Unlock()
	if d == nil {
		return IOStats{}
	}
	s := d.Stats()
	return IOStats{
		Enters:    s.Enters,
		Submitted: s.Submitted,
		Completed: s.Completed,
		Inline:    s.Inline,
		Cancelled: s.Cancelled,
		InFlight:  s.InFlight,
		Fixed:     s.Fixed,
		ThreadCPU: s.ThreadCPU,
	}
}

// Backend returns the name of e's I/O backend, BackendUring or
// BackendPortable, opening the driver if no I/O has done so yet. It returns
// "" when e has no backend: the one requested (by Options.Backend or
// EXECUTOR_BACKEND) cannot be opened, as BackendUring where io_uring is
// refused, or e was shut down before any I/O opened one, or a shortage of
// descriptors or memory stopped this attempt. BackendReason then returns
// the error, which opening a File or socket on e returns (wrapped) too.
//
// Only a refusal of io_uring (ENOSYS, EPERM from kernel.io_uring_disabled
// or seccomp, a missing opcode) makes the portable backend e's for good.
// A shortage (EMFILE, ENFILE, ENOMEM, EAGAIN) fails the I/O call that met
// it, with an error wrapping the errno, and the next call, or Backend,
// tries io_uring again. Where a shortage is permanent (an RLIMIT_MEMLOCK
// too small for a ring, before Linux 5.12), set Options.Backend to
// BackendPortable.
func (e *Executor) Backend() string {
	d, err := e.driver()
	if err != nil {
		return ""
	}
	return d.Name()
}

// BackendReason says why e uses its backend: "io_uring available",
// "requested", "forced by EXECUTOR_BACKEND=portable", or the reason io_uring
// was refused (for example "io_uring_setup: operation not permitted"). When
// no backend could be opened it returns the error, which for a shortage
// is the error of this attempt.
func (e *Executor) BackendReason() string {
	d, err := e.driver()
	if err != nil {
		return err.Error()
	}
	return d.Reason()
}

// Stats is a snapshot of an executor's counters. Running, Runnable, Waiting
// and the timings are read together; the other counts are read one by one
// while tasks run, so they need not add up exactly.
type Stats struct {
	Workers    int   // tasks that may run at once
	Spawned    int64 // tasks ever started
	Running    int64 // tasks holding a worker now
	Runnable   int64 // tasks queued for a worker
	Waiting    int64 // tasks in a wait (I/O, sleep, join, block ...), holding no worker and not queued for one
	Completed  int64 // tasks that ended, panicked ones included
	Panicked   int64 // tasks that ended in a panic
	MaxRunning int64 // the most tasks that ever held a worker at once; never above Workers

	// Timings since the executor was created (stats.go).
	Busy      time.Duration // time tasks held workers, summed over workers: divided by the time elapsed, the average number of busy workers
	QueueTime Latency       // time tasks spent queued for a worker after Spawn, a wait or a Yield (0 for those that got one at once)
	IOTime    Latency       // time file and socket operations that had to wait spent waiting (those done without a wait are not counted)
	Waits     []WaitStat    // the kinds of wait that occurred, with their counts and times
}

// Stats returns a snapshot of e's counters.
func (e *Executor) Stats() Stats {
	s := e.sched.Stats()
	return Stats{
		Workers:    e.sched.Workers(),
		Spawned:    s.Spawned,
		Running:    s.Running,
		Runnable:   s.Runnable,
		Waiting:    s.Waiting,
		Completed:  s.Completed,
		Panicked:   s.Panicked,
		MaxRunning: s.MaxRunning,
		Busy:       s.Busy,
		QueueTime:  latencyOf(&s.Queue),
		IOTime:     latencyOf(&s.IO),
		Waits:      waitStats(&s.Waits),
	}
}

// addCleanup registers a running AsCleanup task.
func (e *Executor) addCleanup(name string) *cleanupEntry {
	c := &cleanupEntry{name: name}
	e.cleanupMu.Lock()
	e.cleanups[c] = struct{}{}
	e.cleanupMu.Unlock()
	return c
}

func (e *Executor) removeCleanup(c *cleanupEntry) {
	e.cleanupMu.Lock()
	delete(e.cleanups, c)
	e.cleanupMu.Unlock()
	select {
	case e.cleanupCh <- struct{}{}:
	default:
	}
}

// waitCleanups waits up to d for every AsCleanup task to end and returns the
// names of those still running.
func (e *Executor) waitCleanups(d time.Duration) []string {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		e.cleanupMu.Lock()
		n := len(e.cleanups)
		e.cleanupMu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-e.cleanupCh:
		case <-timer.C:
			var names []string
			e.cleanupMu.Lock()
			for c := range e.cleanups {
				names = append(names, c.name)
			}
			e.cleanupMu.Unlock()
			slices.Sort(names)
			return names
		}
	}
}

// The default executor serves contexts that carry none.
var defaultExecutor struct {
	mu sync.Mutex
	e  *Executor
}

// Default returns the process-wide default executor, creating it on first
// use with the zero Options (GOMAXPROCS workers). Spawn and the waits use it
// when their context carries no executor. Main makes its own executor the
// default for the life of the process.
func Default() *Executor {
	defaultExecutor.mu.Lock()
	defer defaultExecutor.mu.Unlock()
	if defaultExecutor.e == nil {
		e, err := New(Options{})
		if err != nil {
			panic(err) // the zero Options are always valid
		}
		defaultExecutor.e = e
	}
	return defaultExecutor.e
}

func setDefault(e *Executor) {
	defaultExecutor.mu.Lock()
	defaultExecutor.e = e
	defaultExecutor.mu.Unlock()
}

// taskContext is the context of a task, or of Executor.Context. It carries
// the parent's values but never its cancellation or deadline: the executor
// never cancels a task.
type taskContext struct {
	parent context.Context
	e      *Executor
	t      *sched.Task // nil for Executor.Context; points into the task's record
}

type contextKey struct{}

func (c *taskContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *taskContext) Done() <-chan struct{}       { return nil }
func (c *taskContext) Err() error                  { return nil }
func (c *taskContext) Value(key any) any {
	if _, ok := key.(contextKey); ok {
		return c
	}
	return c.parent.Value(key)
}

func (c *taskContext) String() string {
	if c.t == nil {
		return "executor.Context"
	}
	return "executor.TaskContext"
}

// checkCtx panics when a caller passes a nil context, a programming error
// the standard library also panics on ("nil context"), so that the mistake
// is named rather than met as a nil dereference deep inside a wait.
func checkCtx(ctx context.Context) {
	if ctx == nil {
		panic("executor: nil context")
	}
}

// lookup returns the task context in ctx, or nil. Every entry point that
// finds its executor or task goes through it, so it also rejects a nil ctx.
func lookup(ctx context.Context) *taskContext {
	checkCtx(ctx)
	if c, ok := ctx.(*taskContext); ok {
		return c
	}
	c, _ := ctx.Value(contextKey{}).(*taskContext)
	return c
}

// executorOf returns the executor in ctx, or the default executor.
func executorOf(ctx context.Context) *Executor {
	if c := lookup(ctx); c != nil {
		return c.e
	}
	return Default()
}

// FromContext returns the executor that ctx is bound to (a task's context,
// or one made by Executor.Context) and reports whether there is one.
func FromContext(ctx context.Context) (*Executor, bool) {
	if c := lookup(ctx); c != nil {
		return c.e, true
	}
	return nil, false
}
