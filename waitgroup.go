package executor

import (
	"context"
	"sync"
	"sync/atomic"
)

// WaitGroup waits for a collection of tasks or goroutines to finish, like
// sync.WaitGroup, except that a task in Wait gives up its worker. Add
// counts work in, Done counts it out, Wait returns when the count is zero.
// Any number of tasks and goroutines may Wait at once. The zero value is a
// WaitGroup with a count of zero; a WaitGroup must not be copied after first
// use.
//
// As with sync.WaitGroup, call Add before starting the work it counts,
// not inside it, so that Wait cannot see a zero count too early.
type WaitGroup struct {
	n  atomic.Int64  // the counter: Add and Done touch only this unless it reaches zero
	mu sync.Mutex    // guards ch; checking n under it orders Wait against the last Done
	ch chan struct{} // made by the first waiter of a round, closed when n reaches zero
}

// Add adds delta, which may be negative, to g's counter. When the counter
// reaches zero, every waiter wakes. Add panics if the counter goes
// negative.
func (g *WaitGroup) Add(delta int) {
	if v := g.n.Add(int64(delta)); v <= 0 {
		g.zero(v, delta)
	}
}

// zero is Add for a counter that is zero, or went negative.
func (g *WaitGroup) zero(v int64, delta int) {
	if v < 0 {
		panic("executor: negative WaitGroup counter")
	}
	if delta == 0 {
		return // Add(0) on a zero counter: no waiter can be registered
	}
	// The counter reached zero. Re-check under mu: a Wait that registered a
	// channel did so under mu, after seeing a positive count; an Add after
	// our own may have started a new round, whose waiters must keep waiting.
	g.mu.Lock()
	if g.n.Load() == 0 && g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
	g.mu.Unlock()
}

// Done decrements g's counter by one.
func (g *WaitGroup) Done() { g.Add(-1) }

// Wait waits until g's counter is zero, with the task's worker given up
// meanwhile, or until ctx ends, in which case it returns ctx's error. A
// zero counter returns nil at once, even if ctx is done.
func (g *WaitGroup) Wait(ctx context.Context) error {
	// ctx != nil: a nil ctx takes the slow path, which panics on it.
	if ctx != nil && g.n.Load() == 0 {
		return nil
	}
	return g.waitSlow(ctx)
}

func (g *WaitGroup) waitSlow(ctx context.Context) error {
	checkCtx(ctx)
	g.mu.Lock()
	if g.n.Load() == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	ch := g.ch
	g.mu.Unlock()
	return waitClosed(ctx, ch, waitWaitGroup)
}
