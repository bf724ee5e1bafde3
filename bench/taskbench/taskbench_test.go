package taskbench

import (
	"context"
	"io"
	"runtime"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/executor-go/executor"
	"github.com/panjf2000/ants/v2"
	"golang.org/x/sync/errgroup"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs the benchmark body and reports CPU time per op beside the
// wall time that the testing package reports.
func measure(b *testing.B, body func()) {
	b.ReportAllocs()
	runtime.GC()
	start := cpuTime()
	b.ResetTimer()
	body()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

const batch = 1000 // tasks in flight at once in the spawn benchmarks

func work() int { // a few hundred ns of computation, the same in every variant
	s := 0
	for i := range 100 {
		s += i * i
	}
	return s
}

var sink atomic.Int64

// traced runs body with the runtime's execution trace on (written to
// io.Discard), to measure what tracing costs: each task is then a trace
// task and each wait a region.
func traced(b *testing.B, body func()) {
	if err := trace.Start(io.Discard); err != nil {
		b.Skipf("trace.Start: %v", err)
	}
	defer trace.Stop()
	body()
}

// BenchmarkSpawnJoin: start tasks in batches and wait for each batch, one op
// per task.
func BenchmarkSpawnJoin(b *testing.B) {
	spawnJoin := func(b *testing.B) {
		e, _ := executor.New(executor.Options{})
		defer e.Shutdown(context.Background())
		ctx := e.Context()
		hs := make([]*executor.JoinHandle[int], 0, batch)
		measure(b, func() {
			for n := 0; n < b.N; {
				hs = hs[:0]
				for ; len(hs) < batch && n < b.N; n++ {
					hs = append(hs, executor.Spawn(ctx, func(context.Context) (int, error) { return work(), nil }))
				}
				for _, h := range hs {
					v, _ := h.Join(ctx)
					sink.Add(int64(v))
				}
			}
		})
	}
	b.Run("executor", spawnJoin)
	b.Run("executor-traced", func(b *testing.B) { traced(b, func() { spawnJoin(b) }) })
	b.Run("goroutines+WaitGroup", func(b *testing.B) {
		measure(b, func() {
			var wg sync.WaitGroup
			for n := 0; n < b.N; {
				for i := 0; i < batch && n < b.N; i, n = i+1, n+1 {
					wg.Add(1)
					go func() { defer wg.Done(); sink.Add(int64(work())) }()
				}
				wg.Wait()
			}
		})
	})
	b.Run("errgroup", func(b *testing.B) {
		measure(b, func() {
			for n := 0; n < b.N; {
				var g errgroup.Group
				for i := 0; i < batch && n < b.N; i, n = i+1, n+1 {
					g.Go(func() error { sink.Add(int64(work())); return nil })
				}
				g.Wait()
			}
		})
	})
	b.Run("errgroup-limit", func(b *testing.B) { // the same bound on parallelism as the executor
		measure(b, func() {
			for n := 0; n < b.N; {
				var g errgroup.Group
				g.SetLimit(runtime.GOMAXPROCS(0))
				for i := 0; i < batch && n < b.N; i, n = i+1, n+1 {
					g.Go(func() error { sink.Add(int64(work())); return nil })
				}
				g.Wait()
			}
		})
	})
	b.Run("ants", func(b *testing.B) {
		pool, err := ants.NewPool(runtime.GOMAXPROCS(0))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Release()
		measure(b, func() {
			var wg sync.WaitGroup
			for n := 0; n < b.N; {
				for i := 0; i < batch && n < b.N; i, n = i+1, n+1 {
					wg.Add(1)
					pool.Submit(func() { defer wg.Done(); sink.Add(int64(work())) })
				}
				wg.Wait()
			}
		})
	})
}

// BenchmarkPingPong: two tasks on one worker hand it to each other with
// Yield, against two goroutines handing a token over unbuffered channels.
// One op is one hand-off (half a round trip).
func BenchmarkPingPong(b *testing.B) {
	yield := func(b *testing.B) {
		e, _ := executor.New(executor.Options{Workers: 1})
		defer e.Shutdown(context.Background())
		measure(b, func() {
			// Both players are queued before either runs, so each Yield
			// finds the other waiting and hands the worker over.
			start := executor.NewCancellationToken()
			player := func(ctx context.Context) (int, error) {
				executor.Sleep(start.Bind(ctx), time.Hour) // returns when start is cancelled
				for i := 0; i < b.N/2; i++ {
					executor.Yield(ctx)
				}
				return 0, nil
			}
			h1 := executor.Spawn(e.Context(), player)
			h2 := executor.Spawn(e.Context(), player)
			for e.Stats().Waiting < 2 {
				runtime.Gosched()
			}
			start.Cancel()
			h1.Join(context.Background())
			h2.Join(context.Background())
		})
	}
	b.Run("executor-Yield", yield)
	b.Run("executor-Yield-traced", func(b *testing.B) { traced(b, func() { yield(b) }) })
	b.Run("executor-Join", func(b *testing.B) {
		// A task spawns a child and joins it: the worker goes to the child
		// and comes back, two hand-offs per op pair.
		e, _ := executor.New(executor.Options{Workers: 1})
		defer e.Shutdown(context.Background())
		measure(b, func() {
			executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
				for i := 0; i < b.N/2; i++ {
					executor.Spawn(ctx, func(context.Context) (int, error) { return 0, nil }).Join(ctx)
				}
				return 0, nil
			}).Join(context.Background())
		})
	})
	b.Run("goroutines-chan", func(b *testing.B) {
		measure(b, func() {
			ping, pong := make(chan struct{}), make(chan struct{})
			done := make(chan struct{})
			go func() {
				for range ping {
					pong <- struct{}{}
				}
				close(done)
			}()
			for i := 0; i < b.N/2; i++ {
				ping <- struct{}{}
				<-pong
			}
			close(ping)
			<-done
		})
	})
}

// BenchmarkSleepers: memory per task for 100,000 tasks asleep, against
// 100,000 goroutines in time.Sleep. One op is one whole round of 100,000.
func BenchmarkSleepers(b *testing.B) {
	const n = 100_000
	const nap = 300 * time.Millisecond
	inUse := func() uint64 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse + ms.StackInuse + ms.MSpanInuse
	}
	round := func(b *testing.B, start func(asleep *atomic.Int64, wg *sync.WaitGroup)) {
		var total uint64
		measure(b, func() {
			for range b.N {
				runtime.GC()
				before := inUse()
				var asleep atomic.Int64
				var wg sync.WaitGroup
				wg.Add(n)
				start(&asleep, &wg)
				for asleep.Load() < n {
					time.Sleep(time.Millisecond)
				}
				total += inUse() - before
				wg.Wait()
			}
		})
		b.ReportMetric(float64(total)/float64(b.N*n), "bytes/task")
	}
	b.Run("executor-Sleep", func(b *testing.B) {
		e, _ := executor.New(executor.Options{})
		defer e.Shutdown(context.Background())
		round(b, func(asleep *atomic.Int64, wg *sync.WaitGroup) {
			for range n {
				executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
					defer wg.Done()
					asleep.Add(1)
					return 0, executor.Sleep(ctx, nap)
				})
			}
		})
	})
	b.Run("goroutines-time.Sleep", func(b *testing.B) {
		round(b, func(asleep *atomic.Int64, wg *sync.WaitGroup) {
			for range n {
				go func() {
					defer wg.Done()
					asleep.Add(1)
					time.Sleep(nap)
				}()
			}
		})
	})
}
