package executor

import "context"

// Recv receives a value from ch, waiting with the task's worker given up
// meanwhile, as a bare <-ch in a task would not. ok is false if ch is closed
// and drained (v is then the zero value). If ctx ends before a value
// arrives, Recv returns ctx's error. A value that is ready is received at
// once, even if ctx is done. A nil ch waits for ctx.
func Recv[T any](ctx context.Context, ch <-chan T) (v T, ok bool, err error) {
	checkCtx(ctx)
	// Fast path: a value (or the close) is ready, so do not touch the
	// scheduler at all.
	select {
	case v, ok = <-ch:
		return v, ok, nil
	default:
	}
	wt := beginWait(ctx, waitRecv, nil)
	if done := ctx.Done(); done == nil {
		v, ok = <-ch // a plain receive is cheaper than a select
	} else {
		select {
		case v, ok = <-ch:
		case <-done:
			err = ctx.Err()
		}
	}
	wt.end()
	return v, ok, err
}

// Send sends v on ch, waiting with the task's worker given up meanwhile, as
// a bare ch <- v in a task would not. If ctx ends before a receiver (or
// buffer room) is there, Send returns ctx's error and v is not sent. A send
// that can proceed at once does, even if ctx is done. As with ch <- v, Send
// panics if ch is closed; a nil ch waits for ctx.
func Send[T any](ctx context.Context, ch chan<- T, v T) error {
	checkCtx(ctx)
	select {
	case ch <- v:
		return nil
	default:
	}
	wt := beginWait(ctx, waitSend, nil)
	// The channel may be closed while we wait, and the send then panics:
	// take the worker back first, so that a task recovering from the panic
	// does not run without one.
	defer wt.end()
	done := ctx.Done()
	if done == nil {
		ch <- v // a plain send is cheaper than a select
		return nil
	}
	select {
	case ch <- v:
		return nil
	case <-done:
		return ctx.Err()
	}
}
