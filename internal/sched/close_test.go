package sched

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestCloseRefusesAndReportsIdle: after Close, TrySpawn refuses tasks
// without registering them; Close reports idle at once when no task is
// live, and otherwise OnIdle's function runs once the last live task has
// ended, not before.
func TestCloseRefusesAndReportsIdle(t *testing.T) {
	s := New(1)
	var idleCalls atomic.Int32
	s.OnIdle(func() { idleCalls.Add(1) })

	a := newTask(idle)
	s.Spawn(&a.Task, a) // holds the permit
	b := newTask(idle)
	s.Spawn(&b.Task, b) // queued
	if s.Close() {
		t.Fatal("Close reported idle with two live tasks")
	}
	c := newTask(idle)
	if started, ok := s.TrySpawn(&c.Task, c); ok || started {
		t.Fatalf("TrySpawn after Close = started %v, ok %v; want refused", started, ok)
	}
	if st := s.Stats(); st.Spawned != 2 || st.Runnable != 1 {
		t.Fatalf("after a refused spawn: Stats = %+v; want 2 spawned, 1 runnable", st)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Spawn after Close did not panic")
			}
		}()
		d := newTask(idle)
		s.Spawn(&d.Task, d)
	}()

	next := a.Finish(false) // hands the permit to b, which has not started
	if next != &b.Task {
		t.Fatalf("Finish returned %p; want the queued task %p", next, &b.Task)
	}
	if n := idleCalls.Load(); n != 0 {
		t.Fatalf("OnIdle ran %d times with a task live", n)
	}
	if b.Finish(false) != nil {
		t.Fatal("the last task's Finish returned a task")
	}
	if n := idleCalls.Load(); n != 1 {
		t.Fatalf("OnIdle ran %d times after the last task ended; want 1", n)
	}
	if !s.Close() {
		t.Fatal("a second Close did not report idle")
	}
	check(t, s, 0, 0)
}

// TestDrainKeepsSpawning: Drain does not refuse tasks; it reports idle at
// once when none is live, and otherwise OnIdle's function runs as the last
// one ends.
func TestDrainKeepsSpawning(t *testing.T) {
	s := New(1)
	var idleCalls atomic.Int32
	s.OnIdle(func() { idleCalls.Add(1) })
	if !s.Drain() {
		t.Fatal("Drain of an empty scheduler did not report idle")
	}
	a := newTask(idle)
	if started, ok := s.TrySpawn(&a.Task, a); !ok || !started {
		t.Fatalf("TrySpawn while draining = started %v, ok %v; want started", started, ok)
	}
	if s.Drain() {
		t.Fatal("Drain reported idle with a task live")
	}
	a.Finish(false)
	if n := idleCalls.Load(); n != 1 {
		t.Fatalf("OnIdle ran %d times after the last task ended; want 1", n)
	}
}

// TestCloseRacesSpawns: spawns racing with Close are each either refused
// or run to the end before OnIdle's function runs; OnIdle runs once every
// accepted task has ended, whatever the interleaving.
func TestCloseRacesSpawns(t *testing.T) {
	for round := range 200 {
		s := New(2)
		var ended, accepted atomic.Int64
		idle := make(chan int64, 4)
		s.OnIdle(func() { idle <- ended.Load() })
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					r := newTask(func(*fn) { ended.Add(1) })
					started, ok := s.TrySpawn(&r.Task, r)
					if !ok {
						return
					}
					accepted.Add(1)
					if started {
						Launch(&r.Task)
					}
				}
			})
		}
		closedIdle := s.Close()
		wg.Wait()
		var atIdle int64
		if closedIdle {
			atIdle = ended.Load()
		} else {
			atIdle = recv(t, idle)
		}
		if got := accepted.Load(); atIdle != got {
			t.Fatalf("round %d: idle with %d of %d accepted tasks ended", round, atIdle, got)
		}
		check(t, s, 0, 0)
	}
}

// TestLaunchRunsEachOnce: tasks launched concurrently from many goroutines
// each run exactly once, whichever goroutine pops which.
func TestLaunchRunsEachOnce(t *testing.T) {
	const launchers, each = 8, 500
	s := New(launchers * each) // a permit for every task: each starts at once
	var runs [launchers * each]atomic.Int32
	var done sync.WaitGroup
	done.Add(launchers * each)
	var wg sync.WaitGroup
	for l := range launchers {
		wg.Go(func() {
			for i := range each {
				k := l*each + i
				r := newTask(func(*fn) { runs[k].Add(1); done.Done() })
				if !s.Spawn(&r.Task, r) {
					t.Error("no permit for a task")
					return
				}
				Launch(&r.Task)
			}
		})
	}
	wg.Wait()
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	recv(t, finished)
	for k := range runs {
		if n := runs[k].Load(); n != 1 {
			t.Fatalf("task %d ran %d times", k, n)
		}
	}
	poll(t, func() string {
		if st := s.Stats(); st.Running != 0 || st.Completed != launchers*each {
			return fmt.Sprintf("Stats = %+v; want none running and all completed", st)
		}
		return ""
	})
}
