package executor

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Benchmarks of the task-aware primitives against their anchors in the same
// run: sync.Mutex and channels (golang.org/x/sync/semaphore is compared in
// the bench module, bench/syncbench, to keep x/sync out of this module).
//
//	go test -run '^$' -bench 'Mutex|SemaphoreVsChan|Chan' -benchmem -count 5 .
//
// Sub-benchmarks named "executor" use this package; the others are the
// anchor. Ratios, not absolute figures, are the result.

// BenchmarkMutex: uncontended Lock/Unlock, and contended from parallel
// goroutines (b.RunParallel, GOMAXPROCS goroutines, an empty critical
// section). Under contention sync.Mutex lets a running goroutine barge in;
// Mutex hands the lock to the longest waiter, which must be woken first, so
// it trades throughput for its FIFO guarantee.
func BenchmarkMutex(b *testing.B) {
	ctx := context.Background()
	b.Run("uncontended/executor", func(b *testing.B) {
		var mu Mutex
		n := 0
		for b.Loop() {
			mu.Lock(ctx)
			n++
			mu.Unlock()
		}
	})
	b.Run("uncontended/sync", func(b *testing.B) {
		var mu sync.Mutex
		n := 0
		for b.Loop() {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	b.Run("contended/executor", func(b *testing.B) {
		var mu Mutex
		n := 0
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock(ctx)
				n++
				mu.Unlock()
			}
		})
	})
	b.Run("contended/sync", func(b *testing.B) {
		var mu sync.Mutex
		n := 0
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	})
}

// BenchmarkMutexHandoff measures the contended hand-off latency. Two
// contenders take turns, and each holds the lock until the other is queued
// for it, so that every Unlock hands the lock to a blocked waiter. One op is
// one hand-off: from the Unlock to the waiter's return from Lock, plus the
// unlocker queueing behind it. sync.Mutex has no counterpart (it lets the
// unlocker barge back in); the anchor is the cost of waking a blocked
// goroutine, a value passed back and forth over unbuffered channels (one op
// is one pass).
//
//   - goroutines/executor: two plain goroutines.
//   - goroutines/chan: the anchor.
//   - tasks-1worker/executor: two tasks on a 1-worker executor; each
//     hand-off also moves the worker from one task to the other.
//   - tasks-2workers/executor: two tasks on 2 workers: a hand-off plus the
//     waiter queueing for a (free) worker.
func BenchmarkMutexHandoff(b *testing.B) {
	// contend runs two contenders, each doing half the hand-offs. wait is
	// how a holder waits for the other to queue: Gosched for goroutines,
	// Yield for tasks (so that, on one worker, the other can run).
	contend := func(b *testing.B, spawn func(func(ctx context.Context)) func(), wait func(ctx context.Context)) {
		var mu Mutex
		var finished atomic.Int32
		n := b.N / 2
		body := func(ctx context.Context) {
			for range n {
				mu.Lock(ctx)
				// Hold until the other is queued, unless it is done.
				for mu.state.Load() != mutexLockedWaiters && finished.Load() == 0 {
					wait(ctx)
				}
				mu.Unlock()
			}
			finished.Add(1)
		}
		w1, w2 := spawn(body), spawn(body)
		w1()
		w2()
	}
	goroutine := func(fn func(ctx context.Context)) func() {
		done := make(chan struct{})
		go func() { fn(context.Background()); close(done) }()
		return func() { <-done }
	}
	onExecutor := func(b *testing.B, workers int) func(func(ctx context.Context)) func() {
		e := newExecutor(b, Options{Workers: workers})
		return func(fn func(ctx context.Context)) func() {
			h := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) { fn(ctx); return struct{}{}, nil })
			return func() { h.Join(context.Background()) }
		}
	}
	b.Run("goroutines/executor", func(b *testing.B) {
		contend(b, goroutine, func(context.Context) { runtime.Gosched() })
	})
	b.Run("goroutines/chan", func(b *testing.B) {
		ping, pong := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		go func() {
			for range pong {
				ping <- struct{}{}
			}
			close(done)
		}()
		for i := 0; i < b.N; i += 2 {
			pong <- struct{}{}
			<-ping
		}
		close(pong)
		<-done
	})
	b.Run("tasks-1worker/executor", func(b *testing.B) {
		contend(b, onExecutor(b, 1), Yield)
	})
	b.Run("tasks-2workers/executor", func(b *testing.B) {
		contend(b, onExecutor(b, 2), Yield)
	})
}

