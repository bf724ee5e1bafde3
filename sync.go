package executor

import (
	"context"
	"sync"
)

// This file holds what the task-aware synchronization primitives share: the
// FIFO queue of waiters behind Mutex and Semaphore.
//
// Every primitive has the same two paths:
//
//   - A fast path that is an atomic operation on a state word. It never
//     allocates, never takes a lock and never gives up the worker, so an
//     uncontended Lock/Unlock costs about what sync.Mutex's does.
//   - A slow path that queues a waiter under an internal sync.Mutex, gives up
//     the task's worker (suspend), blocks on the waiter's channel or on ctx,
//     and queues for a worker again (resume). The internal sync.Mutex is held
//     only for a few pointer updates, never across a wait, so it cannot stall
//     a worker for long.
//
// The releasing side hands the resource straight to the waiter at the head of
// the queue (under the internal lock): the resource never becomes free while
// somebody waits, so a newcomer's fast path, which needs it free, cannot
// barge past a queued waiter.
//
// Cancellation rule, the same for Mutex and Semaphore: a waiter whose ctx
// ends takes the internal lock and looks at its record. Still queued: it
// leaves the queue and returns ctx's error, holding nothing. Already granted
// (the hand-off happened before the waiter saw ctx end): the grant wins, the
// waiter keeps the resource and returns nil. Either way exactly one party
// owns every permit, which the randomized tests check.

// waiter is one task or goroutine queued on a Mutex or a Semaphore.
// Records are pooled, so a contended Lock does not allocate.
type waiter struct {
	next, prev *waiter
	n          int64         // permits wanted (1 for a Mutex)
	queued     bool          // in a queue; guarded by the owner's internal lock
	ready      chan struct{} // buffered (1): receives the grant, sent under the owner's lock
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ready: make(chan struct{}, 1)} }}

func getWaiter(n int64) *waiter {
	w := waiterPool.Get().(*waiter)
	w.n = n
	return w
}

// putWaiter recycles w. The caller has consumed any grant sent to it, so its
// channel is empty and no one else refers to it.
func putWaiter(w *waiter) { waiterPool.Put(w) }

// grant removes w from q and hands it what it waited for. Call it under the
// owner's internal lock: a cancelled waiter, which checks w.queued under the
// same lock, then knows that the grant is already in w.ready.
func (q *waitQueue) grant(w *waiter) {
	q.remove(w)
	w.ready <- struct{}{} // never blocks: one grant per queued record
}

// waitQueue is a FIFO of waiters, doubly linked so that a cancelled waiter
// leaves it in O(1). The zero value is empty.
type waitQueue struct {
	head, tail *waiter
}

func (q *waitQueue) empty() bool { return q.head == nil }

func (q *waitQueue) push(w *waiter) {
	w.next, w.prev, w.queued = nil, q.tail, true
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
}

func (q *waitQueue) remove(w *waiter) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.next, w.prev, w.queued = nil, nil, false
}

// queueOwner is a Mutex or a Semaphore as await sees it.
type queueOwner interface {
	// leaveLocked removes a cancelled waiter from the queue and repairs the
	// owner's state (the waiters flag, grants to the new head). Called under
	// the owner's internal lock.
	leaveLocked(w *waiter)
	waitKind() waitKind // what its waiters wait on (tasks.go)
}

// await waits until w, queued on o (whose internal lock is mu), is granted or
// ctx ends, with the task's worker given up meanwhile. It applies the
// cancellation rule above and recycles w.
func await(ctx context.Context, o queueOwner, mu *sync.Mutex, w *waiter) error {
	wt := beginWait(ctx, o.waitKind(), nil)
	var err error
	done := ctx.Done()
	if done == nil {
		// A context that never ends (a task's own, Background): a plain
		// receive is cheaper than a select.
		<-w.ready
	} else {
		select {
		case <-w.ready:
		case <-done:
			mu.Lock()
			if w.queued {
				o.leaveLocked(w)
				err = ctx.Err()
			} else {
				<-w.ready // granted before we looked: the grant wins
			}
			mu.Unlock()
		}
	}
	putWaiter(w)
	// Queue for a worker only now, holding nothing we might have to give
	// back; a granted lock is held while we queue, as it would be while the
	// holder computes.
	wt.end()
	return err
}

// waitClosed waits, with the task's worker given up, until ch is closed or
// ctx ends; in the second case it returns ctx's error. Event and WaitGroup
// wait with it.
func waitClosed(ctx context.Context, ch <-chan struct{}, kind waitKind) error {
	wt := beginWait(ctx, kind, nil)
	var err error
	if done := ctx.Done(); done == nil {
		<-ch
	} else {
		select {
		case <-ch:
		case <-done:
			err = ctx.Err()
		}
	}
	wt.end()
	return err
}
