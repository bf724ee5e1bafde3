// Package sched hands out an executor's worker permits.
//
// A task is a goroutine that may run only while it holds one of N permits.
// It gives its permit up at every wait (Release) and queues for one again
// when the wait ends (Acquire). Queued tasks get permits in FIFO order, and a
// released permit is handed directly to the task at the head of the queue, so
// a newcomer never barges past a queued task.
//
// A task that has not started yet costs no goroutine: it waits in the queue
// as a record, and when a permit reaches it, it runs on the goroutine of the
// task that just finished, or on a new goroutine when the permit came from a
// task that is going on (a wait). So a burst of spawns on a busy executor
// parks and wakes no goroutine at all, the way a worker pool would.
//
// The package knows nothing of I/O, contexts or results: the executor package
// builds tasks, waits and join handles on top of it.
package sched

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/executor-go/executor/internal/clock"
)

// Scheduler owns N worker permits and the FIFO queue of tasks waiting for one.
type Scheduler struct {
	workers int

	mu         sync.Mutex
	free       int   // permits not held by any task
	running    int   // permits held
	maxRunning int   // the most permits ever held at once
	head, tail *Task // FIFO queue of tasks waiting for a permit
	queued     int   // length of the queue

	ins inspector // the live tasks and the timings, guarded by mu (inspect.go)

	// Shutting down, guarded by mu. The count of live tasks is the
	// inspector's (ins.live): a task is live from TrySpawn until its record
	// is dropped as it ends, so the executor keeps no counter of its own,
	// which every spawn and every end would write from different cores.
	closed   bool   // Close was called: TrySpawn refuses tasks
	draining bool   // Drain was called
	idleNow  bool   // the last task has just ended while closed or draining
	onIdle   func() // called (without mu) once idleNow is set; see OnIdle
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

// Runner runs a task's body. RunTask is called with the task holding its
// permit; it must end with Task.Finish and return what Finish returned.
type Runner interface {
	RunTask() (next *Task)
}

// Task is one task's handle on the scheduler. Embed it in the task's own
// record and register it with Scheduler.Spawn. Its methods are called by the
// task's own goroutine, or by a goroutine waiting with the task's context.
type Task struct {
	s      *Scheduler
	runner Runner

	// state is released, holding or finished. Release and Acquire move it
	// with compare-and-swaps so that a wait entered by a goroutine other than
	// the task's own (a context handed to a plain goroutine) can neither give
	// back a permit twice nor keep one after the task has ended.
	state atomic.Uint32
	slot  uint32 // of the task's inspection record, or 0; guarded by s.mu (inspect.go)

	next, prev *Task // queue links, guarded by s.mu
	// wake is the hand-off signal of a started task queued for a permit,
	// made by the task's goroutine when it first queues (so that, in a
	// testing/synctest bubble, it belongs to the task's bubble) and read by
	// others only once the task is queued. A channel, not a WaitGroup in
	// the record, which would save its allocation: a WaitGroup parks on the
	// runtime's semaphore table, whose search grows with the number of
	// parked tasks, and 100,000 sleepers waking at once cost 10-20% more
	// CPU that way than with a channel each.
	wake chan struct{}
	// lender is the task whose permit this one runs on (see RunInline),
	// which gets the permit back when this one ends. Set before the task
	// starts, read by its own goroutine.
	lender *Task
	// gaveBack is set when a task run inline gave its permit back to its
	// lender as it ended; read by RunInline on the same goroutine.
	gaveBack bool
	// inlinePanic is set when a panic of a task run inline on this task's
	// goroutine is unwinding through it; only that goroutine touches it.
	inlinePanic bool
	// panicked is set as the task ends in a panic, before its record is
	// dropped, which counts it (inspect.go).
	panicked bool
	started  bool // has a goroutine (or is about to); guarded by s.mu
	// launchNext links the stack of tasks to launch (see Launch).
	launchNext atomic.Pointer[Task]
}

// Task states.
const (
	released uint32 = iota // holds no permit: starting, or in a wait
	holding                // holds a permit
	finished               // ended; holds no permit and never takes one again
)

// Spawn is TrySpawn on a scheduler that is not closed; it panics if it is.
func (s *Scheduler) Spawn(t *Task, r Runner) bool {
	started, ok := s.TrySpawn(t, r)
	if !ok {
		panic("sched: Spawn on a closed scheduler")
	}
	return started
}

// TrySpawn registers t, whose body r runs once t holds a permit. It
// reports whether t got a permit at once; then the caller must start t
// with go Run(t). Otherwise t waits in the queue, with no goroutine, until
// a permit reaches it. ok is false, and t is not registered, if the
// scheduler is closed.
func (s *Scheduler) TrySpawn(t *Task, r Runner) (started, ok bool) {
	t.s, t.runner = s, r
	now := clock.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, false
	}
	s.link(t, now)
	if s.free > 0 && s.head == nil {
		s.free--
		s.grantLocked(now)
		s.run(t, now)
		t.started = true
		s.mu.Unlock()
		t.state.Store(holding)
		return true, true
	}
	s.enqueue(t)
	s.mu.Unlock()
	return false, true
}

