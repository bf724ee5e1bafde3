package executor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of Sleep: with a context that cannot be cancelled, a task sleeps in
// its executor's timer heap (timers.go) and is queued for a worker when its
// time comes; otherwise it sleeps on a timer of its own.

// wake is what a task records when Sleep returns.
type wake struct {
	id    int
	asked time.Duration // d
	slept time.Duration // measured around Sleep
}

// sleepTask returns a task body that calls before, if not nil, then sleeps
// d with its own context and records its wake in log, while it holds its
// worker.
func sleepTask(log *record[wake], id int, d time.Duration, before func() error) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		if before != nil {
			if err := before(); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		if err := Sleep(ctx, d); err != nil {
			return 0, err
		}
		log.add(wake{id: id, asked: d, slept: time.Since(start)})
		return id, nil
	}
}

// TestSleepManyTasks: a thousand tasks sleeping random times on two workers
// all wake, none before its time, and leave the heap empty. (The order in
// which they wake is TestSleepersQueueInOrder's: here, when each was
// pushed, and so its exact wake-up time, is not known.)
func TestSleepManyTasks(t *testing.T) {
	const workers, tasks = 2, 1000
	e := newExecutor(t, Options{Workers: workers})
	r := rand.New(rand.NewPCG(5, 6))
	var log record[wake]
	hs := make([]*JoinHandle[int], tasks)
	for i := range hs {
		d := time.Microsecond + time.Duration(r.Int64N(int64(20*time.Millisecond)))
		hs[i] = Spawn(e.Context(), sleepTask(&log, i, d, nil))
	}
	for i, h := range hs {
		if v, err := h.Join(context.Background()); v != i || err != nil {
			t.Fatalf("task %d: %v, %v", i, v, err)
		}
	}
	if len(log.items) != tasks {
		t.Fatalf("%d wakes for %d tasks", len(log.items), tasks)
	}
	for _, w := range log.items {
		if w.slept < w.asked {
			t.Errorf("task %d slept %v, asked %v", w.id, w.slept, w.asked)
		}
	}
	checkWorkers(t, e)
	if len(e.sleepers.heap) != 0 {
		t.Fatalf("%d sleepers left in the heap", len(e.sleepers.heap))
	}
}

// spinUntil holds the calling task's worker, without any wait, until cond
// holds, so that tasks that become ready meanwhile must queue.
func spinUntil(cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("condition not reached in 30s")
		}
		runtime.Gosched()
	}
	return nil
}

// TestSleepersQueueInOrder: sleepers that come due while the one worker is
// busy are queued for it in the order of their wake-up times, and then run
// in that order. Each sleeper goes to sleep only once the one before it is
// in the heap, for a longer time than it: so their wake-up times are in
// the order of their ids.
func TestSleepersQueueInOrder(t *testing.T) {
	const n = 50
	e := newExecutor(t, Options{Workers: 1})
	r := rand.New(rand.NewPCG(7, 8))
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = time.Microsecond + time.Duration(r.Int64N(int64(3*time.Millisecond)))
	}
	slices.Sort(ds)
	for i := 1; i < n; i++ {
		ds[i] = max(ds[i], ds[i-1]+1) // strictly longer
	}
	// asleep counts the sleepers that are in the heap or were queued
	// from it, while sleeper i holds the worker: the heap's length and
	// the queue's, less the sleepers after i and the spinner, queued
	// fresh. The heap's lock keeps the timer from moving a task between
	// the two meanwhile.
	asleep := func(i int) int {
		e.sleepers.mu.Lock()
		defer e.sleepers.mu.Unlock()
		return len(e.sleepers.heap) + int(e.Stats().Runnable) - (n - i)
	}
	var log record[wake]
	hs := make([]*JoinHandle[int], n)
	var spinner *JoinHandle[int]
	// A task holding the worker queues the sleepers and then the spinner,
	// so that the worker is never free until the spinner has it: a
	// sleeper whose time comes before then queues behind the spinner. The
	// spinner holds the worker until every sleeper is due and queued.
	setup := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		for i := range hs {
			hs[i] = Spawn(ctx, sleepTask(&log, i, ds[i], func() error {
				return spinUntil(func() bool { return asleep(i) == i })
			}))
		}
		spinner = Spawn(ctx, func(ctx context.Context) (int, error) {
			return 0, spinUntil(func() bool { return e.Stats().Runnable == n })
		})
		return 0, nil
	})
	if _, err := setup.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := spinner.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]int, 0, n)
	for _, w := range log.items {
		ids = append(ids, w.id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("sleepers ran in the order %v, not that of their wake-up times", ids)
	}
	for _, w := range log.items {
		if w.slept < w.asked {
			t.Errorf("task %d slept %v, asked %v", w.id, w.slept, w.asked)
		}
	}
	checkWorkers(t, e)
}

