package executor

import (
	"context"
	"runtime"
	"time"
)

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
	if ctx.Done() == nil && !inSynctestBubble() {
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
	t := suspendFor(ctx, waitSleep, nil)
	var err error
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		err = ctx.Err()
	}
	resume(t)
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
	t := suspendFor(ctx, waitBlock, nil)
	defer resume(t) // even if fn panics, so that the worker count stays right
	return fn()
}