// OnIdle sets the function called once the last live task has ended after
// Close or Drain (or at once by them, if no task is live). It is called
// without the scheduler's lock, on the goroutine of the task that ended
// last (or Close's or Drain's caller, which then also reports it), and may
// be called more than once. Set it before the first task is spawned.
func (s *Scheduler) OnIdle(f func()) {
	s.mu.Lock()
	s.onIdle = f
	s.mu.Unlock()
}

// Close makes TrySpawn refuse tasks from now on. It reports whether no
// task is live.
func (s *Scheduler) Close() (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.ins.live == 0
}

// Drain asks for OnIdle's function once no task is live, without refusing
// new tasks meanwhile. It reports whether no task is live now.
func (s *Scheduler) Drain() (idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	return s.ins.live == 0
}

// unlockAfterEnd releases mu after a task's record may have been dropped,
// and reports the scheduler idle if that was the last live task.
func (s *Scheduler) unlockAfterEnd() {
	idle, f := s.idleNow, s.onIdle
	s.idleNow = false
	s.mu.Unlock()
	if idle && f != nil {
		f()
	}
}

// Run runs t, which holds a permit, and then, on the same goroutine, every
// task that has not started yet and that a finishing task hands its permit
// to.
func Run(t *Task) {
	for t != nil {
		t = t.runner.RunTask()
	}
}

// Finish gives back the task's permit, if it holds one, and counts the task
// out. If the permit goes to a task that has not started yet, Finish returns
// that task, for the caller to run on its own goroutine (see Run).
func (t *Task) Finish(panicked bool) (next *Task) {
	t.count(panicked)
	if t.state.Swap(finished) != holding {
		// Another goroutine entered a wait with the task's context and holds
		// the released state: its Acquire sees finished and gives the
		// permit straight back.
		t.forget()
		return nil
	}
	if l := t.lender; l != nil {
		t.s.lentBack(t, l)
		t.gaveBack = true
		l.took() // the permit goes back to the task that lent it
		return nil
	}
	return t.s.release(false, t, ending)
}

// Exit is Finish for a goroutine that cannot go on (runtime.Goexit): an
// unstarted task that gets the permit starts on a new goroutine.
func (t *Task) Exit(panicked bool) {
	t.count(panicked)
	if t.state.Swap(finished) == holding {
		if l := t.lender; l != nil {
			// The lender's goroutine is this one, and it is exiting too:
			// the lender's own Exit gives the permit back.
			t.s.lentBack(t, l)
			l.took()
			return
		}
		t.s.release(true, t, ending)
	} else {
		t.forget()
	}
}

// RunInline runs child, a task of the same scheduler that is queued and has
// never run, on the calling goroutine with t's permit, and returns once
// child has ended. It is how a task that joins a task not yet started
// waits: instead of giving its permit to the head of the queue and sleeping
// until child has run on a goroutine of its own, it lends the permit to
// child and runs it itself, and takes the permit back when child ends. It
// reports false, having done nothing, when child has started or t holds no
// permit.
//
// If child calls runtime.Goexit, the calling goroutine exits with it.
func (t *Task) RunInline(child *Task) bool {
	s := t.s
	if child.s != s || t.state.Load() != holding {
		return false
	}
	now := clock.Now()
	s.mu.Lock()
	if child.started || !t.state.CompareAndSwap(holding, released) {
		s.mu.Unlock()
		return false
	}
	s.lend(t, child, now)
	s.unlink(child)
	child.started = true
	child.lender = t
	s.mu.Unlock()
	child.state.Store(holding) // the permit moves: running is unchanged
	child.runner.RunTask()     // its Finish gives the permit back to t
	if !child.gaveBack {
		// child ended while another goroutine held its released state, so
		// its permit went back to the scheduler: queue for one. (t's state
		// cannot tell: once the permit is back, a goroutine waiting with
		// t's context may release it again at once.)
		t.Acquire()
	}
	return true
}

// count notes how the task ended, for drop to count it under the
// scheduler's lock: the counters are plain fields beside the records, not
// atomics that the spawning and the finishing cores would both write.
func (t *Task) count(panicked bool) {
	t.panicked = panicked
}

