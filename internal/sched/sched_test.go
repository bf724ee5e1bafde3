package sched

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// timeout bounds every wait of these tests, so that a lost permit fails
// the test instead of hanging it. Nothing waits for it when all is well.
const timeout = 10 * time.Second

// goid returns the calling goroutine's id, parsed from its stack header
// ("goroutine 7 [running]:"), to tell on which goroutine a task runs.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// fn is a Runner whose body is a function; it finishes the task when the
// body returns.
type fn struct {
	Task
	body func(t *fn)
}

func (t *fn) RunTask() *Task {
	t.body(t)
	return t.Finish(false)
}

func newTask(body func(t *fn)) *fn { return &fn{body: body} }

// idle is a body for tasks that a test drives by hand and never runs.
func idle(*fn) { panic("task run") }

// holdingTask returns a one-worker scheduler and a task, driven by hand,
// that holds its permit.
func holdingTask(t *testing.T) (*Scheduler, *fn) {
	t.Helper()
	s, a := New(1), newTask(idle)
	if !s.Spawn(&a.Task, a) {
		t.Fatal("Spawn on a free permit did not grant it")
	}
	return s, a
}

// check verifies the permit accounting: held and free permits add up to
// the number of workers, and running is what the test expects.
func check(t *testing.T, s *Scheduler, running, runnable int) {
	t.Helper()
	s.mu.Lock()
	free, got, queued, maxRunning := s.free, s.running, s.queued, s.maxRunning
	s.mu.Unlock()
	if free+got != s.workers || got > s.workers || maxRunning > s.workers {
		t.Fatalf("free %d + running %d (max %d) against %d workers", free, got, maxRunning, s.workers)
	}
	if free > 0 && queued > 0 {
		t.Fatalf("%d permits free while %d tasks queue: a release missed the queue", free, queued)
	}
	if got != running || queued != runnable {
		t.Fatalf("running %d, runnable %d; want %d, %d", got, queued, running, runnable)
	}
}

// poll calls cond until it reports nothing wrong, and fails the test with
// what it reports if that takes longer than timeout.
func poll(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		wrong := cond()
		if wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(wrong)
		}
		runtime.Gosched()
	}
}

// waitQueued waits until n tasks are queued: a goroutine that blocks in
// Acquire has queued itself before it blocks.
func waitQueued(t *testing.T, s *Scheduler, n int64) {
	t.Helper()
	poll(t, func() string {
		if st := s.Stats(); st.Runnable != n {
			return fmt.Sprintf("runnable %d, want %d", st.Runnable, n)
		}
		return ""
	})
}

func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(timeout):
		t.Fatal("timed out: a permit was lost")
		panic("unreachable")
	}
}

func TestNewAtLeastOneWorker(t *testing.T) {
	for _, n := range []int{-3, 0, 1} {
		if w := New(n).Workers(); w != 1 {
			t.Errorf("New(%d).Workers() = %d, want 1", n, w)
		}
	}
	if w := New(7).Workers(); w != 7 {
		t.Errorf("New(7).Workers() = %d", w)
	}
}

// TestSpawnTakesFreePermits: Spawn grants a free permit at once, and
// queues the task, with no goroutine, once none is free.
func TestSpawnTakesFreePermits(t *testing.T) {
	s := New(2)
	a, b, c := newTask(idle), newTask(idle), newTask(idle)
	if !s.Spawn(&a.Task, a) || !s.Spawn(&b.Task, b) {
		t.Fatal("Spawn with a free permit did not grant it")
	}
	if s.Spawn(&c.Task, c) {
		t.Fatal("Spawn granted a third permit of two")
	}
	check(t, s, 2, 1)
	if a.state.Load() != holding || c.state.Load() != released {
		t.Fatalf("states %d, %d", a.state.Load(), c.state.Load())
	}
	// a's permit goes to c, which has not started: Finish returns it for
	// the caller to run.
	if next := a.Finish(false); next != &c.Task {
		t.Fatalf("Finish returned %p, want the queued fresh task %p", next, &c.Task)
	}
	if c.state.Load() != holding {
		t.Fatal("fresh task handed a permit does not hold it")
	}
	check(t, s, 2, 0)
	if b.Finish(false) != nil || c.Finish(false) != nil {
		t.Fatal("Finish with an empty queue returned a task")
	}
	check(t, s, 0, 0)
}

