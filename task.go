package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"sync/atomic"

	"github.com/executor-go/executor/internal/sched"
)

// A SpawnOption configures a task started by Spawn.
type SpawnOption func(*spawnConfig)

type spawnConfig struct {
	name    string
	cleanup bool
	entry   *cleanupEntry                // the running cleanup task's registration
	onDone  func(name string, err error) // called as the task ends, before Join returns
	trace   *trace.Task                  // the task's execution trace task, while tracing
}

// onDone makes the task call fn with its name and error as it ends.
func onDone(fn func(name string, err error)) SpawnOption {
	return func(c *spawnConfig) { c.onDone = fn }
}

// WithName names the task. The name appears in panics, in the errors of a
// TaskResultBundle and in the log lines about cleanup tasks.
func WithName(name string) SpawnOption {
	return func(c *spawnConfig) { c.name = name }
}

// AsCleanup marks the task as cleanup work: when the root task of Main or Run
// returns, they wait up to Options.ShutdownGrace for every cleanup task to
// end (and for no other task). Spawn cleanup tasks from a context bound to
// the executor that Main or Run created.
func AsCleanup() SpawnOption {
	return func(c *spawnConfig) { c.cleanup = true }
}

// ErrGoexit is the error Join returns for a task that called runtime.Goexit.
var ErrGoexit = errors.New("executor: task called runtime.Goexit")

// PanicError is the error Join returns for a task that panicked, when the
// executor recovers panics (Options.RecoverPanics).
type PanicError struct {
	Task  string // the task's name, or "" if it has none
	Value any    // the value passed to panic
	Stack []byte // the task's stack when it panicked

	// joined is set once a Join has returned the error: the cleanup that
	// logs a panic nobody joined watches it, not the handle, which it must
	// not keep alive.
	joined *atomic.Bool
}

func (p *PanicError) Error() string {
	if p.Task == "" {
		return fmt.Sprintf("task panicked: %v", p.Value)
	}
	return fmt.Sprintf("task %q panicked: %v", p.Task, p.Value)
}

// Unwrap returns the panic value if it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// JoinHandle is a running task's result. Dropping a handle changes nothing:
// the task runs to completion either way.
type JoinHandle[T any] struct {
	// The handle is the task's whole record, one allocation: its context,
	// its scheduler entry and its result.
	ctx   taskContext
	stask sched.Task
	fn    func(context.Context) (T, error)
	cfg   *spawnConfig // the options, or nil; set by Spawn, read-only after

	// end is the task's end as its waiters see it: nil while it runs and
	// nobody waits, a channel that its end closes once a waiter asked for
	// one (Done, or a Join that must wait), or ended once it has ended.
	// One word instead of a mutex, a flag and a channel: the record is
	// allocated per task, and its size is most of a spawn's garbage.
	end atomic.Pointer[chan struct{}]

	val T
	err error
}

// ended holds a closed channel: the end of a task that has ended.
var ended = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

// name returns the task's name (see WithName), or "".
func (h *JoinHandle[T]) name() string {
	if c := h.cfg; c != nil {
		return c.name
	}
	return ""
}

// finish marks the task ended, for its waiters. val and err are final.
func (h *JoinHandle[T]) finish() {
	if c := h.end.Swap(ended); c != nil && c != ended {
		close(*c)
	}
}