// Release gives up the task's permit before a wait. It reports whether a
// permit was given up; only then must the wait end with Acquire. A task that
// holds no permit (its own goroutine is already waiting, and this is another
// goroutine using its context) gives up nothing.
func (t *Task) Release() bool { return t.ReleaseFor(KindNone, nil, nil) }

// PanicToLender records, as t's panic is about to unwind further, that it
// is unwinding through the task that ran t inline, if any (see
// PanicFromInline).
func (t *Task) PanicToLender() {
	if t.lender != nil {
		t.lender.inlinePanic = true
	}
}

// PanicFromInline reports whether the panic unwinding through t comes from
// a task t ran inline, which has reported it already.
func (t *Task) PanicFromInline() bool { return t.inlinePanic }

// PrepareReady readies t for Ready: call it on the waiting goroutine after
// Release returned true and before anything can call Ready.
func (t *Task) PrepareReady() { t.arm() }

// Ready ends t's wait from another goroutine (a timer), as Acquire would
// but without blocking: t queues for a permit, or takes a free one, and its
// goroutine, parked in AwaitPermit, is woken only once it holds one (a
// goroutine woken by its timer and then put to sleep again until a permit
// is free would be woken twice). Call PrepareReady first.
func (t *Task) Ready() { t.s.ReadyAll([]*Task{t}) }

// ReadyAll is Ready for each task of ts, tasks of s, in order, under one
// acquisition of the scheduler's lock: a timer that finds many tasks due at
// once (100,000 sleepers of the same length) takes the lock once per batch,
// not once per task, and the tasks ending meanwhile wait for it less.
func (s *Scheduler) ReadyAll(ts []*Task) {
	var grantedBuf [8]*Task
	granted := grantedBuf[:0] // at most the free permits: a few
	now := clock.Now()
	s.mu.Lock()
	for _, t := range ts {
		s.wokeKeepRegion(t, now) // the region ends on t's goroutine (AwaitPermit)
		if s.free > 0 && s.head == nil {
			s.free--
			s.grantLocked(now)
			s.run(t, now)
			granted = append(granted, t)
		} else {
			s.enqueue(t)
		}
	}
	s.mu.Unlock()
	for _, t := range granted {
		t.signal()
	}
}

// AwaitPermit blocks until Ready has given t a permit.
func (t *Task) AwaitPermit() {
	t.park()
	t.took()
	t.s.endRegion(t)
}

// Acquire blocks until the task holds a permit again. Call it after a wait
// for which Release returned true.
func (t *Task) Acquire() {
	s := t.s
	now := clock.Now()
	s.mu.Lock()
	region := s.woke(t, now)
	if s.free > 0 && s.head == nil {
		s.free--
		s.grantLocked(now)
		s.run(t, now)
		s.mu.Unlock()
	} else {
		t.arm()
		s.enqueue(t)
		s.mu.Unlock()
		t.park() // release handed us its permit
	}
	t.took()
	if region != nil {
		region.End()
	}
}

// took marks the permit just granted to t as held by it.
func (t *Task) took() {
	if !t.state.CompareAndSwap(released, holding) {
		// The task finished while a foreign goroutine waited with its
		// context: nobody would ever give this permit back.
		t.s.release(true, nil, ending)
	}
}

