package executor

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of Join running a task that has not started on the joiner's
// goroutine (see JoinHandle.Join and sched.Task.RunInline).

// goroutineID returns the calling goroutine's id, parsed from its stack
// header ("goroutine 7 [running]:"), to tell on which goroutine a task runs.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// record collects what tasks append to it, in order: the names of the
// tasks that ran, say.
type record[T comparable] struct {
	mu    sync.Mutex
	items []T
}

func (r *record[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
}

func (r *record[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

// expect fails the test unless the record is want.
func (r *record[T]) expect(t *testing.T, want ...T) {
	t.Helper()
	if got := r.get(); !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
}

// checkWorkers fails the test if more tasks ever held a worker than there
// are workers (invariant 1), or if a worker is still held or a task queued.
func checkWorkers(t *testing.T, e *Executor) {
	t.Helper()
	waitFor(t, func() bool { st := e.Stats(); return st.Running == 0 && st.Runnable == 0 })
	if st := e.Stats(); st.MaxRunning > int64(st.Workers) || st.Completed != st.Spawned {
		t.Fatalf("Stats %+v", st)
	}
}

// TestJoinRunsQueuedTaskInline: a task that joins, with its own context, a
// task that has not started runs it at once on its own goroutine, ahead of
// the tasks queued before it, even on one worker.
func TestJoinRunsQueuedTaskInline(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var rec record[string]
	root := Spawn(e.Context(), func(ctx context.Context) (uint64, error) {
		me := goroutineID()
		named := func(name string) *JoinHandle[uint64] {
			return Spawn(ctx, func(context.Context) (uint64, error) {
				rec.add(name)
				return goroutineID(), nil
			})
		}
		a, b := named("a"), named("b") // queued: root holds the one worker
		if g, err := b.Join(ctx); err != nil || g != me {
			t.Errorf("b: Join = %d, %v; want it run on the joiner's goroutine %d", g, err, me)
		}
		rec.add("root")
		// A context that derives its values from the task's and cannot be
		// cancelled is the task's own as far as Join is concerned.
		type key struct{}
		if g, err := a.Join(context.WithValue(ctx, key{}, 1)); err != nil || g != me {
			t.Errorf("a: Join = %d, %v; want it run on the joiner's goroutine %d", g, err, me)
		}
		return me, nil
	})
	if _, err := root.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.expect(t, "b", "root", "a")
	checkWorkers(t, e)
}

// TestJoinInlineChain: each task spawns and joins the next, a thousand
// deep, on one worker: each runs inline on the first task's goroutine.
func TestJoinInlineChain(t *testing.T) {
	const depth = 1000
	e := newExecutor(t, Options{Workers: 1})
	var chain func(ctx context.Context, n int) (uint64, error)
	chain = func(ctx context.Context, n int) (uint64, error) {
		if n == 0 {
			return goroutineID(), nil
		}
		return Spawn(ctx, func(ctx context.Context) (uint64, error) { return chain(ctx, n-1) }).Join(ctx)
	}
	var first uint64
	h := Spawn(e.Context(), func(ctx context.Context) (uint64, error) {
		first = goroutineID()
		return chain(ctx, depth)
	})
	last, err := h.Join(context.Background())
	if err != nil || last != first {
		t.Fatalf("the innermost task ran on goroutine %d (err %v), want the first task's %d", last, err, first)
	}
	checkWorkers(t, e)
	if st := e.Stats(); st.Spawned != depth+1 || st.MaxRunning != 1 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestJoinInlineWorkersBound: a tree of tasks that spawn and join children
// on two workers never has more tasks computing than workers.
func TestJoinInlineWorkersBound(t *testing.T) {
	const workers, fanout, depth = 2, 3, 5
	e := newExecutor(t, Options{Workers: workers})
	var computing, maxSeen atomic.Int64
	compute := func() {
		n := computing.Add(1)
		for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
		}
		runtime.Gosched() // let the other worker's task overlap, if it can
		computing.Add(-1)
	}
	var tree func(ctx context.Context, level int) (int, error)
	tree = func(ctx context.Context, level int) (int, error) {
		compute()
		if level == 0 {
			return 1, nil
		}
		hs := make([]*JoinHandle[int], fanout)
		for i := range hs {
			hs[i] = Spawn(ctx, func(ctx context.Context) (int, error) { return tree(ctx, level-1) })
		}
		total := 1
		for _, h := range hs {
			n, err := h.Join(ctx)
			if err != nil {
				return 0, err
			}
			compute()
			total += n
		}
		return total, nil
	}
	n, err := Spawn(e.Context(), func(ctx context.Context) (int, error) { return tree(ctx, depth) }).Join(context.Background())
	want := 0
	for i, p := 0, 1; i <= depth; i, p = i+1, p*fanout {
		want += p
	}
	if err != nil || n != want {
		t.Fatalf("tree = %d, %v; want %d tasks", n, err, want)
	}
	if m := maxSeen.Load(); m > workers {
		t.Fatalf("%d tasks computed at once on %d workers", m, workers)
	}
	checkWorkers(t, e)
}

// TestJoinCancellableNotInline: a Join whose context can end the wait
// early does not run the task inline (the task could then outlast ctx):
// the joiner gives up its worker, the queue's head runs first, and the
// timeout bounds the wait.
func TestJoinCancellableNotInline(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var rec record[string]
	gate := make(chan struct{})
	var b *JoinHandle[uint64]
	root := Spawn(e.Context(), func(ctx context.Context) (uint64, error) {
		a := Spawn(ctx, func(context.Context) (uint64, error) { rec.add("a"); return goroutineID(), nil })
		b = Spawn(ctx, func(ctx context.Context) (uint64, error) {
			rec.add("b")
			// Wait, without holding the worker, until the test opens the
			// gate: run inline, this would hang the joiner.
			Block(ctx, func() (struct{}, error) { <-gate; return struct{}{}, nil })
			return goroutineID(), nil
		})
		short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		if _, err := b.Join(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Join with a timeout = %v; want DeadlineExceeded", err)
		}
		rec.add("timed out")
		if _, err := a.Join(ctx); err != nil {
			return 0, err
		}
		return goroutineID(), nil
	})
	me, err := root.Join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// a, queued first, ran first: the joiner gave its worker to the queue.
	rec.expect(t, "a", "b", "timed out")
	close(gate)
	if g, err := b.Join(context.Background()); err != nil || g == me {
		t.Fatalf("b: Join = %d, %v; want it run on a goroutine other than the joiner's %d", g, err, me)
	}
	checkWorkers(t, e)
}

// TestJoinOtherExecutorNotInline: a queued task of another executor waits
// for a worker of its own executor; the joiner does not run it.
func TestJoinOtherExecutorNotInline(t *testing.T) {
	e1 := newExecutor(t, Options{Workers: 1})
	e2 := newExecutor(t, Options{Workers: 1})
	gate := make(chan struct{})
	blocker := Spawn(e2.Context(), func(context.Context) (int, error) { <-gate; return 0, nil })
	waitFor(t, func() bool { return e2.Stats().Running == 1 })
	queued := Spawn(e2.Context(), func(context.Context) (uint64, error) { return goroutineID(), nil })
	h := Spawn(e1.Context(), func(ctx context.Context) (bool, error) {
		me := goroutineID()
		close(gate) // e2's worker comes free while this task waits
		g, err := queued.Join(ctx)
		return g != me, err
	})
	if other, err := h.Join(context.Background()); err != nil || !other {
		t.Fatalf("Join = %v, %v; want the task of another executor run there", other, err)
	}
	blocker.Join(context.Background())
	checkWorkers(t, e1)
	checkWorkers(t, e2)
}

// TestJoinInlineGoexit: a task run inline that calls runtime.Goexit takes
// its joiner's goroutine with it, as Join's documentation says: both
// tasks' Joins return ErrGoexit, and no worker is lost.
func TestJoinInlineGoexit(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var child *JoinHandle[int]
	after := false
	var me, childG uint64
	root := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		me = goroutineID()
		child = Spawn(ctx, func(context.Context) (int, error) {
			childG = goroutineID()
			runtime.Goexit()
			return 1, nil
		})
		child.Join(ctx)
		after = true // never: this goroutine has exited
		return 2, nil
	})
	if _, err := root.Join(context.Background()); !errors.Is(err, ErrGoexit) {
		t.Fatalf("the joiner's Join = %v; want ErrGoexit", err)
	}
	if _, err := child.Join(context.Background()); !errors.Is(err, ErrGoexit) {
		t.Fatalf("the inline task's Join = %v; want ErrGoexit", err)
	}
	if after || childG != me {
		t.Fatalf("the joiner went on (%v), or the child ran on goroutine %d, not the joiner's %d", after, childG, me)
	}
	// The one worker came back.
	if v, err := Spawn(e.Context(), func(context.Context) (int, error) { return 5, nil }).Join(context.Background()); v != 5 || err != nil {
		t.Fatalf("after Goexit: %v, %v", v, err)
	}
	checkWorkers(t, e)
	if st := e.Stats(); st.Completed != 3 || st.Panicked != 0 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestJoinInlinePanicRecovered: with RecoverPanics, a task run inline that
// panics ends in a *PanicError and its joiner goes on.
func TestJoinInlinePanicRecovered(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1, RecoverPanics: true})
	errInner := errors.New("inner")
	root := Spawn(e.Context(), func(ctx context.Context) (bool, error) {
		me := goroutineID()
		var g uint64
		h := Spawn(ctx, func(context.Context) (int, error) {
			g = goroutineID()
			panic(errInner)
		}, WithName("inline"))
		_, err := h.Join(ctx)
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Task != "inline" || !errors.Is(err, errInner) {
			t.Errorf("Join = %v; want a *PanicError wrapping the panic", err)
		}
		// And the worker is the joiner's again: a task spawned now still
		// runs inline.
		g2, err := Spawn(ctx, func(context.Context) (uint64, error) { return goroutineID(), nil }).Join(ctx)
		return g == me && g2 == me, err
	})
	if inline, err := root.Join(context.Background()); err != nil || !inline {
		t.Fatalf("root = %v, %v; want both tasks run inline", inline, err)
	}
	checkWorkers(t, e)
	if st := e.Stats(); st.Panicked != 1 || st.Completed != 3 {
		t.Fatalf("Stats %+v", st)
	}
}

