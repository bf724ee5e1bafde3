package executor

import (
	"context"
	"runtime"
	"runtime/trace"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"github.com/executor-go/executor/internal/sched"
)

// Every wait of a task, whatever it waits on, follows one protocol: the
// task gives up its worker before the first step that may block, and takes
// a worker back, queueing for one if need be, once the wait is over. A wait
// value holds that protocol's state:
//
//	w := beginWait(ctx, waitSync, &f.name) // an operation that always waits
//	err := ...
//	w.end()
//
// or, for an operation that may complete without waiting (a page-cache
// hit, a socket with data queued), lazily:
//
//	w := wait{ctx: ctx}
//	defer w.end()
//	for ... {
//		if mustBlock {
//			w.begin(waitRead, &c.raddr) // gives the worker up the first time only
//		}
//	}
//
// Outside a task, or on a goroutine of a task that is not the task's own
// (which holds no worker), both are no-ops. A begun wait may be moved (a
// socket direction carries the wait of its call in progress), but it is
// ended once: two copies ended would take the worker back twice.
type wait struct {
	ctx   context.Context
	t     *sched.Task // the task whose worker was given up, or nil
	begun bool        // begin has run (t may still be nil: nothing to give up)
}

// beginWait returns a wait begun at once, for an operation that always waits.
func beginWait(ctx context.Context, kind waitKind, arg any) wait {
	return wait{ctx: ctx, t: suspendFor(ctx, kind, arg), begun: true}
}

// begin gives the task's worker up for a wait of the given kind on arg,
// unless the wait has begun already.
func (w *wait) begin(kind waitKind, arg any) {
	if !w.begun {
		w.t, w.begun = suspendFor(w.ctx, kind, arg), true
	}
}

// end takes a worker back, if begin gave one up, and returns once the task
// has one. The wait may then begin again.
func (w *wait) end() {
	if w.t != nil {
		w.t.Acquire()
	}
	w.t, w.begun = nil, false
}

// suspendFor gives up the worker held by the task in ctx before a wait of
// the given kind on arg (nil, or a pointer to the name or the address the
// wait is about, which must not change while the task lives). It returns
// the task to resume, or nil when there is nothing to give back (ctx
// belongs to no task, or the task holds no worker because this is not its
// own goroutine). While the execution trace is on, the wait is a region.
func suspendFor(ctx context.Context, kind waitKind, arg any) *sched.Task {
	c := lookup(ctx)
	if c == nil || c.t == nil || !releaseFor(ctx, c.t, kind, arg) {
		return nil
	}
	return c.t
}

// releaseFor gives up t's worker for a wait of the given kind on arg, as
// t.ReleaseFor, with the wait a trace region while tracing.
func releaseFor(ctx context.Context, t *sched.Task, kind waitKind, arg any) bool {
	var region *trace.Region // ended by Acquire
	if trace.IsEnabled() {
		region = trace.StartRegion(ctx, regionNames[kind])
	}
	return t.ReleaseFor(uint8(kind), arg, region)
}

// Sleep pauses for at least d, or until ctx is done, in which case it
// returns ctx's error. A task that sleeps gives up its worker. A d of zero or
// less returns at once (with ctx's error if ctx is already done).
func Sleep(ctx context.Context, d time.Duration) error {
	checkCtx(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	if ctx.Done() == nil && !driver.InBubble() {
		// Nothing can end the sleep early: the executor's timer queue wakes
		// the task once a worker is free for it. Not in a synctest bubble:
		// the queue's one timer belongs to the bubble, or to none, in which
		// it was made, and an executor may serve tasks in and out of one.
		if c := lookup(ctx); c != nil && c.t != nil && releaseFor(ctx, c.t, waitSleep, nil) {
			c.e.sleepers.sleep(c.t, d)
			return nil
		}
	}
	timer := time.NewTimer(d)
	wt := beginWait(ctx, waitSleep, nil)
	var err error
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		err = ctx.Err()
	}
	wt.end()
	return err
}

// Yield lets every task already queued for a worker run before the calling
// task continues; with none queued it returns at once. Outside a task it
// calls runtime.Gosched.
func Yield(ctx context.Context) {
	c := lookup(ctx)
	if c == nil || c.t == nil {
		runtime.Gosched()
		return
	}
	c.t.Yield()
}

// Block runs fn, a call that blocks (a cgo call, a syscall the executor does
// not drive, a third-party client), with the task's worker given up, so that
// other tasks run meanwhile. It returns fn's results once the task has a
// worker again. Outside a task it simply calls fn.
func Block[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	wt := beginWait(ctx, waitBlock, nil)
	defer wt.end() // even if fn panics, so that the worker count stays right
	return fn()
}
