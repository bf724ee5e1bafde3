package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// ErrExceedsSize is returned (wrapped) by Semaphore.Acquire for a request of
// more permits than the semaphore has: it could never be granted.
var ErrExceedsSize = errors.New("executor: Semaphore.Acquire of more permits than the semaphore's size")

// Semaphore is a weighted semaphore for tasks: a pool of permits that
// Acquire takes and Release gives back. A task that waits for permits gives
// up its worker meanwhile. It works from plain goroutines (which simply
// block) and across executors.
//
// It follows golang.org/x/sync/semaphore: waiters are served strictly in
// arrival order, and a waiter at the head of the queue that wants more
// permits than are free blocks every waiter behind it, so that a large
// Acquire is never starved by a stream of small ones. Unlike x/sync, an
// Acquire of more permits than the size fails at once with ErrExceedsSize
// instead of waiting for ctx: in a task, whose context is never cancelled by
// the executor, it would otherwise hang for good.
//
// Create a Semaphore with NewSemaphore (the zero value has no permits), and
// do not copy it.
type Semaphore struct {
	size int64
	// state is free<<1 | semWaiters. The fast paths change it with a CAS
	// only while semWaiters is clear; semWaiters is set and cleared under
	// mu, and while it is set only holders of mu change state. The queue is
	// non-empty exactly when semWaiters is set.
	state atomic.Int64
	mu    sync.Mutex
	q     waitQueue
}

const semWaiters = 1

// maxSemaphoreSize is the largest size NewSemaphore accepts: the count
// shares its word with the waiters flag.
const maxSemaphoreSize = 1<<62 - 1

// NewSemaphore returns a semaphore with n permits, all free. It panics if n
// is negative or above 2⁶²-1.
func NewSemaphore(n int64) *Semaphore {
	if n < 0 || n > maxSemaphoreSize {
		panic(fmt.Sprintf("executor: NewSemaphore(%d): size out of range", n))
	}
	s := &Semaphore{size: n}
	s.state.Store(n << 1)
	return s
}

// Acquire takes n permits, waiting with the task's worker given up until
// they are free and every earlier waiter has been served. If ctx ends first,
// Acquire returns ctx's error and holds nothing. Free permits are taken at
// once even if ctx is already done. An n above the semaphore's size returns
// an error wrapping ErrExceedsSize at once; a negative n panics.
//
// If ctx ends just as the permits are handed to the waiter, the hand-off
// wins: Acquire returns nil and the caller holds the n permits.
func (s *Semaphore) Acquire(ctx context.Context, n int64) error {
	checkCtx(ctx)
	// The fast path is TryAcquire's, spelled out so that Acquire inlines.
	// The unsigned comparison also sends a negative n to the slow path.
	if st := s.state.Load(); st&semWaiters == 0 && uint64(n) <= uint64(st>>1) && s.state.CompareAndSwap(st, st-n<<1) {
		return nil
	}
	return s.acquireSlow(ctx, n)
}

func (s *Semaphore) acquireSlow(ctx context.Context, n int64) error {
	if s.tryAcquireSlow(n) {
		return nil
	}
	if n > s.size {
		return fmt.Errorf("%w: Acquire(%d) on a Semaphore of size %d", ErrExceedsSize, n, s.size)
	}
	s.mu.Lock()
	for {
		st := s.state.Load()
		if st&semWaiters == 0 {
			if st>>1 >= n {
				if s.state.CompareAndSwap(st, st-n<<1) {
					s.mu.Unlock()
					return nil
				}
				continue // a fast path moved the count
			}
			if err := ctx.Err(); err != nil {
				s.mu.Unlock()
				return err
			}
			if !s.state.CompareAndSwap(st, st|semWaiters) {
				continue
			}
		} else if err := ctx.Err(); err != nil {
			s.mu.Unlock()
			return err
		}
		break
	}
	w := getWaiter(n)
	s.q.push(w)
	s.mu.Unlock()
	return await(ctx, s, &s.mu, w)
}

// TryAcquire takes n permits if they are free and no one is waiting, and
// reports whether it did. It never waits. A negative n panics.
func (s *Semaphore) TryAcquire(n int64) bool {
	if st := s.state.Load(); st&semWaiters == 0 && uint64(n) <= uint64(st>>1) && s.state.CompareAndSwap(st, st-n<<1) {
		return true
	}
	return s.tryAcquireSlow(n)
}

// tryAcquireSlow is TryAcquire after a failed first attempt: it checks n and
// retries while a CAS loses to another fast path.
func (s *Semaphore) tryAcquireSlow(n int64) bool {
	if n < 0 {
		panic(fmt.Sprintf("executor: Semaphore.Acquire of a negative number of permits (%d)", n))
	}
	for {
		st := s.state.Load()
		if st&semWaiters != 0 || st>>1 < n {
			return false
		}
		if s.state.CompareAndSwap(st, st-n<<1) {
			return true
		}
	}
}

// Release gives back n permits, handing them to queued waiters in order. It
// panics if n is negative or if it would make more permits free than the
// semaphore's size (more released than acquired).
func (s *Semaphore) Release(n int64) {
	if st := s.state.Load(); st&semWaiters == 0 && uint64(n) <= uint64(s.size-st>>1) && s.state.CompareAndSwap(st, st+n<<1) {
		return
	}
	s.releaseLoop(n)
}

// releaseLoop is Release after a failed first attempt: it checks n, and
// retries the fast path or hands the permits to the waiters.
func (s *Semaphore) releaseLoop(n int64) {
	if n < 0 {
		panic(fmt.Sprintf("executor: Semaphore.Release of a negative number of permits (%d)", n))
	}
	for {
		st := s.state.Load()
		if st&semWaiters != 0 {
			if s.releaseSlow(n) {
				return
			}
			continue
		}
		if n > s.size-st>>1 {
			panic("executor: Semaphore released more permits than were acquired")
		}
		if s.state.CompareAndSwap(st, st+n<<1) {
			return
		}
	}
}

// releaseSlow releases n permits to the waiters. It reports false, doing
// nothing, if the waiters left meanwhile (the fast path then applies).
func (s *Semaphore) releaseSlow(n int64) bool {
	s.mu.Lock()
	st := s.state.Load()
	if st&semWaiters == 0 {
		s.mu.Unlock()
		return false
	}
	free := st >> 1
	if n > s.size-free {
		s.mu.Unlock()
		panic("executor: Semaphore released more permits than were acquired")
	}
	s.serveLocked(free + n)
	s.mu.Unlock()
	return true
}

// leaveLocked implements queueOwner: a cancelled waiter leaves, and if it
// was the head, blocking those behind it, they may now fit.
func (s *Semaphore) leaveLocked(w *waiter) {
	s.q.remove(w)
	s.serveLocked(s.state.Load() >> 1)
}

// serveLocked grants free permits to the waiters at the head of the queue,
// in order, stopping at the first that does not fit, and stores what is left
// together with the waiters flag. Called under mu while semWaiters is set.
func (s *Semaphore) serveLocked(free int64) {
	for w := s.q.head; w != nil && w.n <= free; w = s.q.head {
		free -= w.n
		s.q.grant(w)
	}
	st := free << 1
	if !s.q.empty() {
		st |= semWaiters
	}
	s.state.Store(st)
}
