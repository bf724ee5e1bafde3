package executor

import (
	"context"
	"sync"
	"sync/atomic"
)

// Event is a one-shot signal: it starts unset, Set sets it for good, and
// every waiter, present or future, then proceeds. A task that waits for it
// gives up its worker meanwhile. The zero value is an unset Event; an Event
// must not be copied after first use.
type Event struct {
	set atomic.Bool // the fast path of Wait and IsSet
	mu  sync.Mutex  // guards ch and the setting of set
	ch  chan struct{}
}

// Set sets e and wakes every waiter. Setting a set Event does nothing.
func (e *Event) Set() {
	if !e.set.Load() {
		e.setSlow()
	}
}

func (e *Event) setSlow() {
	e.mu.Lock()
	if !e.set.Load() {
		e.set.Store(true)
		if e.ch != nil {
			close(e.ch)
		}
	}
	e.mu.Unlock()
}

// IsSet reports whether e has been set.
func (e *Event) IsSet() bool { return e.set.Load() }

// Wait waits until e is set, with the task's worker given up meanwhile, or
// until ctx ends, in which case it returns ctx's error. A set Event returns
// nil at once, even if ctx is done.
func (e *Event) Wait(ctx context.Context) error {
	// ctx != nil: a nil ctx takes the slow path, which panics on it.
	if ctx != nil && e.set.Load() {
		return nil
	}
	return e.waitSlow(ctx)
}

func (e *Event) waitSlow(ctx context.Context) error { return waitClosed(ctx, e.Done(), waitEvent) }

// Done returns a channel that is closed when e is set, for a select in a
// plain goroutine. Tasks should prefer Wait, which gives up the worker.
func (e *Event) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		// One channel for every waiter, made on first demand so that an
		// Event nobody waits for costs nothing.
		e.ch = make(chan struct{})
		if e.set.Load() {
			close(e.ch)
		}
	}
	return e.ch
}
