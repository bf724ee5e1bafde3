package syncbench

import (
	"context"
	"testing"

	"github.com/executor-go/executor"
	"golang.org/x/sync/semaphore"
)

// sem is what both semaphores offer.
type sem interface {
	Acquire(ctx context.Context, n int64) error
	TryAcquire(n int64) bool
	Release(n int64)
}

var impls = []struct {
	name string
	new  func(n int64) sem
}{
	{"executor", func(n int64) sem { return executor.NewSemaphore(n) }},
	{"xsync", func(n int64) sem { return semaphore.NewWeighted(n) }},
}

// BenchmarkSemaphore runs each case on executor.Semaphore and on
// x/sync's semaphore.Weighted, one after the other in the same run:
//
//   - uncontended: one goroutine, Acquire(1)/Release(1) with permits free.
//   - tryacquire: one goroutine, TryAcquire(1)/Release(1).
//   - contended-1: GOMAXPROCS goroutines (b.RunParallel) on 1 permit.
//   - contended-weighted: GOMAXPROCS goroutines on 4 permits, taking 1 to 4.
//   - tasks: 8 tasks on a 2-worker executor on 1 permit. An x/sync
//     waiter keeps its worker while it blocks; an executor waiter gives it
//     up.
//   - tasks-yield: the same, each holder yielding its worker while it
//     holds the permit (as it would at any wait: I/O, Sleep). Executor
//     only: with x/sync this deadlocks at once, the waiters holding both
//     workers and the holder queued for one ("all goroutines are asleep").
func BenchmarkSemaphore(b *testing.B) {
	ctx := context.Background()
	for _, impl := range impls {
		b.Run("uncontended/"+impl.name, func(b *testing.B) {
			s := impl.new(4)
			for b.Loop() {
				s.Acquire(ctx, 1)
				s.Release(1)
			}
		})
	}
	for _, impl := range impls {
		b.Run("tryacquire/"+impl.name, func(b *testing.B) {
			s := impl.new(4)
			for b.Loop() {
				if s.TryAcquire(1) {
					s.Release(1)
				}
			}
		})
	}
	for _, impl := range impls {
		b.Run("contended-1/"+impl.name, func(b *testing.B) {
			s := impl.new(1)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s.Acquire(ctx, 1)
					s.Release(1)
				}
			})
		})
	}
	for _, impl := range impls {
		b.Run("contended-weighted/"+impl.name, func(b *testing.B) {
			s := impl.new(4)
			b.RunParallel(func(pb *testing.PB) {
				n := int64(0)
				for pb.Next() {
					n = n%4 + 1
					s.Acquire(ctx, n)
					s.Release(n)
				}
			})
		})
	}
	for _, impl := range impls {
		b.Run("tasks/"+impl.name, func(b *testing.B) {
			runTasks(b, impl.new(1), false)
		})
	}
	b.Run("tasks-yield/executor", func(b *testing.B) {
		runTasks(b, executor.NewSemaphore(1), true)
	})
}

// runTasks runs b.N Acquire(1)/Release(1) pairs split among 8 tasks on a
// 2-worker executor; yield makes each holder Yield while it holds.
func runTasks(b *testing.B, s sem, yield bool) {
	e, err := executor.New(executor.Options{Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	const tasks = 8
	per := b.N/tasks + 1
	hs := make([]*executor.JoinHandle[struct{}], tasks)
	for i := range hs {
		hs[i] = executor.Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
			for range per {
				if err := s.Acquire(ctx, 1); err != nil {
					return struct{}{}, err
				}
				if yield {
					executor.Yield(ctx)
				}
				s.Release(1)
			}
			return struct{}{}, nil
		})
	}
	for _, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
