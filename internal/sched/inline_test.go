package sched

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
)

// Tests of Task.RunInline: a task that joins a queued task that never ran
// lends it its permit and runs it on its own goroutine.

// queueFresh spawns n tasks on s, which must have no free permit, each
// appending its index to *order when it runs.
func queueFresh(t *testing.T, s *Scheduler, n int, order *[]int) {
	t.Helper()
	for i := range n {
		task := newTask(func(*fn) { *order = append(*order, i) })
		if s.Spawn(&task.Task, task) {
			t.Fatal("Spawn granted a permit that should be held")
		}
	}
}

// TestRunInline: the child runs on the caller's goroutine holding the
// caller's permit, the caller holds none meanwhile, nobody else gets the
// permit, and the caller has it back when RunInline returns.
func TestRunInline(t *testing.T) {
	s := New(2)
	p, other := newTask(idle), newTask(idle)
	s.Spawn(&p.Task, p) // driven by the test goroutine
	s.Spawn(&other.Task, other)
	var order []int
	queueFresh(t, s, 2, &order)
	caller := goid()
	ran := false
	child := newTask(func(c *fn) {
		ran = true
		if g := goid(); g != caller {
			t.Errorf("child ran on goroutine %d, want the caller's %d", g, caller)
		}
		if c.state.Load() != holding || p.state.Load() != released {
			t.Errorf("during RunInline: child state %d, parent %d; want holding, released",
				c.state.Load(), p.state.Load())
		}
		check(t, s, 2, 2) // the permit moved: running unchanged, the others still queued
	})
	if s.Spawn(&child.Task, child) {
		t.Fatal("granted")
	}
	check(t, s, 2, 3)
	if !p.RunInline(&child.Task) {
		t.Fatal("RunInline of a queued fresh child reported false")
	}
	if !ran {
		t.Fatal("RunInline returned without running the child")
	}
	if len(order) != 0 {
		t.Fatalf("tasks %v ran during RunInline: the lent permit leaked to the queue", order)
	}
	if p.state.Load() != holding || child.state.Load() != finished {
		t.Fatalf("after RunInline: parent state %d, child %d", p.state.Load(), child.state.Load())
	}
	check(t, s, 2, 2)
	if st := s.Stats(); st.Completed != 1 || st.MaxRunning != 2 || st.Spawned != 5 {
		t.Fatalf("Stats %+v", st)
	}
	// The permits go on to the queue in order.
	Run(p.Finish(false))
	Run(other.Finish(false))
	if !slices.Equal(order, []int{0, 1}) {
		t.Fatalf("order %v, want [0 1]", order)
	}
	check(t, s, 0, 0)
}