// Spawn starts fn as a task on the executor found in ctx (a task's context,
// or one from Executor.Context), or on the default executor when ctx carries
// none. The task runs once it gets a worker; queued tasks get workers in the
// order they asked for them.
//
// The task's context keeps ctx's values but not its cancellation or
// deadline: the executor never cancels a task, so a task runs to completion
// even if its handle is dropped or ctx is cancelled. Pass a
// CancellationToken (or watch one) to stop it cooperatively.
//
// A task spawned on an executor that is shutting down does not run: Join
// returns an error wrapping ErrShutdown.
func Spawn[T any](ctx context.Context, fn func(ctx context.Context) (T, error), opts ...SpawnOption) *JoinHandle[T] {
	e := executorOf(ctx)
	if fn == nil {
		panic("executor: Spawn of a nil function")
	}
	h := &JoinHandle[T]{fn: fn}
	if len(opts) > 0 {
		cfg := new(spawnConfig)
		for _, o := range opts {
			o(cfg)
		}
		h.cfg = cfg
	}
	parent, tt := taskParent(ctx, h.name()) // pprof label, trace task (tasks.go)
	if tt != nil {
		if h.cfg == nil {
			h.cfg = new(spawnConfig)
		}
		h.cfg.trace = tt
	}
	h.ctx = taskContext{parent: parent, e: e, t: &h.stask}
	if h.cfg != nil && h.cfg.cleanup {
		h.cfg.entry = e.addCleanup(h.name())
	}
	switch started, ok := e.sched.TrySpawn(&h.stask, (*taskRunner[T])(h)); {
	case !ok: // Shutdown came first
		if c := h.cfg; c != nil {
			c.release(e)
		}
		h.refuse()
	case started:
		sched.Launch(&h.stask)
	}
	return h
}

// release lets go of what Spawn took for the task on e: its registration
// as a cleanup task and its execution trace task.
func (c *spawnConfig) release(e *Executor) {
	if c.entry != nil {
		e.removeCleanup(c.entry)
	}
	if c.trace != nil {
		c.trace.End()
	}
}

// refuse ends a task that its executor, shut down, will not run.
func (h *JoinHandle[T]) refuse() {
	h.err = taskError(h.name(), ErrShutdown)
	h.fn = nil
	h.end.Store(ended)
}

// taskError names a task in an error that is not the task's own.
func taskError(name string, err error) error {
	if name == "" {
		return err
	}
	return fmt.Errorf("task %q: %w", name, err)
}

// taskRunner is a JoinHandle as the scheduler sees it: it implements
// sched.Runner, which JoinHandle must not (RunTask would be public API).
// The types share their underlying type, so converting a *JoinHandle
// allocates nothing.
type taskRunner[T any] JoinHandle[T]

// Name returns the task's name, for the scheduler's snapshots (Tasks).
func (r *taskRunner[T]) Name() string { return (*JoinHandle[T])(r).name() }

// RunTask runs the task's body; it implements sched.Runner. It returns the
// task, if any, that takes over the worker and runs next on this goroutine.
// Run again after the task has ended, it runs nothing.
func (r *taskRunner[T]) RunTask() (next *sched.Task) {
	h := (*JoinHandle[T])(r)
	if h.fn == nil {
		return nil // ended: the body ran and was let go
	}
	e, t := h.ctx.e, &h.stask
	returned := false
	defer func() {
		panicked, goexit := false, false
		if !returned {
			r := recover()
			switch {
			case r == nil: // runtime.Goexit: let it go on once we are done
				goexit = true
				h.err = ErrGoexit
			case !e.opts.RecoverPanics:
				// Crash as a goroutine would. Re-panicking with the same
				// value from this deferred call keeps the original frames in
				// the trace ("[recovered, repanicked]").
				if !t.PanicFromInline() { // else the task run inline named itself
					name := h.name()
					if name == "" {
						name = "(unnamed)"
					}
					fmt.Fprintf(os.Stderr, "executor: task %s panicked\n", name)
				}
				t.PanicToLender()
				panic(r)
			default:
				panicked = true
				pe := &PanicError{Task: h.name(), Value: r, Stack: debug.Stack(), joined: new(atomic.Bool)}
				h.err = pe
				runtime.AddCleanup(h, reportUnjoined, unjoinedPanic{e: e, err: pe})
			}
		}
		if c := h.cfg; c != nil {
			if c.onDone != nil {
				c.onDone(c.name, h.err)
			}
			c.release(e)
		}
		if goexit {
			t.Exit(panicked) // this goroutine ends: a task taking over starts anew
		} else {
			next = t.Finish(panicked)
		}
		h.fn = nil // let the closure's captures go
		h.finish()
	}()
	setLabels(&h.ctx, h.name() != "")
	h.val, h.err = h.fn(&h.ctx)
	returned = true
	return nil
}