// TestSleeperWaitsItsTurn: a sleeper that comes due while every worker is
// busy gets one in FIFO order: after the task queued before its time came,
// before the task queued after.
func TestSleeperWaitsItsTurn(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var rec record[string]
	root := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		var before, after *JoinHandle[int]
		spinner := Spawn(ctx, func(ctx context.Context) (int, error) {
			// Holds the worker until the sleeper is due and queued behind
			// before; then after queues behind it.
			if err := spinUntil(func() bool { return e.Stats().Runnable == 2 }); err != nil {
				return 0, err
			}
			after = Spawn(ctx, func(context.Context) (int, error) { rec.add("after"); return 0, nil })
			return 0, nil
		})
		before = Spawn(ctx, func(context.Context) (int, error) { rec.add("before"); return 0, nil })
		if err := Sleep(ctx, time.Millisecond); err != nil { // the spinner takes the worker
			return 0, err
		}
		rec.add("sleeper")
		if _, err := spinner.Join(ctx); err != nil { // after is set once it ends
			return 0, err
		}
		if _, err := before.Join(ctx); err != nil {
			return 0, err
		}
		_, err := after.Join(ctx)
		return 0, err
	})
	if _, err := root.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "before", "sleeper", "after")
	checkWorkers(t, e)
}

// TestSleepMixedWithCancellable: tasks that sleep with their own context
// (the heap) and with cancellable contexts (a timer each) side by side:
// every sleep lasts at least what was asked unless its context ends it,
// and then it returns the context's error, having lasted until then.
func TestSleepMixedWithCancellable(t *testing.T) {
	const workers, tasks, sleeps = 2, 200, 4
	e := newExecutor(t, Options{Workers: workers})
	var computing, maxSeen atomic.Int64
	hs := make([]*JoinHandle[int], tasks)
	for i := range hs {
		seed := uint64(i)
		hs[i] = Spawn(e.Context(), func(ctx context.Context) (int, error) {
			r := rand.New(rand.NewPCG(seed, 9))
			for range sleeps {
				n := computing.Add(1)
				for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
				}
				computing.Add(-1)
				d := time.Duration(1 + r.Int64N(int64(3*time.Millisecond)))
				sctx, cancel := ctx, context.CancelFunc(func() {})
				var wantErr error
				var deadline time.Time // ctx's, if it ends the sleep
				bound := d             // the sleep lasts at least this
				switch r.IntN(5) {
				case 1:
					sctx, cancel = context.WithCancel(ctx)
				case 2:
					sctx, cancel = context.WithTimeout(ctx, time.Hour)
				case 3: // ends before d (or with it, if this task is late)
					deadline = time.Now().Add(d / 2)
					sctx, cancel = context.WithDeadline(ctx, deadline)
					wantErr = context.DeadlineExceeded
				case 4: // done already
					sctx, cancel = context.WithCancel(ctx)
					cancel()
					wantErr, bound = context.Canceled, 0
				}
				start := time.Now()
				err := Sleep(sctx, d)
				slept := time.Since(start)
				cancel()
				if err == nil && wantErr == context.DeadlineExceeded {
					// d and the deadline had both passed when Sleep
					// looked: either answer is right.
					wantErr = nil
				}
				if !errors.Is(err, wantErr) {
					return 0, fmt.Errorf("Sleep(%v) = %v; want %v", d, err, wantErr)
				}
				if err != nil && !deadline.IsZero() {
					if now := time.Now(); now.Before(deadline) {
						return 0, fmt.Errorf("Sleep(%v) returned %v %v before the deadline", d, err, deadline.Sub(now))
					}
				} else if slept < bound {
					return 0, fmt.Errorf("Sleep(%v) returned %v after %v", d, err, slept)
				}
			}
			return 0, nil
		})
	}
	for i, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if m := maxSeen.Load(); m > workers {
		t.Fatalf("%d tasks ran at once on %d workers", m, workers)
	}
	checkWorkers(t, e)
}