// TestJoinInlineChildWaits: a task run inline that waits (here, Sleep and
// Join of a task that needs a worker) gives the lent worker to the queue,
// so a task queued before it runs meanwhile, even on one worker.
func TestJoinInlineChildWaits(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var rec record[string]
	root := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		ev := new(Event)
		setter := Spawn(ctx, func(ctx context.Context) (int, error) { rec.add("setter"); ev.Set(); return 0, nil })
		waiter := Spawn(ctx, func(ctx context.Context) (int, error) {
			rec.add("waiter")
			if err := ev.Wait(ctx); err != nil { // needs setter to run
				return 0, err
			}
			if err := Sleep(ctx, time.Millisecond); err != nil {
				return 0, err
			}
			rec.add("waiter woke")
			return 7, nil
		})
		v, err := waiter.Join(ctx) // inline; setter runs while waiter waits
		if err != nil {
			return 0, err
		}
		_, err = setter.Join(ctx)
		return v, err
	})
	if v, err := root.Join(context.Background()); v != 7 || err != nil {
		t.Fatalf("root = %v, %v", v, err)
	}
	rec.expect(t, "waiter", "setter", "waiter woke")
	checkWorkers(t, e)
}

// TestJoinForeignGoroutineInline: a plain goroutine that joins with a
// task's context runs a queued task inline with that task's worker, as a
// wait with a borrowed context may; nothing is lost whether the task is
// still running or has ended when the joined task ends.
func TestJoinForeignGoroutineInline(t *testing.T) {
	for _, ownerEnds := range []bool{false, true} {
		e := newExecutor(t, Options{Workers: 1})
		childRunning := make(chan struct{})
		ownerDone := make(chan struct{})
		joined := make(chan error, 1)
		var child *JoinHandle[int]
		owner := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			child = Spawn(ctx, func(context.Context) (int, error) {
				close(childRunning)
				<-ownerDone
				return 3, nil
			})
			go func() {
				v, err := child.Join(ctx) // a plain goroutine with the owner's context
				if err == nil && v != 3 {
					err = errors.New("wrong value")
				}
				joined <- err
			}()
			<-childRunning // holding the worker: a plain channel wait
			if !ownerEnds {
				close(ownerDone)
				if err := <-joined; err != nil {
					return 0, err
				}
			}
			return 1, nil
		})
		if ownerEnds {
			<-childRunning
			if _, err := owner.Join(context.Background()); err != nil {
				t.Fatal(err)
			}
			close(ownerDone)
			if err := <-joined; err != nil {
				t.Fatal(err)
			}
		} else if _, err := owner.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		child.Join(context.Background())
		checkWorkers(t, e)
		if v, err := Spawn(e.Context(), func(context.Context) (int, error) { return 5, nil }).Join(context.Background()); v != 5 || err != nil {
			t.Fatalf("worker lost: %v, %v", v, err)
		}
	}
}