// TestRunInlineRefuses: RunInline does nothing, and says so, when the
// child has started, belongs to another scheduler, or the caller holds no
// permit.
func TestRunInlineRefuses(t *testing.T) {
	refused := func(t *testing.T, p *fn, child *Task) {
		t.Helper()
		ps, cs := p.state.Load(), child.state.Load()
		if p.RunInline(child) {
			t.Fatal("RunInline reported true")
		}
		if p.state.Load() != ps || child.state.Load() != cs {
			t.Fatalf("states moved: parent %d -> %d, child %d -> %d", ps, p.state.Load(), cs, child.state.Load())
		}
	}
	t.Run("child holding a permit", func(t *testing.T) {
		s := New(2)
		p, c := newTask(idle), newTask(idle)
		s.Spawn(&p.Task, p)
		s.Spawn(&c.Task, c)
		refused(t, p, &c.Task)
		check(t, s, 2, 0)
		p.Finish(false)
		c.Finish(false)
	})
	t.Run("child queued in Acquire", func(t *testing.T) {
		s, p := holdingTask(t)
		p.Release()
		c := newTask(idle)
		s.Spawn(&c.Task, c) // takes the free permit
		c.Release()         // c has started: it waits
		p.Acquire()
		got := make(chan struct{})
		go func() { c.Acquire(); close(got) }()
		waitQueued(t, s, 1)
		refused(t, p, &c.Task)
		check(t, s, 1, 1)
		p.Finish(false) // hands the permit to c
		recv(t, got)
		c.Finish(false)
		check(t, s, 0, 0)
	})
	t.Run("child already run inline", func(t *testing.T) {
		s, p := holdingTask(t)
		c := newTask(func(*fn) {})
		s.Spawn(&c.Task, c)
		if !p.RunInline(&c.Task) {
			t.Fatal("first RunInline refused")
		}
		refused(t, p, &c.Task)
		check(t, s, 1, 0)
		p.Finish(false)
	})
	t.Run("child of another scheduler", func(t *testing.T) {
		s, p := holdingTask(t)
		s2, busy := holdingTask(t)
		c := newTask(idle)
		s2.Spawn(&c.Task, c)
		refused(t, p, &c.Task)
		check(t, s, 1, 0)
		check(t, s2, 1, 1)
		p.Finish(false)
		if busy.Finish(false) != &c.Task {
			t.Fatal("the child left its own queue")
		}
		c.Finish(false)
		check(t, s2, 0, 0)
	})
	for _, foreign := range []bool{false, true} {
		// The caller gave its permit up for a wait of its own, or a wait
		// with its context on another goroutine did.
		t.Run(fmt.Sprintf("caller released, foreign=%v", foreign), func(t *testing.T) {
			s := New(1)
			p, busy, c := newTask(idle), newTask(idle), newTask(idle)
			s.Spawn(&p.Task, p)
			reacquire := p.Acquire
			if foreign {
				acquire, done := foreignWait(t, p)
				reacquire = func() { acquire(); recv(t, done) }
			} else {
				p.Release()
			}
			s.Spawn(&busy.Task, busy)
			s.Spawn(&c.Task, c)
			refused(t, p, &c.Task)
			check(t, s, 1, 1)
			if busy.Finish(false) != &c.Task {
				t.Fatal("the child left the queue")
			}
			c.Finish(false)
			reacquire()
			p.Finish(false)
			check(t, s, 0, 0)
		})
	}
	t.Run("caller finished", func(t *testing.T) {
		s := New(1)
		p, busy, c := newTask(idle), newTask(idle), newTask(idle)
		s.Spawn(&p.Task, p)
		p.Finish(false)
		s.Spawn(&busy.Task, busy)
		s.Spawn(&c.Task, c)
		refused(t, p, &c.Task)
		busy.Finish(false)
		c.Finish(false)
		check(t, s, 0, 0)
	})
}

// TestRunInlineUnlink: a child taken from the head, the middle or the tail
// of the queue leaves the others, fresh and started alike, in FIFO order,
// and the queue's ends stay right for tasks queued after.
func TestRunInlineUnlink(t *testing.T) {
	const n = 5
	for pos := range n {
		t.Run(fmt.Sprint(pos), func(t *testing.T) {
			s := New(1)
			var order []int
			// Even positions are fresh tasks, odd ones started tasks
			// blocked in Acquire: each starts on the free permit and
			// releases it for a wait before the queue forms.
			waiters := map[int]*fn{}
			for i := 1; i < n; i += 2 {
				if i != pos {
					w := newTask(idle)
					if !s.Spawn(&w.Task, w) || !w.Release() {
						t.Fatal("no free permit")
					}
					waiters[i] = w
				}
			}
			p := newTask(idle)
			if !s.Spawn(&p.Task, p) {
				t.Fatal("no free permit")
			}
			var child *fn
			for i := range n {
				switch w := waiters[i]; {
				case i == pos:
					child = newTask(func(*fn) { order = append(order, -1) })
					s.Spawn(&child.Task, child)
				case w == nil:
					task := newTask(func(*fn) { order = append(order, i) })
					s.Spawn(&task.Task, task)
				default:
					go func() {
						w.Acquire()
						order = append(order, i)
						Run(w.Finish(false))
					}()
				}
				waitQueued(t, s, int64(i+1))
			}
			if !p.RunInline(&child.Task) {
				t.Fatal("RunInline refused")
			}
			check(t, s, 1, n-1)
			// Queue one more behind: the tail must be right after unlink.
			last := newTask(func(*fn) { order = append(order, n) })
			s.Spawn(&last.Task, last)
			check(t, s, 1, n)
			Run(p.Finish(false))
			poll(t, func() string {
				if st := s.Stats(); st.Completed != n+2 || st.Running != 0 {
					return fmt.Sprintf("Stats %+v", st)
				}
				return ""
			})
			want := []int{-1}
			for i := range n + 1 {
				if i != pos {
					want = append(want, i)
				}
			}
			if !slices.Equal(order, want) {
				t.Fatalf("order %v, want %v", order, want)
			}
			check(t, s, 0, 0)
		})
	}
}