// grantLocked counts one more permit as held.
func (s *Scheduler) grantLocked(now int64) {
	s.account(now)
	s.running++
	if s.running > s.maxRunning {
		s.maxRunning = s.running
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
	next, fresh := s.dequeue()
	now := clock.Now()
	s.run(next, now)
	s.queue(t, now, KindYield)
	t.arm()
	s.enqueue(t)
	s.mu.Unlock()
	next.handOff(fresh, true)
	t.park()
	t.took()
	return true
}

// release returns one permit: to the head of the queue if a task waits,
// otherwise to the free pool. If the head has not started yet, it starts on
// a new goroutine when launch is set, and is returned otherwise. from, if
// not nil, is the task giving the permit up, for the reason in l.
func (s *Scheduler) release(launch bool, from *Task, l label) *Task {
	now := clock.Now()
	s.mu.Lock()
	s.left(from, l, now)
	next, fresh := s.dequeue()
	if next == nil {
		s.account(now)
		s.running--
		s.free++
		s.unlockAfterEnd()
		return nil
	}
	s.run(next, now)
	s.unlockAfterEnd()
	return next.handOff(fresh, launch)
}

// handOff gives t the permit of a task that just let go of it (running is
// unchanged: the permit moves). A fresh task, one that has not started,
// holds it from the start; it is launched on a new goroutine or returned.
func (t *Task) handOff(fresh, launch bool) *Task {
	if !fresh {
		t.signal()
		return nil
	}
	t.state.Store(holding)
	if launch {
		Launch(t)
		return nil
	}
	return t
}

// Launch starts Run(t) on a new goroutine.
//
// It is go Run(t) without the closure that such a statement allocates to
// carry t: t goes on a stack of tasks to launch, and the new goroutine
// takes one from it. Which of the tasks it takes does not matter, as each
// holds its permit already, and each push is matched by one goroutine. The
// stack is lock-free (Treiber's); a task is pushed once in its life and
// cannot be reused while a pointer to it is held, so a pop cannot be
// fooled by a node that left and came back (ABA).
func Launch(t *Task) {
	for {
		head := launches.Load()
		t.launchNext.Store(head)
		if launches.CompareAndSwap(head, t) {
			break
		}
	}
	go runLaunched()
}

// launches is the stack of tasks that Launch pushed and runLaunched has not
// popped yet, linked through Task.launchNext.
var launches atomic.Pointer[Task]

func runLaunched() {
	for {
		t := launches.Load()
		if launches.CompareAndSwap(t, t.launchNext.Load()) {
			Run(t)
			return
		}
	}
}

func (s *Scheduler) enqueue(t *Task) {
	t.next, t.prev = nil, s.tail
	if s.tail == nil {
		s.head = t
	} else {
		s.tail.next = t
	}
	s.tail = t
	s.queued++
}

// unlink takes t, which is queued, out of the queue.
func (s *Scheduler) unlink(t *Task) {
	if t.prev == nil {
		s.head = t.next
	} else {
		t.prev.next = t.next
	}
	if t.next == nil {
		s.tail = t.prev
	} else {
		t.next.prev = t.prev
	}
	t.next, t.prev = nil, nil
	s.queued--
}

// dequeue takes the head of the queue, if any, and reports whether it is a
// fresh task, one that has never run.
func (s *Scheduler) dequeue() (t *Task, fresh bool) {
	t = s.head
	if t == nil {
		return nil, false
	}
	s.head = t.next
	if s.head == nil {
		s.tail = nil
	} else {
		s.head.prev = nil
	}
	t.next = nil
	s.queued--
	fresh = !t.started
	t.started = true
	return t, fresh
}

// Stats is a snapshot of a scheduler's counters.
type Stats struct {
	Spawned    int64 // tasks ever registered
	Running    int64 // tasks holding a permit now
	Runnable   int64 // tasks queued for a permit
	Waiting    int64 // tasks in a wait, holding no permit and not queued for one
	Completed  int64 // tasks that ended, panicked ones included
	Panicked   int64 // tasks that ended in a panic
	MaxRunning int64 // the most tasks ever holding a permit at once

	Busy      time.Duration       // permits held, summed over permits
	Queue, IO Histogram           // time queued for a permit; time of waits of the I/O kinds
	Waits     [MaxKinds]WaitCount // the waits of each kind
}

// Stats returns a snapshot of the counters, all read together.
func (s *Scheduler) Stats() Stats {
	var st Stats
	now := clock.Now()
	s.mu.Lock()
	s.account(now)
	st.Running, st.Runnable = int64(s.running), int64(s.queued)
	st.MaxRunning = int64(s.maxRunning)
	busy := s.ins.busy
	st.Queue, st.IO, st.Waits = s.ins.queue, s.ins.io, s.ins.waits
	// The tasks waiting now are counted from the records themselves, not
	// kept in counters beside them: a wait entered by a goroutine other
	// than the task's own can race with the task's end, and a counter
	// kept apart drifted there (TestForeignGoroutineWaits).
	for _, c := range s.ins.slab {
		for i := range c {
			if r := &c[i]; r.state == Waiting {
				st.Waiting++
				st.Waits[r.kind].Now++
			}
		}
	}
	st.Spawned, st.Completed, st.Panicked = s.ins.spawned, s.ins.completed, s.ins.panicked
	s.mu.Unlock()
	st.Busy = clock.Duration(busy)
	for i := range st.Waits {
		st.Waits[i].Total = clock.Duration(st.Waits[i].total)
	}
	return st
}

// arm prepares t's hand-off signal for one permit: it makes t's channel if
// t has none. Called by t's own goroutine before t can be given a permit by
// another (before it queues), and followed by park.
func (t *Task) arm() {
	if t.wake == nil {
		t.wake = make(chan struct{}, 1)
	}
}

// signal hands t, armed, the permit it is parked (or about to park) for.
func (t *Task) signal() { t.wake <- struct{}{} }

// park blocks t's goroutine until signal.
func (t *Task) park() { <-t.wake }