// TestHandOff: a released permit goes straight to the task at the head of
// the queue, so a newcomer cannot barge past it even though the permit was
// free for an instant.
func TestHandOff(t *testing.T) {
	s := New(1)
	a, b, c := newTask(idle), newTask(idle), newTask(idle)
	s.Spawn(&a.Task, a) // the test goroutine plays a, then b
	if !a.Release() {
		t.Fatal("Release of a held permit reported false")
	}
	check(t, s, 0, 0)
	if !s.Spawn(&b.Task, b) {
		t.Fatal("Spawn with a free permit did not grant it")
	}
	aRuns := make(chan struct{})
	go func() {
		a.Acquire()
		close(aRuns)
	}()
	waitQueued(t, s, 1)
	if s.Spawn(&c.Task, c) {
		t.Fatal("a newcomer took a permit while a task was queued")
	}
	b.Release()
	recv(t, aRuns)
	check(t, s, 1, 1) // the permit moved from b to a; c still queued
	if next := a.Finish(false); next != &c.Task {
		t.Fatal("Finish did not hand the permit to the queued fresh task")
	}
	if c.Finish(false) != nil {
		t.Fatal("Finish with an empty queue returned a task")
	}
	b.Acquire() // free permit: no wait
	b.Finish(false)
	check(t, s, 0, 0)
	if st := s.Stats(); st.Spawned != 3 || st.Completed != 3 || st.MaxRunning != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestFIFO: queued tasks get permits in the order they queued, fresh and
// started ones alike.
func TestFIFO(t *testing.T) {
	const n = 8
	s := New(1)
	// Odd tasks start first and wait: each takes the free permit and
	// releases it, so that it can queue in Acquire later.
	waiting := make([]*fn, n)
	for i := 1; i < n; i += 2 {
		waiting[i] = newTask(idle)
		if !s.Spawn(&waiting[i].Task, waiting[i]) || !waiting[i].Release() {
			t.Fatal("no free permit")
		}
	}
	gate := make(chan struct{})
	first := newTask(func(*fn) { <-gate })
	if !s.Spawn(&first.Task, first) {
		t.Fatal("no free permit")
	}
	go Run(&first.Task)

	var order []int // written by one task at a time: the permit orders them
	for i := range n {
		if i%2 == 0 { // even tasks queue fresh
			task := newTask(func(*fn) { order = append(order, i) })
			if s.Spawn(&task.Task, task) {
				t.Fatal("a newcomer took a permit")
			}
		} else {
			w := waiting[i]
			go func() {
				w.Acquire()
				order = append(order, i)
				Run(w.Finish(false))
			}()
		}
		waitQueued(t, s, int64(i+1))
	}
	check(t, s, 1, n)
	close(gate) // first finishes; each task hands its permit to the next
	poll(t, func() string {
		if st := s.Stats(); st.Completed != n+1 || st.Running != 0 {
			return fmt.Sprintf("Stats %+v; want %d completed, none running", st, n+1)
		}
		return ""
	})
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

// TestFreshTaskRunsOnFinishingGoroutine: a task that finishes hands its
// permit to the queued task that never started and runs it on its own
// goroutine, while Exit, whose goroutine cannot go on, starts it on a new
// one.
func TestFreshTaskRunsOnFinishingGoroutine(t *testing.T) {
	for _, exit := range []bool{false, true} {
		s := New(1)
		gids := make(chan uint64, 2)
		gate := make(chan struct{})
		a := newTask(func(a *fn) {
			gids <- goid()
			<-gate
			if exit {
				a.Exit(false)
				runtime.Goexit()
			}
		})
		b := newTask(func(*fn) { gids <- goid() })
		if !s.Spawn(&a.Task, a) {
			t.Fatal("not granted")
		}
		go Run(&a.Task)
		if s.Spawn(&b.Task, b) {
			t.Fatal("granted")
		}
		ga := recv(t, gids)
		close(gate)
		gb := recv(t, gids)
		if same := ga == gb; same == exit {
			t.Errorf("exit %v: a ran on goroutine %d, b on %d", exit, ga, gb)
		}
		poll(t, func() string {
			if st := s.Stats(); st.Completed != 2 || st.Running != 0 {
				return fmt.Sprintf("Stats %+v; want 2 completed, none running", st)
			}
			return ""
		})
	}
}

// TestReleaseLaunchesFreshTask: a task that releases its permit for a wait
// goes on, so a fresh task that gets the permit starts on a new goroutine.
func TestReleaseLaunchesFreshTask(t *testing.T) {
	s, a := holdingTask(t)
	ran := make(chan struct{})
	b := newTask(func(*fn) { close(ran) })
	s.Spawn(&b.Task, b)
	if !a.Release() {
		t.Fatal("Release reported false")
	}
	recv(t, ran)
	a.Acquire() // waits until b has finished and handed the permit back
	check(t, s, 1, 0)
	a.Finish(false)
	check(t, s, 0, 0)
}

// foreignWait starts a wait with a's context on a goroutine that is not
// a's: it releases a's permit, which a must hold, before foreignWait
// returns, then acquires it again once acquire is called, and closes done.
func foreignWait(t *testing.T, a *fn) (acquire func(), done <-chan struct{}) {
	t.Helper()
	released := make(chan bool)
	proceed := make(chan struct{})
	acquired := make(chan struct{})
	go func() {
		released <- a.Release()
		<-proceed
		a.Acquire()
		close(acquired)
	}()
	if !recv(t, released) {
		t.Fatal("foreign Release of a held permit reported false")
	}
	return func() { close(proceed) }, acquired
}

// TestForeignRelease: a goroutine other than the task's own releases and
// reacquires its permit (a wait with the task's context on a plain
// goroutine). Each permit is given back once and only once, whatever the
// task's own goroutine does meanwhile.
func TestForeignRelease(t *testing.T) {
	t.Run("own goroutine waiting", func(t *testing.T) {
		s, a := holdingTask(t)
		a.Release() // a's own goroutine waits
		done := make(chan bool)
		go func() { done <- a.Release() }()
		if recv(t, done) {
			t.Fatal("a foreign Release gave up a permit the task does not hold")
		}
		check(t, s, 0, 0)
		a.Acquire()
		a.Finish(false)
		check(t, s, 0, 0)
	})
	t.Run("foreign wait ends first", func(t *testing.T) {
		s, a := holdingTask(t)
		acquire, done := foreignWait(t, a)
		check(t, s, 0, 0)
		acquire()
		recv(t, done)
		check(t, s, 1, 0)
		if a.state.Load() != holding {
			t.Fatal("task does not hold its permit after the foreign wait")
		}
		a.Finish(false)
		check(t, s, 0, 0)
	})
	t.Run("task finishes during the foreign wait", func(t *testing.T) {
		s, a := holdingTask(t)
		acquire, done := foreignWait(t, a)
		if a.Release() {
			t.Fatal("the task's own Release gave up a permit already released")
		}
		if a.Yield() {
			t.Fatal("Yield without a permit reported true")
		}
		if next := a.Finish(false); next != nil {
			t.Fatal("Finish without a permit handed one on")
		}
		check(t, s, 0, 0)
		acquire() // gets the permit and gives it straight back
		recv(t, done)
		check(t, s, 0, 0)
		if a.state.Load() != finished {
			t.Fatal("a finished task holds a permit again")
		}
	})
	t.Run("foreign acquire queued past the task's end", func(t *testing.T) {
		s := New(1)
		a, b := newTask(idle), newTask(idle)
		s.Spawn(&a.Task, a)
		acquire, done := foreignWait(t, a)
		if !s.Spawn(&b.Task, b) { // b takes the permit the foreign wait freed
			t.Fatal("no free permit")
		}
		acquire()
		waitQueued(t, s, 1) // the foreign Acquire
		if a.Finish(false) != nil {
			t.Fatal("Finish without a permit handed one on")
		}
		if b.Finish(false) != nil { // hands the permit to the foreign Acquire
			t.Fatal("Finish handed its permit to a started task")
		}
		recv(t, done) // which gives it back
		check(t, s, 0, 0)
		if st := s.Stats(); st.Spawned != 2 || st.Completed != 2 || st.Waiting != 0 {
			t.Fatalf("Stats %+v", st)
		}
	})
}

// TestYield: Yield lets every queued task run first, then continues.
func TestYield(t *testing.T) {
	s, a := holdingTask(t)
	if a.Yield() {
		t.Fatal("Yield with nobody queued gave up the permit")
	}
	var order []string
	b := newTask(func(*fn) { order = append(order, "b") })
	c := newTask(func(*fn) { order = append(order, "c") })
	s.Spawn(&b.Task, b)
	s.Spawn(&c.Task, c)
	if !a.Yield() {
		t.Fatal("Yield with tasks queued kept the permit")
	}
	if !slices.Equal(order, []string{"b", "c"}) {
		t.Fatalf("ran %v before Yield returned, want [b c]", order)
	}
	check(t, s, 1, 0)
	if a.state.Load() != holding {
		t.Fatal("Yield returned without the permit")
	}
	a.Finish(false)
	check(t, s, 0, 0)
}

// TestExitWithoutPermit: Exit of a task whose permit a foreign wait holds
// released gives nothing back.
func TestExitWithoutPermit(t *testing.T) {
	s, a := holdingTask(t)
	done := make(chan bool)
	go func() { done <- a.Release() }()
	if !recv(t, done) {
		t.Fatal("foreign Release reported false")
	}
	a.Exit(true)
	check(t, s, 0, 0)
	if st := s.Stats(); st.Completed != 1 || st.Panicked != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestStats: each counter, at each stage of a task's life.
func TestStats(t *testing.T) {
	s := New(2)
	a, b, c, d := newTask(idle), newTask(idle), newTask(idle), newTask(idle)
	s.Spawn(&a.Task, a)
	s.Spawn(&b.Task, b)
	s.Spawn(&c.Task, c)
	want := Stats{Spawned: 3, Running: 2, Runnable: 1, MaxRunning: 2}
	if st := counts(s.Stats()); st != want {
		t.Fatalf("Stats %+v, want %+v", st, want)
	}
	if next := a.Finish(true); next != &c.Task { // c holds a's permit
		t.Fatal("no hand-off")
	}
	b.Release() // b waits; its permit goes free
	want = Stats{Spawned: 3, Running: 1, Waiting: 1, Completed: 1, Panicked: 1, MaxRunning: 2}
	if st := counts(s.Stats()); st != want {
		t.Fatalf("Stats %+v, want %+v", st, want)
	}
	s.Spawn(&d.Task, d) // takes b's permit
	d.Finish(false)
	b.Acquire()
	b.Finish(false)
	c.Finish(true)
	want = Stats{Spawned: 4, Completed: 4, Panicked: 2, MaxRunning: 2}
	if st := counts(s.Stats()); st != want {
		t.Fatalf("Stats %+v, want %+v", st, want)
	}
}

// The fuzz test below drives tasks through a model of the scheduler. Each
// task runs on an actor goroutine that obeys commands; a foreign goroutine
// may release a task's permit and acquire it again. After every step the
// events (who got a permit, on which goroutine) and the counters must be
// those the model predicts: FIFO order, running ≤ workers, and every
// permit either held or free, never lost or doubled.

type command uint8

const (
	cmdRelease command = iota // Release; the actor reports the result
	cmdAcquire                // Acquire after a Release that gave the permit up
	cmdYield                  // Yield
	cmdFinish                 // return from RunTask: Finish, then run what it returned
	cmdExit                   // Exit and runtime.Goexit
)

type event struct {
	id      int
	foreign bool   // a foreign goroutine's Acquire returned
	gid     uint64 // the actor's goroutine (0 for foreign)
}

// actor is a task whose body obeys commands.
type actor struct {
	Task
	id     int
	cmd    chan command
	events chan<- event
	acks   chan<- bool
	child  *Task // the task cmdRunInline runs; set before the command is sent
}

func (a *actor) RunTask() *Task {
	gid := goid()
	a.events <- event{id: a.id, gid: gid}
	for c := range a.cmd {
		switch c {
		case cmdRelease:
			a.acks <- a.Release()
		case cmdAcquire:
			a.Acquire()
			a.events <- event{id: a.id, gid: gid}
		case cmdYield:
			if a.Yield() {
				a.events <- event{id: a.id, gid: gid}
			} else {
				a.acks <- false
			}
		case cmdFinish:
			return a.Finish(false)
		case cmdExit:
			a.Exit(false)
			runtime.Goexit()
		case cmdRunInline:
			if !a.runInline() {
				a.acks <- false
				break
			}
			a.events <- event{id: a.id, gid: gid}
		case cmdTimedWait:
			ok := a.Release()
			if ok {
				a.PrepareReady()
			}
			a.acks <- ok
			if ok {
				a.AwaitPermit()
				a.events <- event{id: a.id, gid: gid}
			}
		}
	}
	panic("unreachable")
}

// What the model knows of each task.
type actorState uint8

const (
	actorQueuedFresh actorState = iota // spawned, no goroutine yet
	actorRunning                       // obeys commands
	actorWaiting                       // released its permit, will Acquire
	actorQueued                        // blocked in Acquire or Yield
	actorDone                          // finished or exited
)

type foreignState uint8

const (
	foreignNone     foreignState = iota
	foreignReleased              // a foreign Release gave the permit up
	foreignQueued                // the foreign Acquire is blocked
)

type modelTask struct {
	a       *actor
	state   uint32 // the model of Task.state
	actor   actorState
	foreign foreignState
	gid     uint64 // the actor's goroutine, once running
}

type entry struct {
	id   int
	kind uint8 // entryFresh, entryOwn, entryForeign
}

const (
	entryFresh = iota
	entryOwn
	entryForeign
)

// expect is an event the model predicts. A fresh task with sameAs 0 must
// start on a new goroutine, not on one that ran a task before.
type expect struct {
	event
	sameAs uint64 // the event's goroutine must be this one, if not 0
}

type model struct {
	t                      *testing.T
	s                      *Scheduler
	workers, free, running int
	maxRunning             int
	queue                  []entry
	tasks                  []*modelTask
	spawned, completed     int
	events                 chan event
	acks                   chan bool
	expected               []expect
	gids                   map[uint64]bool // goroutines that ran a task
}

func newModel(t *testing.T, workers int) *model {
	return &model{
		t: t, s: New(workers), workers: workers, free: workers,
		events: make(chan event, 256), acks: make(chan bool),
		gids: map[uint64]bool{},
	}
}

// pass moves a released permit: to the head of the queue, or to the free
// pool. launch tells whether a fresh head starts on a new goroutine or
// on the releasing actor's, from.
func (m *model) pass(launch bool, from uint64) {
	if len(m.queue) == 0 {
		m.running--
		m.free++
		return
	}
	e := m.queue[0]
	m.queue = m.queue[1:]
	m.grant(e, launch, from)
}

// grant gives the permit that moves to e.
func (m *model) grant(e entry, launch bool, from uint64) {
	mt := m.tasks[e.id]
	switch e.kind {
	case entryFresh:
		mt.state, mt.actor = holding, actorRunning
		x := expect{event: event{id: e.id}}
		if !launch {
			x.sameAs = from
		}
		m.expected = append(m.expected, x)
	case entryOwn:
		mt.state, mt.actor = holding, actorRunning
		m.expected = append(m.expected, expect{event: event{id: e.id}, sameAs: mt.gid})
	case entryForeign:
		mt.foreign = foreignNone
		m.expected = append(m.expected, expect{event: event{id: e.id, foreign: true}})
		if mt.state == finished {
			m.pass(true, 0) // the foreign Acquire gives it straight back
		} else {
			mt.state = holding
		}
	}
}

// take is Acquire in the model: a free permit at once, or the queue.
func (m *model) take(e entry) {
	if m.free > 0 && len(m.queue) == 0 {
		m.free--
		m.running++
		m.maxRunning = max(m.maxRunning, m.running)
		m.grant(e, true, 0)
		return
	}
	if e.kind == entryOwn {
		m.tasks[e.id].actor = actorQueued
	} else {
		m.tasks[e.id].foreign = foreignQueued
	}
	m.queue = append(m.queue, e)
}

func (m *model) spawn() {
	id := len(m.tasks)
	a := &actor{id: id, cmd: make(chan command), events: m.events, acks: m.acks}
	mt := &modelTask{a: a, state: released, actor: actorQueuedFresh}
	m.tasks = append(m.tasks, mt)
	m.spawned++
	want := m.free > 0 && len(m.queue) == 0
	if want {
		m.free--
		m.running++
		m.maxRunning = max(m.maxRunning, m.running)
		mt.state, mt.actor = holding, actorRunning
		m.expected = append(m.expected, expect{event: event{id: id}})
	} else {
		m.queue = append(m.queue, entry{id, entryFresh})
	}
	if got := m.s.Spawn(&a.Task, a); got != want {
		m.t.Fatalf("task %d: Spawn = %v, want %v", id, got, want)
	}
	if want {
		go Run(&a.Task)
	}
}

func (m *model) ack(id int, want bool) {
	if got := recv(m.t, m.acks); got != want {
		m.t.Fatalf("task %d: got %v, want %v", id, got, want)
	}
}

// step applies op to the task the model picks with pick, if any fits.
func (m *model) step(op, pick uint8) {
	if op == 0 {
		m.spawn()
		m.settle()
		return
	}
	var cands []*modelTask
	for _, mt := range m.tasks {
		if m.fits(op, mt) {
			cands = append(cands, mt)
		}
	}
	if len(cands) == 0 {
		return
	}
	mt := cands[int(pick)%len(cands)]
	id := mt.a.id
	switch op {
	case 1: // the actor releases its permit for a wait
		want := mt.state == holding
		mt.a.cmd <- cmdRelease
		if want {
			mt.state, mt.actor = released, actorWaiting
			m.pass(true, mt.gid)
		}
		m.ack(id, want)
	case 2: // the actor's wait ends
		mt.a.cmd <- cmdAcquire
		m.take(entry{id, entryOwn})
	case 3: // the actor yields
		mt.a.cmd <- cmdYield
		if mt.state != holding || len(m.queue) == 0 {
			m.ack(id, false)
			break
		}
		mt.state, mt.actor = released, actorQueued
		e := m.queue[0]
		m.queue = append(m.queue[1:], entry{id, entryOwn})
		m.grant(e, true, mt.gid)
	case 4, 5: // the actor finishes or exits
		exit := op == 5
		if exit {
			mt.a.cmd <- cmdExit
		} else {
			mt.a.cmd <- cmdFinish
		}
		m.completed++
		held := mt.state == holding
		mt.state, mt.actor = finished, actorDone
		if held {
			m.pass(exit, mt.gid)
		}
	case 6: // a foreign goroutine releases the task's permit
		want := mt.state == holding
		if got := mt.a.Release(); got != want {
			m.t.Fatalf("task %d: foreign Release = %v, want %v", id, got, want)
		}
		if want {
			mt.state, mt.foreign = released, foreignReleased
			m.pass(true, 0)
		}
	case 7: // the foreign wait ends
		a := mt.a
		go func() {
			a.Acquire()
			a.events <- event{id: a.id, foreign: true}
		}()
		m.take(entry{id, entryForeign})
	}
	m.settle()
}

func (m *model) fits(op uint8, mt *modelTask) bool {
	switch op {
	case 1, 3, 4, 5:
		return mt.actor == actorRunning
	case 2:
		return mt.actor == actorWaiting
	case 6:
		// A foreign wait on a task that has not ended; its result is
		// false unless the task holds its permit.
		return mt.foreign == foreignNone && mt.actor != actorDone && mt.actor != actorQueuedFresh
	case 7:
		return mt.foreign == foreignReleased
	}
	return false
}

// settle waits for the events the model predicts and for the counters to
// reach the model's, then checks the permit accounting.
func (m *model) settle() {
	t := m.t
	t.Helper()
	var got []event
	for range m.expected {
		got = append(got, recv(t, m.events))
	}
	for _, x := range m.expected {
		i := slices.IndexFunc(got, func(e event) bool { return e.id == x.id && e.foreign == x.foreign })
		if i < 0 {
			t.Fatalf("events %+v, want %+v (queue order broken or permit misplaced)", got, m.expected)
		}
		e := got[i]
		got = slices.Delete(got, i, i+1)
		if x.foreign {
			continue
		}
		mt := m.tasks[x.id]
		switch {
		case x.sameAs != 0 && e.gid != x.sameAs:
			t.Fatalf("task %d ran on goroutine %d, want %d", x.id, e.gid, x.sameAs)
		case x.sameAs == 0 && mt.gid == 0 && m.gids[e.gid]:
			t.Fatalf("fresh task %d launched on goroutine %d, which ran a task before", x.id, e.gid)
		}
		mt.gid = e.gid
		m.gids[e.gid] = true
	}
	m.expected = m.expected[:0]

	// Poll until the scheduler matches the model: a step that wakes
	// nobody (a Finish that frees its permit) signals nothing.
	poll(t, m.diff)
}

// diff compares the scheduler with the model. A broken permit accounting
// fails at once; a difference is returned, as the scheduler may be about
// to reach the model's state.
func (m *model) diff() string {
	m.s.mu.Lock()
	free, running, queued, maxRunning := m.s.free, m.s.running, m.s.queued, m.s.maxRunning
	m.s.mu.Unlock()
	if free+running != m.workers || running > m.workers || maxRunning > m.workers {
		m.t.Fatalf("free %d + running %d (max %d) against %d workers", free, running, maxRunning, m.workers)
	}
	if free > 0 && queued > 0 {
		m.t.Fatalf("%d permits free while %d tasks queue: a release missed the queue", free, queued)
	}
	if free != m.free || running != m.running || queued != len(m.queue) || maxRunning != m.maxRunning {
		return fmt.Sprintf("free %d running %d queued %d max %d; model %d %d %d %d",
			free, running, queued, maxRunning, m.free, m.running, len(m.queue), m.maxRunning)
	}
	st := m.s.Stats()
	if st.Spawned != int64(m.spawned) || st.Completed != int64(m.completed) || st.Panicked != 0 {
		return fmt.Sprintf("Stats %+v; model spawned %d completed %d", st, m.spawned, m.completed)
	}
	// The inspection records agree: as many running and runnable records
	// as permits held and live tasks queued.
	var recRunning, recQueued int
	for _, ti := range m.s.Tasks(nil) {
		switch ti.State {
		case Running:
			recRunning++
		case Runnable:
			recQueued++
		}
	}
	live := 0 // queued entries of tasks that have not ended: those have no record
	for _, e := range m.queue {
		if m.tasks[e.id].state != finished {
			live++
		}
	}
	if recRunning != m.running || recQueued != live {
		return fmt.Sprintf("records: %d running, %d runnable; model %d running, %d queued", recRunning, recQueued, m.running, live)
	}
	for _, mt := range m.tasks {
		if s := mt.a.state.Load(); s != mt.state {
			return fmt.Sprintf("task %d state %d, want %d", mt.a.id, s, mt.state)
		}
	}
	return ""
}

// finishAll ends every task: waits end, running actors finish.
func (m *model) finishAll() {
	for {
		progress := false
		for _, mt := range m.tasks {
			switch {
			case mt.foreign == foreignReleased:
				m.step(7, uint8(m.index(7, mt)))
			case mt.actor == actorWaiting:
				m.step(2, uint8(m.index(2, mt)))
			case mt.actor == actorRunning:
				m.step(4, uint8(m.index(4, mt)))
			default:
				continue
			}
			progress = true
		}
		if !progress {
			break
		}
	}
	for _, mt := range m.tasks {
		if mt.actor != actorDone || mt.foreign != foreignNone {
			m.t.Fatalf("task %d left in state %d/%d", mt.a.id, mt.actor, mt.foreign)
		}
	}
	if m.free != m.workers || len(m.queue) != 0 {
		m.t.Fatalf("model: %d free of %d, %d queued", m.free, m.workers, len(m.queue))
	}
}

// index returns the pick that selects mt among the tasks op fits.
func (m *model) index(op uint8, mt *modelTask) int {
	i := 0
	for _, o := range m.tasks {
		if o == mt {
			return i
		}
		if m.fits(op, o) {
			i++
		}
	}
	panic("task does not fit")
}

// runProgram interprets program: the first byte picks 1–3 workers, then
// each byte an operation (low 3 bits) and the task it applies to.
func runProgram(t *testing.T, program []byte) {
	if len(program) == 0 {
		return
	}
	if len(program) > 200 {
		program = program[:200]
	}
	m := newModel(t, 1+int(program[0]%3))
	for _, b := range program[1:] {
		if b&7 == 0 && len(m.tasks) >= 32 {
			continue
		}
		m.step(b&7, b>>3)
	}
	m.finishAll()
}

func FuzzScheduler(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 4, 4, 4})                   // FIFO of fresh tasks
	f.Add([]byte{1, 0, 0, 0, 1, 0, 2, 3, 5, 1, 2, 4})    // waits, yield, exit
	f.Add([]byte{0, 0, 6, 0, 4, 7, 4})                   // finish during a foreign wait
	f.Add([]byte{0, 0, 0, 6, 7, 3, 8, 14, 15, 4, 12, 5}) // foreign waits queued
	f.Add([]byte{2, 0, 0, 0, 0, 1, 9, 17, 3, 11, 2, 10})
	f.Fuzz(runProgram)
}

// TestRandomPrograms runs the fuzz test's interpreter on pseudo-random
// programs from fixed seeds, so that plain go test covers more than the
// seed corpus.
func TestRandomPrograms(t *testing.T) { runRandomPrograms(t, 1, runProgram) }

// runRandomPrograms runs run, a fuzz test's interpreter, on pseudo-random
// programs from a fixed seed, and logs the first program that fails.
func runRandomPrograms(t *testing.T, seed uint64, run func(*testing.T, []byte)) {
	n := 300
	if testing.Short() {
		n = 50
	}
	r := rand.New(rand.NewPCG(seed, seed+1))
	for range n {
		program := make([]byte, 1+r.IntN(60))
		for i := range program {
			program[i] = byte(r.Uint32())
		}
		run(t, program)
		if t.Failed() {
			t.Logf("program %v", program)
			return
		}
	}
}
