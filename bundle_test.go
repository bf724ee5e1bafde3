package executor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestBundleAllSucceed(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	b := NewTaskResultBundle(e.Context())
	var sum atomic.Int64
	for i := 1; i <= 10; i++ {
		b.Spawn(fmt.Sprint("m", i), func(ctx context.Context) error {
			if err := Sleep(ctx, time.Millisecond); err != nil {
				return err
			}
			sum.Add(int64(i))
			return nil
		})
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	if sum.Load() != 55 {
		t.Fatalf("sum = %d; some member did not run", sum.Load())
	}
	if b.Token().IsCancelled() {
		t.Fatal("token tripped without a failure")
	}
}

// TestBundleFirstFailure: the first failure trips the token, members see it,
// Wait returns only after every member ended, and reports every failure.
func TestBundleFirstFailure(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1}) // members run side by side even on one worker
	b := NewTaskResultBundle(e.Context())
	errDB := errors.New("db down")
	var ended atomic.Int64
	for i := 0; i < 3; i++ {
		b.Spawn(fmt.Sprint("watcher", i), func(ctx context.Context) error {
			defer ended.Add(1)
			// Sleep gives the worker up until the token trips.
			if err := Sleep(ctx, time.Hour); err == nil {
				return errors.New("slept an hour")
			}
			return fmt.Errorf("watcher stopped: %w", context.Cause(ctx))
		})
	}
	b.Spawn("db", func(ctx context.Context) error { defer ended.Add(1); return errDB })
	err := b.Wait()
	if ended.Load() != 4 {
		t.Fatalf("Wait returned with %d of 4 members ended", ended.Load())
	}
	var te *TaskError
	if !errors.As(err, &te) || te.Task != "db" || !errors.Is(err, errDB) {
		t.Fatalf("Wait = %v; want the db failure first", err)
	}
	if len(te.Others) != 3 {
		t.Fatalf("Others = %v; want the three watchers", te.Others)
	}
	for _, o := range te.Others {
		if !errors.Is(o, errDB) {
			t.Errorf("a watcher did not see the failure as its cause: %v", o)
		}
	}
	if !b.Token().IsCancelled() {
		t.Fatal("token not tripped")
	}
}

// TestBundleErrorsReachEveryFailure: errors.Is and errors.As reach the
// failures after the first.
func TestBundleErrorsReachEveryFailure(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	b := NewTaskResultBundle(e.Context())
	errA, errB := errors.New("a"), errors.New("b")
	first := make(chan struct{})
	b.Spawn("a", func(ctx context.Context) error { defer close(first); return errA })
	b.Spawn("b", func(ctx context.Context) error {
		<-first
		<-ctx.Done()
		return errB
	})
	err := b.Wait()
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Fatalf("Wait = %v; want both failures reachable", err)
	}
	if got := err.Error(); got != `task "a": a (and 1 more failure: task "b": b)` {
		t.Fatalf("Error() = %q", got)
	}
}

func TestBundlePanicPolicy(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2, RecoverPanics: true})
	b := NewTaskResultBundle(e.Context())
	b.Spawn("panicker", func(ctx context.Context) error { panic("oops") })
	b.Spawn("patient", func(ctx context.Context) error { Sleep(ctx, time.Hour); return nil })
	err := b.Wait()
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Task != "panicker" {
		t.Fatalf("Wait = %v; want the member's *PanicError", err)
	}
}

// TestBundleFollowsItsContext: cancelling the bundle's context trips its
// token, for a token parent and for a plain cancellable context.
func TestBundleFollowsItsContext(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	parents := map[string]func() (context.Context, func()){
		"token": func() (context.Context, func()) {
			tok := NewCancellationToken()
			return tok, tok.Cancel
		},
		"context": func() (context.Context, func()) {
			return context.WithCancel(e.Context())
		},
	}
	for name, mk := range parents {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := mk()
			b := NewTaskResultBundle(ctx)
			b.Spawn("loop", func(ctx context.Context) error {
				for {
					if err := Sleep(ctx, time.Millisecond); err != nil {
						return nil // stopped as asked: not a failure
					}
				}
			})
			cancel()
			if err := b.Wait(); err != nil {
				t.Fatal(err)
			}
			if !b.Token().IsCancelled() {
				t.Fatal("token not tripped by its context")
			}
		})
	}
}

// TestBundleWaitInsideTask: a task waiting on a bundle gives its worker up.
func TestBundleWaitInsideTask(t *testing.T) {
	err := Run(Options{Workers: 1}, func(ctx context.Context) error {
		b := NewTaskResultBundle(ctx)
		for i := 0; i < 5; i++ {
			b.Spawn(fmt.Sprint(i), func(ctx context.Context) error { return Sleep(ctx, time.Millisecond) })
		}
		return b.Wait()
	})
	if err != nil {
		t.Fatal(err)
	}
}