// BenchmarkSemaphoreVsChan compares Semaphore with the channel idiom for a
// counting semaphore (a buffered chan struct{}): uncontended, and contended
// from parallel goroutines with 1 permit (GOMAXPROCS goroutines).
func BenchmarkSemaphoreVsChan(b *testing.B) {
	ctx := context.Background()
	b.Run("uncontended/executor", func(b *testing.B) {
		s := NewSemaphore(4)
		for b.Loop() {
			s.Acquire(ctx, 1)
			s.Release(1)
		}
	})
	b.Run("uncontended/chan", func(b *testing.B) {
		s := make(chan struct{}, 4)
		for b.Loop() {
			s <- struct{}{}
			<-s
		}
	})
	b.Run("contended/executor", func(b *testing.B) {
		s := NewSemaphore(1)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Acquire(ctx, 1)
				s.Release(1)
			}
		})
	})
	b.Run("contended/chan", func(b *testing.B) {
		s := make(chan struct{}, 1)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s <- struct{}{}
				<-s
			}
		})
	})
}

// BenchmarkChan: Send and Recv against bare channel operations. "ready" is
// the fast path (a buffered channel with room or a value); "pingpong" passes
// a value back and forth over unbuffered channels between two goroutines
// (one op is one pass), and between two tasks on one worker, where bare
// channel operations would deadlock.
func BenchmarkChan(b *testing.B) {
	ctx := context.Background()
	b.Run("ready/executor", func(b *testing.B) {
		ch := make(chan int, 1)
		for b.Loop() {
			Send(ctx, ch, 1)
			Recv(ctx, ch)
		}
	})
	b.Run("ready/chan", func(b *testing.B) {
		ch := make(chan int, 1)
		for b.Loop() {
			ch <- 1
			<-ch
		}
	})
	pingpong := func(b *testing.B, spawn func(func(ctx context.Context)) func(), send func(context.Context, chan int, int), recv func(context.Context, chan int) int) {
		ping, pong := make(chan int), make(chan int)
		n := b.N / 2
		wait := spawn(func(ctx context.Context) {
			for range n {
				send(ctx, pong, recv(ctx, ping))
			}
		})
		wait2 := spawn(func(ctx context.Context) {
			for i := range n {
				send(ctx, ping, i)
				recv(ctx, pong)
			}
		})
		wait()
		wait2()
	}
	goroutine := func(fn func(ctx context.Context)) func() {
		done := make(chan struct{})
		go func() { fn(ctx); close(done) }()
		return func() { <-done }
	}
	helperSend := func(ctx context.Context, ch chan int, v int) { Send(ctx, ch, v) }
	helperRecv := func(ctx context.Context, ch chan int) int { v, _, _ := Recv(ctx, ch); return v }
	b.Run("pingpong/executor", func(b *testing.B) {
		pingpong(b, goroutine, helperSend, helperRecv)
	})
	b.Run("pingpong/chan", func(b *testing.B) {
		pingpong(b, goroutine,
			func(_ context.Context, ch chan int, v int) { ch <- v },
			func(_ context.Context, ch chan int) int { return <-ch })
	})
	b.Run("pingpong-tasks-1worker/executor", func(b *testing.B) {
		e := newExecutor(b, Options{Workers: 1})
		task := func(fn func(ctx context.Context)) func() {
			h := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) { fn(ctx); return struct{}{}, nil })
			return func() { h.Join(context.Background()) }
		}
		pingpong(b, task, helperSend, helperRecv)
	})
}