// unjoinedPanic is what reportUnjoined needs once a handle is unreachable.
type unjoinedPanic struct {
	e   *Executor
	err *PanicError
}

// markJoined records that the panic err reports, if it is one, reached a
// caller of Join, so that reportUnjoined does not log it.
func markJoined(err error) {
	if pe, ok := err.(*PanicError); ok && pe.joined != nil {
		pe.joined.Store(true)
	}
}

// reportUnjoined logs a recovered panic whose handle was dropped without a
// Join, so that it is not lost silently.
func reportUnjoined(u unjoinedPanic) {
	if !u.err.joined.Load() {
		u.e.opts.Logger.Error("executor: recovered panic in a task nobody joined",
			"task", u.err.Task, "panic", fmt.Sprint(u.err.Value), "stack", string(u.err.Stack))
	}
}

// Join waits for the task to end and returns its result. ctx bounds the wait
// only: if ctx is done first, Join returns ctx's error and the task goes on
// running. A task that calls Join gives up its worker while it waits.
//
// A task that joins, with a context that cannot be cancelled (its own), a
// task of the same executor that has not started yet runs that task itself,
// lending it its worker, rather than sleeping until a worker reaches it:
// the way a blocked caller would have to wait for it anyway, at the cost of
// a function call instead of two goroutine hand-offs. If such a task calls
// runtime.Goexit, its joiner's goroutine exits too, as with a panic.
func (h *JoinHandle[T]) Join(ctx context.Context) (T, error) {
	checkCtx(ctx)
	if h.runInline(ctx, false) {
		// Ended on this goroutine.
	} else if done := h.waitChan(); done != nil {
		wt := beginWait(ctx, waitJoin, nil)
		select {
		case <-done:
			wt.end()
		case <-ctx.Done():
			wt.end()
			var zero T
			return zero, ctx.Err()
		}
	}
	markJoined(h.err)
	return h.val, h.err
}

// wait waits for the task to end, whatever ctx does, and counts as a Join
// (the caller reports the result); a task gives up its worker meanwhile.
func (h *JoinHandle[T]) wait(ctx context.Context) {
	if h.runInline(ctx, true) {
		// Ended on this goroutine.
	} else if done := h.waitChan(); done != nil {
		wt := beginWait(ctx, waitJoin, nil)
		<-done
		wt.end()
	}
	markJoined(h.err)
}

// runInline runs the task on the calling goroutine if the caller is a task
// of the same executor holding its worker, the task has not started, and
// ctx cannot end the wait early (it can never be done, or whole is set: the
// wait lasts until the task ends whatever ctx does). See Join and
// sched.Task.RunInline.
func (h *JoinHandle[T]) runInline(ctx context.Context, whole bool) bool {
	if !whole && ctx.Done() != nil {
		return false
	}
	c := lookup(ctx)
	return c != nil && c.t != nil && c.e == h.ctx.e && c.t.RunInline(&h.stask)
}

// waitChan returns nil if the task has ended, or else the channel that its
// end closes.
func (h *JoinHandle[T]) waitChan() chan struct{} {
	if c := h.endChan(); c != *ended {
		return c
	}
	return nil
}

// endChan returns the channel that the task's end closes (ended, if it
// has), making it if no waiter has yet.
func (h *JoinHandle[T]) endChan() chan struct{} {
	if c := h.end.Load(); c != nil {
		return *c
	}
	c := make(chan struct{})
	if h.end.CompareAndSwap(nil, &c) {
		return c
	}
	return *h.end.Load() // another waiter's, or ended
}

// Done returns a channel that is closed when the task ends. Select on it
// from plain goroutines; tasks should prefer Join, which gives up the
// worker while it waits.
func (h *JoinHandle[T]) Done() <-chan struct{} { return h.endChan() }

// Name returns the task's name (see WithName).
func (h *JoinHandle[T]) Name() string { return h.name() }
