package sched

import (
	"slices"
	"testing"
)

// Tests of Task.Ready and Task.AwaitPermit (a wait ended by another
// goroutine, a timer: the waiter is woken only once it holds a permit) and
// of the hand-off channels.

// awaiting starts a's AwaitPermit on a new goroutine, which closes the
// returned channel once it returns, after checking that a holds its permit.
func awaiting(t *testing.T, a *fn) <-chan struct{} {
	woke := make(chan struct{})
	go func() {
		a.AwaitPermit()
		if a.state.Load() != holding {
			t.Errorf("AwaitPermit returned in state %d, want holding", a.state.Load())
		}
		close(woke)
	}()
	return woke
}

// TestReadyFreePermit: Ready with a permit free grants it at once, whether
// the waiter is parked already or comes to AwaitPermit afterwards.
func TestReadyFreePermit(t *testing.T) {
	for _, readyFirst := range []bool{false, true} {
		s, a := holdingTask(t)
		if !a.Release() {
			t.Fatal("Release reported false")
		}
		a.PrepareReady()
		check(t, s, 0, 0)
		var woke <-chan struct{}
		if !readyFirst {
			woke = awaiting(t, a)
		}
		a.Ready()
		check(t, s, 1, 0) // granted by Ready, before the waiter runs
		if readyFirst {
			woke = awaiting(t, a)
		}
		recv(t, woke)
		a.Finish(false)
		check(t, s, 0, 0)
	}
}

// TestReadyQueuesFIFO: with every permit held, Ready queues the task behind
// the tasks already queued, Acquire waiters and fresh tasks alike, and
// AwaitPermit does not return before the permit reaches it.
func TestReadyQueuesFIFO(t *testing.T) {
	s := New(1)
	// w1, z and w2 start on the free permit and release it for a wait.
	w1, z, w2 := newTask(idle), newTask(idle), newTask(idle)
	for _, w := range []*fn{w1, z, w2} {
		if !s.Spawn(&w.Task, w) || !w.Release() {
			t.Fatal("no free permit")
		}
	}
	h := newTask(idle)
	if !s.Spawn(&h.Task, h) {
		t.Fatal("no free permit")
	}
	var order []string // appended by the holder of the one permit
	acquire := func(w *fn, name string) {
		go func() {
			w.Acquire()
			order = append(order, name)
			Run(w.Finish(false))
		}()
	}
	acquire(w1, "w1")
	waitQueued(t, s, 1)
	zWoke := make(chan struct{})
	z.PrepareReady() // as z's goroutine would, before it parks
	go func() {
		z.AwaitPermit()
		close(zWoke)
		order = append(order, "z")
		Run(z.Finish(false))
	}()
	z.Ready()
	check(t, s, 1, 2)
	f := newTask(func(*fn) { order = append(order, "f") })
	s.Spawn(&f.Task, f)
	acquire(w2, "w2")
	waitQueued(t, s, 4)
	select {
	case <-zWoke:
		t.Fatal("AwaitPermit returned while every permit was held")
	default:
	}
	if z.state.Load() != released {
		t.Fatalf("a queued Ready task is in state %d", z.state.Load())
	}
	h.Finish(false)
	recv(t, zWoke)
	poll(t, func() string {
		if st := s.Stats(); st.Completed != 5 || st.Running != 0 {
			return "not all done"
		}
		return ""
	})
	if want := []string{"w1", "z", "f", "w2"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	check(t, s, 0, 0)
	if st := s.Stats(); st.MaxRunning != 1 || st.Waiting != 0 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestReadyAfterTaskFinished: a foreign goroutine's timed wait (Release,
// then AwaitPermit) that the task outlives gives the permit Ready grants it
// straight back.
func TestReadyAfterTaskFinished(t *testing.T) {
	for _, queued := range []bool{false, true} {
		s := New(1)
		a := newTask(idle)
		s.Spawn(&a.Task, a)
		gaveUp := make(chan bool)
		done := make(chan struct{})
		go func() {
			ok := a.Release()
			if ok {
				a.PrepareReady()
			}
			gaveUp <- ok
			if ok {
				a.AwaitPermit()
			}
			close(done)
		}()
		if !recv(t, gaveUp) {
			t.Fatal("foreign Release of a held permit reported false")
		}
		if a.Finish(false) != nil {
			t.Fatal("Finish without a permit handed one on")
		}
		var b *fn
		if queued { // the permit is busy when Ready comes: Ready queues
			b = newTask(idle)
			s.Spawn(&b.Task, b)
		}
		a.Ready()
		if queued {
			check(t, s, 1, 1)
			b.Finish(false)
		}
		recv(t, done)
		check(t, s, 0, 0)
		if a.state.Load() != finished {
			t.Fatal("a finished task holds a permit again")
		}
	}
}

// TestWakeNoStaleSignal: a task's hand-off signal, made by its own
// goroutine (so that in a synctest bubble it belongs to the bubble) before
// it queues for a permit, holds no signal once the task has its permit,
// round after round; a task that ends while a foreign wait holds its
// released state still wakes that waiter.
func TestWakeNoStaleSignal(t *testing.T) {
	s := New(1)
	for i := range 100 {
		w := newTask(idle)
		if !s.Spawn(&w.Task, w) || !w.Release() {
			t.Fatal("no free permit")
		}
		h := newTask(idle)
		if !s.Spawn(&h.Task, h) {
			t.Fatal("no free permit")
		}
		got := make(chan struct{})
		go func() { w.Acquire(); close(got) }()
		waitQueued(t, s, 1)
		select {
		case <-got:
			t.Fatalf("round %d: Acquire returned while the permit was held (a stale signal)", i)
		default:
		}
		h.Finish(false)
		recv(t, got)
		w.Finish(false)
		if len(w.wake) != 0 {
			t.Fatalf("round %d: after Finish, %d signals pending", i, len(w.wake))
		}
		check(t, s, 0, 0)
	}

	// Foreign wait: the waiter parks on the task's signal, which the task's
	// end leaves in place.
	a := newTask(idle)
	s.Spawn(&a.Task, a)
	acquire, done := foreignWait(t, a)
	b := newTask(idle)
	s.Spawn(&b.Task, b) // takes the freed permit, so the foreign Acquire queues
	acquire()
	waitQueued(t, s, 1)
	a.Finish(false) // released: the foreign waiter is queued on a's signal
	b.Finish(false) // hands the permit to the foreign waiter, which gives it back
	recv(t, done)
	check(t, s, 0, 0)
}
