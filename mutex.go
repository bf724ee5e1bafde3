package executor

import (
	"context"
	"sync"
	"sync/atomic"
)

// Mutex is a mutual exclusion lock for tasks. A task that waits for it gives
// up its worker, as at every other wait, so that the holder (and everyone
// else) can run: contending for a Mutex held across waits cannot deadlock
// even a 1-worker executor, as contending for a sync.Mutex would.
//
// The zero value is an unlocked mutex. A Mutex must not be copied after
// first use. It may be locked and unlocked by different tasks or goroutines,
// on the same or on different executors; a plain goroutine (a context that
// carries no task) simply blocks.
//
// Waiters get the lock in the order they asked for it: Unlock hands the lock
// directly to the longest waiter, so a newcomer (Lock's fast path, TryLock)
// never takes it while anyone is queued.
//
// # Critical sections across waits
//
// A task holding a Mutex across a wait (Sleep, I/O, Join) can be stopped at
// that wait by its context: the wait returns the context's error and the
// task may return with the shared state half-updated. When an update must not
// stop half-way, run it as its own spawned task and drop (or merely Join) its
// handle: the executor never cancels a task and a spawned task does not
// inherit its spawner's cancellation, so the update runs to the end even if
// the caller gives up. See the Mutex (CriticalSection) example.
type Mutex struct {
	// state is mutexUnlocked, mutexLocked or mutexLockedWaiters. The fast
	// paths move it between the first two with a CAS; it enters and leaves
	// mutexLockedWaiters only under mu, so the queue is non-empty exactly
	// when state is mutexLockedWaiters, and the lock is then held.
	state atomic.Int32
	mu    sync.Mutex // guards q and the mutexLockedWaiters transitions
	q     waitQueue
}

const (
	mutexUnlocked int32 = iota
	mutexLocked
	mutexLockedWaiters // locked, and at least one waiter is queued
)

// Lock locks m, waiting with the task's worker given up if m is locked. If
// ctx ends first, Lock returns ctx's error and the lock is not held. An
// unlocked m is locked at once even if ctx is already done.
//
// If ctx ends just as the lock is handed to the waiter, the hand-off wins:
// Lock returns nil and the caller holds the lock.
func (m *Mutex) Lock(ctx context.Context) error {
	// ctx != nil: a nil ctx takes the slow path, which panics on it.
	if ctx != nil && m.state.CompareAndSwap(mutexUnlocked, mutexLocked) {
		return nil
	}
	return m.lockSlow(ctx)
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	checkCtx(ctx)
	m.mu.Lock()
	for {
		switch s := m.state.Load(); s {
		case mutexUnlocked: // unlocked meanwhile; no one can be queued
			if m.state.CompareAndSwap(mutexUnlocked, mutexLocked) {
				m.mu.Unlock()
				return nil
			}
			continue
		case mutexLocked:
			if err := ctx.Err(); err != nil {
				m.mu.Unlock()
				return err
			}
			if !m.state.CompareAndSwap(mutexLocked, mutexLockedWaiters) {
				continue // the holder unlocked meanwhile
			}
		default: // mutexLockedWaiters: stable under mu
			if err := ctx.Err(); err != nil {
				m.mu.Unlock()
				return err
			}
		}
		break
	}
	w := getWaiter(1)
	m.q.push(w)
	m.mu.Unlock()
	return await(ctx, m, &m.mu, w)
}

// leaveLocked implements queueOwner: a cancelled waiter leaves; the lock
// stays with its holder.
func (m *Mutex) leaveLocked(w *waiter) {
	m.q.remove(w)
	if m.q.empty() {
		m.state.Store(mutexLocked)
	}
}

// TryLock locks m if it is unlocked and reports whether it did. It fails
// while m is locked, and so while any waiter is queued.
func (m *Mutex) TryLock() bool {
	return m.state.CompareAndSwap(mutexUnlocked, mutexLocked)
}

// Unlock unlocks m, handing it to the longest waiter if there is one. It
// panics if m is not locked. As with sync.Mutex, a locked Mutex belongs to no
// task in particular: any task or goroutine may unlock it.
func (m *Mutex) Unlock() {
	if m.state.CompareAndSwap(mutexLocked, mutexUnlocked) {
		return
	}
	m.unlockSlow()
}

func (m *Mutex) unlockSlow() {
	m.mu.Lock()
	switch m.state.Load() {
	case mutexUnlocked:
		m.mu.Unlock()
		panic("executor: Unlock of unlocked Mutex")
	case mutexLocked:
		// The waiters we saw were cancelled meanwhile.
		m.state.Store(mutexUnlocked)
	default:
		// Hand the lock over without unlocking it: state stays locked, so no
		// newcomer can take it first.
		w := m.q.head
		m.q.grant(w)
		if m.q.empty() {
			m.state.Store(mutexLocked)
		}
	}
	m.mu.Unlock()
}