// TestSleepForeignGoroutine: Sleep with a task's context on a plain
// goroutine. While the task holds its worker, the sleep gives it up (as
// every wait with a borrowed context does), so a queued task runs; the
// worker comes back to the task, or, if the task has ended meanwhile, to
// the executor. While the task is itself in a wait, there is nothing to
// give up and the goroutine simply sleeps.
func TestSleepForeignGoroutine(t *testing.T) {
	const d = time.Millisecond
	foreignSleep := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() {
			start := time.Now()
			err := Sleep(ctx, d)
			if slept := time.Since(start); err == nil && slept < d {
				err = fmt.Errorf("slept %v, asked %v", slept, d)
			}
			done <- err
		}()
		return done
	}
	t.Run("task holding its worker", func(t *testing.T) {
		e := newExecutor(t, Options{Workers: 1})
		var rec record[string]
		owner := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			other := Spawn(ctx, func(context.Context) (int, error) { rec.add("other"); return 0, nil })
			err := <-foreignSleep(ctx) // a plain wait: the worker is the goroutine's to give
			rec.add("woke")
			if err != nil {
				return 0, err
			}
			_, err = other.Join(ctx)
			return 0, err
		})
		if _, err := owner.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec.expect(t, "other", "woke")
		checkWorkers(t, e)
	})
	t.Run("task in a wait", func(t *testing.T) {
		e := newExecutor(t, Options{Workers: 1})
		owner := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			return Block(ctx, func() (int, error) { return 0, <-foreignSleep(ctx) })
		})
		if _, err := owner.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkWorkers(t, e)
	})
	t.Run("task ends during the sleep", func(t *testing.T) {
		e := newExecutor(t, Options{Workers: 1})
		var done <-chan error
		gate := make(chan struct{})
		var holder *JoinHandle[int]
		owner := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			started := make(chan struct{})
			holder = Spawn(ctx, func(context.Context) (int, error) {
				close(started)
				<-gate // holds the worker: the sleeper must queue for it
				return 0, nil
			})
			done = foreignSleep(ctx)
			<-started // the sleep gave up the worker: holder has it
			return 0, nil
		})
		if _, err := owner.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		close(gate) // holder ends; the worker goes to the sleeper, whose task has ended
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		holder.Join(context.Background())
		checkWorkers(t, e)
		if v, err := Spawn(e.Context(), func(context.Context) (int, error) { return 5, nil }).Join(context.Background()); v != 5 || err != nil {
			t.Fatalf("worker lost: %v, %v", v, err)
		}
	})
	t.Run("no task", func(t *testing.T) {
		e := newExecutor(t, Options{Workers: 1})
		for _, ctx := range []context.Context{e.Context(), context.Background()} {
			if err := <-foreignSleep(ctx); err != nil {
				t.Fatal(err)
			}
		}
		checkWorkers(t, e)
	})
}

// TestSleepZeroOrNegative: Sleep of zero or less returns at once, keeping
// the worker (a queued task does not run), or returns the context's error
// if it is done.
func TestSleepZeroOrNegative(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []time.Duration{0, -time.Second} {
		if err := Sleep(context.Background(), d); err != nil {
			t.Fatalf("Sleep(%v) outside a task = %v", d, err)
		}
		if err := Sleep(done, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep(%v) with a cancelled context = %v", d, err)
		}
	}
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		var ran atomic.Bool
		q := Spawn(ctx, func(context.Context) (int, error) { ran.Store(true); return 0, nil })
		for _, d := range []time.Duration{0, -1, -time.Hour} {
			if err := Sleep(ctx, d); err != nil {
				return 0, err
			}
		}
		if ran.Load() {
			return 0, errors.New("Sleep of zero gave up the worker")
		}
		_, err := q.Join(ctx)
		return 0, err
	})
	if _, err := h.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkWorkers(t, e)
}

// TestSleepAllocs: a Sleep in a task, with the task's own context, does not
// allocate once its executor's heap and timer exist (measured: 0): the heap
// holds sleepers by value in an array it reuses, and the task's hand-off
// channel comes from a pool. (A Sleep with a cancellable context makes a
// timer each time, 3 allocations measured; it is logged, not asserted.)
func TestSleepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newExecutor(t, Options{Workers: 1})
	type allocs struct{ own, cancellable float64 }
	h := Spawn(e.Context(), func(ctx context.Context) (allocs, error) {
		Sleep(ctx, time.Microsecond) // makes the heap's array and its timer
		var a allocs
		a.own = testing.AllocsPerRun(100, func() { Sleep(ctx, time.Microsecond) })
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		a.cancellable = testing.AllocsPerRun(100, func() { Sleep(cctx, time.Microsecond) })
		return a, nil
	})
	a, err := h.Join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("allocations per Sleep: own context %v, cancellable context %v", a.own, a.cancellable)
	if a.own != 0 {
		t.Fatalf("a Sleep with the task's own context made %v allocations; want 0", a.own)
	}
}

// TestSleepersHeap: the heap pops in order of wake-up time, whatever the
// order of pushes, and interleaved pushes and pops keep it ordered.
func TestSleepersHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	var q sleepers
	recs := make([]sleeper, 500)
	var popped []time.Duration
	next := 0
	for next < len(recs) || len(q.heap) > 0 {
		if next < len(recs) && (len(q.heap) == 0 || r.IntN(3) > 0) {
			recs[next].when = time.Duration(r.IntN(100)) // ties on purpose
			q.push(recs[next])
			next++
			continue
		}
		popped = append(popped, q.pop().when)
		// What is popped is never later than what remains.
		for _, s := range q.heap {
			if s.when < popped[len(popped)-1] {
				t.Fatalf("popped %v while %v remained", popped[len(popped)-1], s.when)
			}
		}
	}
	if len(popped) != len(recs) {
		t.Fatalf("popped %d of %d", len(popped), len(recs))
	}
}
