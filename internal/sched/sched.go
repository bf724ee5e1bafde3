// Package sched hands out an executor's worker permits.
//
// A task is a goroutine that may run only while it holds one of N permits.
// It gives its permit up at every wait (Release) and queues for one again
// when the wait ends (Acquire). Queued tasks get permits in FIFO order, and a
// released permit is handed directly to the task at the head of the queue, so
// a newcomer never barges past a queued task.
//
// The package knows nothing of I/O, contexts or results: the executor package
// builds tasks, waits and join handles on top of it.
package sched

import (
	"sync"
	"sync/atomic"
)

// Scheduler owns N worker permits and the FIFO queue of tasks waiting for one.
type Scheduler struct {
	workers int

	mu    sync.Mutex
	free  int   // permits not held by any task
	head  *Task // FIFO queue of tasks waiting for a permit
	tail  *Task
	queue int // length of the queue

	// Counters read by Stats; written under mu or atomically.
	spawned    atomic.Int64
	completed  atomic.Int64
	panicked   atomic.Int64
	running    atomic.Int64 // permits held
	waiting    atomic.Int64 // tasks in a wait, holding no permit
	maxRunning atomic.Int64
}

// New returns a scheduler with the given number of permits (at least 1).
func New(workers int) *Scheduler {
	if workers < 1 {
		workers = 1
	}
	return &Scheduler{workers: workers, free: workers}
}

// Workers reports the number of permits.
func (s *Scheduler) Workers() int { return s.workers }

// Task is one task's handle on the scheduler. Its methods are called by the
// task's own goroutine, except where noted.
type Task struct {
	s *Scheduler

	// state is holding, released or finished. Release and Acquire move it
	// with compare-and-swaps so that a wait entered by a goroutine other than
	// the task's own (a context handed to a plain goroutine) can neither give
	// back a permit twice nor keep one after the task has ended.
	state atomic.Uint32

	next *Task         // queue link, guarded by s.mu
	wake chan struct{} // a queued task's hand-off signal; made when it first queues
}

// Task states.
const (
	released uint32 = iota // holds no permit: starting, or in a wait
	holding                // holds a permit
	finished               // ended; holds no permit and never takes one again
)

// NewTask registers a new task. The task holds no permit until Acquire.
func (s *Scheduler) NewTask() *Task {
	s.spawned.Add(1)
	return &Task{s: s}
}

// Start blocks until the task holds a permit. It is the first call on the
// task's goroutine.
func (t *Task) Start() {
	t.s.waiting.Add(1) // Acquire counts the task out of the waiting set
	t.acquire()
}

// Finish gives back the task's permit, if it holds one, and counts it out.
func (t *Task) Finish(panicked bool) {
	if t.state.Swap(finished) == holding {
		t.s.release()
	}
	// Otherwise another goroutine entered a wait with the task's context and
	// holds the released state: its Acquire sees finished and gives the
	// permit straight back.
	if panicked {
		t.s.panicked.Add(1)
	}
	t.s.completed.Add(1)
}

// Release gives up the task's permit before a wait. It reports whether a
// permit was given up; only then must the wait end with Acquire. A task that
// holds no permit (its own goroutine is already waiting, and this is another
// goroutine using its context) gives up nothing.
func (t *Task) Release() bool {
	if !t.state.CompareAndSwap(holding, released) {
		return false
	}
	t.s.waiting.Add(1)
	t.s.release()
	return true
}

// Acquire blocks until the task holds a permit again. Call it after a wait
// for which Release returned true.
func (t *Task) Acquire() { t.acquire() }

func (t *Task) acquire() {
	s := t.s
	s.mu.Lock()
	if s.free > 0 && s.head == nil {
		s.free--
		s.mu.Unlock()
		s.granted()
	} else {
		if t.wake == nil {
			t.wake = make(chan struct{}, 1)
		}
		s.enqueue(t)
		s.mu.Unlock()
		<-t.wake // release handed us its permit and counted it as granted
	}
	if !t.state.CompareAndSwap(released, holding) {
		// The task finished while a foreign goroutine waited with its
		// context: nobody would ever give this permit back.
		s.release()
	}
}

// granted counts one more permit as held.
func (s *Scheduler) granted() {
	s.waiting.Add(-1)
	n := s.running.Add(1)
	for {
		m := s.maxRunning.Load()
		if n <= m || s.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
}

// Yield lets every task queued for a permit run before t continues. With no
// task queued it returns at once. It reports whether t gave up its permit.
func (t *Task) Yield() bool {
	s := t.s
	if t.state.Load() != holding {
		return false
	}
	s.mu.Lock()
	if s.head == nil || !t.state.CompareAndSwap(holding, released) {
		s.mu.Unlock()
		return false
	}
	// Hand the permit to the head and queue behind the last waiter, in one
	// critical section so that nobody slips in between.
	s.running.Add(-1)
	s.waiting.Add(1)
	next := s.dequeue()
	if t.wake == nil {
		t.wake = make(chan struct{}, 1)
	}
	s.enqueue(t)
	s.mu.Unlock()
	s.granted()
	next.wake <- struct{}{}
	<-t.wake
	if !t.state.CompareAndSwap(released, holding) {
		s.release() // finished meanwhile; see acquire
	}
	return true
}

// release returns one permit: to the head of the queue if a task waits,
// otherwise to the free pool.
func (s *Scheduler) release() {
	s.running.Add(-1)
	s.mu.Lock()
	next := s.dequeue()
	if next == nil {
		s.free++
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.granted()
	next.wake <- struct{}{}
}

func (s *Scheduler) enqueue(t *Task) {
	t.next = nil
	if s.tail == nil {
		s.head = t
	} else {
		s.tail.next = t
	}
	s.tail = t
	s.queue++
}

func (s *Scheduler) dequeue() *Task {
	t := s.head
	if t == nil {
		return nil
	}
	s.head = t.next
	if s.head == nil {
		s.tail = nil
	}
	t.next = nil
	s.queue--
	return t
}

// Stats is a snapshot of a scheduler's counters. The fields are read one by
// one while tasks run, so they need not add up exactly.
type Stats struct {
	Spawned    int64 // tasks ever registered
	Running    int64 // tasks holding a permit now
	Runnable   int64 // tasks queued for a permit
	Waiting    int64 // tasks in a wait (I/O, sleep, join, ...), holding no permit
	Completed  int64 // tasks that ended, panicked ones included
	Panicked   int64 // tasks that ended in a panic
	MaxRunning int64 // the most tasks ever holding a permit at once
}

// Stats returns a snapshot of the counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	q := int64(s.queue)
	s.mu.Unlock()
	return Stats{
		Spawned:    s.spawned.Load(),
		Running:    s.running.Load(),
		Runnable:   q,
		Waiting:    s.waiting.Load() - q,
		Completed:  s.completed.Load(),
		Panicked:   s.panicked.Load(),
		MaxRunning: s.maxRunning.Load(),
	}
}