// TestBundleWaitInline: a bundle's Wait in a task runs members that have
// not started inline, even when the bundle's context can be cancelled
// (Wait lasts until every member ends whatever ctx does).
func TestBundleWaitInline(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	root := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		me := goroutineID()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b := NewTaskResultBundle(cctx)
		var inline atomic.Int64
		for range 10 {
			b.Spawn("m", func(context.Context) error {
				if goroutineID() == me {
					inline.Add(1)
				}
				return nil
			})
		}
		if err := b.Wait(); err != nil {
			return 0, err
		}
		return int(inline.Load()), nil
	})
	if n, err := root.Join(context.Background()); err != nil || n != 10 {
		t.Fatalf("%d of 10 members ran inline (err %v)", n, err)
	}
	checkWorkers(t, e)
}

// TestJoinInlineTwoJoiners: of two tasks that join the same queued task,
// one runs it inline and the other waits for it to end; both get its
// result.
func TestJoinInlineTwoJoiners(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	var runs atomic.Int64
	root := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		// The second worker is busy until both joiners are in place, so
		// the shared task stays queued.
		gate := make(chan struct{})
		busy := Spawn(ctx, func(context.Context) (int, error) { <-gate; return 0, nil })
		var shared *JoinHandle[int]
		other := Spawn(ctx, func(ctx context.Context) (int, error) { return shared.Join(ctx) })
		shared = Spawn(ctx, func(context.Context) (int, error) { runs.Add(1); return 42, nil })
		// busy ends and other, queued ahead of shared, takes its worker:
		// whichever of other and this task joins first runs shared.
		close(gate)
		v1, err := shared.Join(ctx)
		if err != nil {
			return 0, err
		}
		v2, err := other.Join(ctx)
		if err != nil {
			return 0, err
		}
		if _, err := busy.Join(ctx); err != nil {
			return 0, err
		}
		return v1 + v2, nil
	})
	if v, err := root.Join(context.Background()); v != 84 || err != nil {
		t.Fatalf("root = %v, %v; want 84", v, err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the shared task ran %d times", n)
	}
	checkWorkers(t, e)
}

// TestJoinInlinePanicCrashNamesTheTask: without RecoverPanics, a task run
// inline that panics crashes the process naming it, as it would on a
// goroutine of its own, and does not report its joiner, which did not
// panic, as panicking too.
func TestJoinInlinePanicCrashNamesTheTask(t *testing.T) {
	stdout, stderr, code := child(t, "inline-panic")
	if code != 2 || strings.Contains(stdout, "survived") {
		t.Fatalf("exit code %d, stdout %q; want a crash (2)", code, stdout)
	}
	for _, want := range []string{"task doomed panicked", "panic: kaboom"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "task joiner panicked") {
		head, _, _ := strings.Cut(stderr, "\ngoroutine ")
		t.Errorf("stderr reports the joiner, which did not panic, as panicking:\n%s", head)
	}
}