// TestRunInlineChildWaits: a child run inline may wait like any task: its
// Release gives the lent permit to the queue, its Acquire queues for one,
// and the parent still gets a permit back when it ends.
func TestRunInlineChildWaits(t *testing.T) {
	s, p := holdingTask(t)
	gate := make(chan struct{})
	otherRan := make(chan uint64, 1)
	other := newTask(func(*fn) {
		otherRan <- goid()
		<-gate
	})
	caller := goid()
	child := newTask(func(c *fn) {
		if !c.Release() {
			t.Error("the inline child's Release reported false")
			return
		}
		// The lent permit went to other, on a goroutine of its own.
		if g := recv(t, otherRan); g == caller {
			t.Error("the queued task ran on the inline caller's goroutine")
		}
		check(t, s, 1, 0)
		go func() {
			waitQueued(t, s, 1)
			close(gate) // other ends and hands the permit to the child
		}()
		c.Acquire()
		if g := goid(); g != caller {
			t.Errorf("child resumed on goroutine %d, want %d", g, caller)
		}
	})
	s.Spawn(&child.Task, child)
	s.Spawn(&other.Task, other)
	if !p.RunInline(&child.Task) {
		t.Fatal("RunInline refused")
	}
	if p.state.Load() != holding {
		t.Fatal("parent does not hold its permit after RunInline")
	}
	check(t, s, 1, 0)
	p.Finish(false)
	check(t, s, 0, 0)
	if st := s.Stats(); st.Completed != 3 || st.MaxRunning != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestRunInlineChildForeignReleased: a child that ends while a foreign
// goroutine holds its released state has no permit to give back (the
// foreign Release freed it), so the parent queues for one before
// RunInline returns, behind the tasks already queued.
func TestRunInlineChildForeignReleased(t *testing.T) {
	s, p := holdingTask(t)
	gate := make(chan struct{})
	otherRunning := make(chan struct{})
	other := newTask(func(*fn) {
		close(otherRunning)
		<-gate
	})
	var acquire func()
	var foreignDone <-chan struct{}
	child := newTask(func(c *fn) {
		acquire, foreignDone = foreignWait(t, c)
		// The freed permit went to other, which now runs.
		recv(t, otherRunning)
		go func() {
			waitQueued(t, s, 1) // the parent, in RunInline's Acquire
			close(gate)
		}()
	})
	s.Spawn(&child.Task, child)
	s.Spawn(&other.Task, other)
	if !p.RunInline(&child.Task) {
		t.Fatal("RunInline refused")
	}
	if p.state.Load() != holding || child.state.Load() != finished {
		t.Fatalf("parent state %d, child %d", p.state.Load(), child.state.Load())
	}
	check(t, s, 1, 0)
	acquire() // the foreign wait queues, gets p's permit on Finish, gives it back
	waitQueued(t, s, 1)
	if p.Finish(false) != nil {
		t.Fatal("Finish handed a started task's permit back as fresh")
	}
	recv(t, foreignDone)
	check(t, s, 0, 0)
	if st := s.Stats(); st.Completed != 3 || st.Waiting != 0 || st.MaxRunning != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// runInlineOrExit is the body of a task that runs a child inline and, should the child call
// runtime.Goexit, exits with it as the executor's tasks do: Exit from a
// deferred call.
func runInlineOrExit(t *testing.T, p, child *fn, exited chan<- struct{}) {
	returned := false
	defer func() {
		if !returned {
			p.Exit(false)
			close(exited)
		}
	}()
	if !p.RunInline(&child.Task) {
		t.Error("RunInline refused")
	}
	returned = true
}

// TestRunInlineGoexit: a child that calls runtime.Goexit inline takes the
// calling goroutine with it; the permit it was lent goes back to the
// parent, whose Exit gives it to the queue. No permit is lost.
func TestRunInlineGoexit(t *testing.T) {
	for _, foreign := range []bool{false, true} {
		t.Run(fmt.Sprintf("foreign=%v", foreign), func(t *testing.T) {
			s := New(1)
			exited := make(chan struct{})
			after := make(chan struct{})
			var acquire func()
			var foreignDone <-chan struct{}
			child := newTask(func(c *fn) {
				if foreign {
					acquire, foreignDone = foreignWait(t, c)
				}
				defer c.Exit(false)
				runtime.Goexit()
			})
			p := newTask(func(p *fn) {
				runInlineOrExit(t, p, child, exited)
				close(after) // never: the goroutine has exited
			})
			s.Spawn(&p.Task, p)
			s.Spawn(&child.Task, child)
			nextRan := make(chan struct{})
			next := newTask(func(*fn) { close(nextRan) })
			s.Spawn(&next.Task, next)
			go Run(&p.Task)
			recv(t, exited)
			select {
			case <-after:
				t.Fatal("the parent went on after its inline child's Goexit")
			default:
			}
			if foreign {
				// The foreign Release freed the permit: next got it then.
				recv(t, nextRan)
				acquire()
				recv(t, foreignDone)
			} else {
				recv(t, nextRan) // the parent's Exit launched it
			}
			poll(t, func() string {
				if st := s.Stats(); st.Completed != 3 || st.Running != 0 || st.Runnable != 0 {
					return fmt.Sprintf("Stats %+v; want 3 completed, none running or queued", st)
				}
				return ""
			})
			check(t, s, 0, 0)
			if p.state.Load() != finished || child.state.Load() != finished {
				t.Fatalf("states: parent %d, child %d", p.state.Load(), child.state.Load())
			}
		})
	}
}

// TestRunInlineNested: a child run inline may itself run a grandchild
// inline; every permit goes back up the chain, and running never exceeds
// the workers.
func TestRunInlineNested(t *testing.T) {
	const depth = 50
	s := New(2)
	var order []int
	tasks := make([]*fn, depth)
	p, busy := newTask(idle), newTask(idle)
	s.Spawn(&p.Task, p)
	s.Spawn(&busy.Task, busy)
	for i := range tasks {
		tasks[i] = newTask(func(c *fn) {
			if i+1 < depth && !c.RunInline(&tasks[i+1].Task) {
				t.Errorf("task %d: RunInline refused", i)
			}
			order = append(order, i)
			check(t, s, 2, 0)
		})
		s.Spawn(&tasks[i].Task, tasks[i])
	}
	// Each task unlinks the queue's head, its successor, and runs it.
	if !p.RunInline(&tasks[0].Task) {
		t.Fatal("RunInline refused")
	}
	if len(order) != depth || order[0] != depth-1 || order[depth-1] != 0 {
		t.Fatalf("order %v", order)
	}
	check(t, s, 2, 0)
	p.Finish(false)
	busy.Finish(false)
	check(t, s, 0, 0)
	if st := s.Stats(); st.Completed != depth+2 || st.MaxRunning != 2 {
		t.Fatalf("Stats %+v", st)
	}
}
