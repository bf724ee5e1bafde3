package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	code := m.Run()
	// The default executor lives as long as the process; stop its driver
	// so that every goroutine still running is a leak.
	defaultExecutor.mu.Lock()
	if e := defaultExecutor.e; e != nil {
		e.stopDriver()
	}
	defaultExecutor.mu.Unlock()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func newExecutor(t testing.TB, opts Options) *Executor {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{Workers: -1},
		{ShutdownGrace: -time.Second},
		{Backend: "epoll"},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", opts)
		}
	}
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Workers() < 1 {
		t.Errorf("Workers() = %d with the zero Options", e.Workers())
	}
}

func TestSpawnJoin(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 123, nil })
	v, err := h.Join(context.Background())
	if v != 123 || err != nil {
		t.Fatalf("Join = %v, %v; want 123, nil", v, err)
	}
	errBoom := errors.New("boom")
	h2 := Spawn(e.Context(), func(ctx context.Context) (string, error) { return "", errBoom }, WithName("boomer"))
	if _, err := h2.Join(context.Background()); err != errBoom {
		t.Fatalf("Join error = %v; want the task's own error", err)
	}
	if h2.Name() != "boomer" {
		t.Errorf("Name() = %q", h2.Name())
	}
	<-h2.Done()
}

// TestWorkersBound runs many tasks that compute, sleep, yield, block and join,
// and checks that no more than Workers ever held a worker at once, while
// all of them were in flight together.
func TestWorkersBound(t *testing.T) {
	const workers, tasks = 3, 200
	e := newExecutor(t, Options{Workers: workers})
	var running, maxSeen atomic.Int64
	var inFlight sync.WaitGroup
	inFlight.Add(tasks)
	release := make(chan struct{})
	compute := func() {
		n := running.Add(1)
		for {
			m := maxSeen.Load()
			if n <= m || maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		for i := 0; i < 1000; i++ {
			_ = i * i
		}
		running.Add(-1)
	}
	var hs []*JoinHandle[int]
	for i := 0; i < tasks; i++ {
		hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (int, error) {
			compute()
			inFlight.Done()
			// Every task waits here until all have started: only possible if
			// each one gives its worker up while it waits.
			if _, err := Block(ctx, func() (struct{}, error) { <-release; return struct{}{}, nil }); err != nil {
				return 0, err
			}
			compute()
			if err := Sleep(ctx, time.Millisecond); err != nil {
				return 0, err
			}
			compute()
			Yield(ctx)
			compute()
			sub := Spawn(ctx, func(ctx context.Context) (int, error) { compute(); return 1, nil })
			v, err := sub.Join(ctx)
			compute()
			return v, err
		}))
	}
	inFlight.Wait()
	close(release)
	for _, h := range hs {
		if v, err := h.Join(context.Background()); v != 1 || err != nil {
			t.Fatalf("Join = %v, %v", v, err)
		}
	}
	st := e.Stats()
	if st.MaxRunning > workers || maxSeen.Load() > workers {
		t.Errorf("MaxRunning = %d, observed %d; want at most %d", st.MaxRunning, maxSeen.Load(), workers)
	}
	if st.Spawned != 2*tasks || st.Completed != 2*tasks {
		t.Errorf("Spawned = %d, Completed = %d; want %d each", st.Spawned, st.Completed, 2*tasks)
	}
	if st.Running != 0 || st.Runnable != 0 || st.Waiting != 0 {
		t.Errorf("after all tasks ended: %+v", st)
	}
}

// TestFIFO checks that tasks queued for the single worker get it in the
// order they queued, both when spawned and when they come back from a wait.
func TestFIFO(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var mu sync.Mutex
	var order []int
	record := func(i int) { mu.Lock(); order = append(order, i); mu.Unlock() }

	gate := make(chan struct{})
	// The blocker holds the only worker until every task below is queued.
	blocker := Spawn(e.Context(), func(ctx context.Context) (int, error) { <-gate; return 0, nil })
	waitFor(t, func() bool { return e.Stats().Running == 1 })
	const n = 20
	var hs []*JoinHandle[int]
	for i := 0; i < n; i++ {
		hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (int, error) {
			record(i)
			Yield(ctx) // back of the queue: every task runs its first part first
			record(n + i)
			return 0, nil
		}))
		waitFor(t, func() bool { return e.Stats().Runnable == int64(i+1) })
	}
	close(gate)
	blocker.Join(context.Background())
	for _, h := range hs {
		h.Join(context.Background())
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("run order = %v; want 0..%d in order", order, 2*n-1)
		}
	}
}

// TestJoinOnOneWorker: a task joining another in a 1-worker executor
// completes, to any depth.
func TestJoinOnOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var fib func(ctx context.Context, n int) (int, error)
	fib = func(ctx context.Context, n int) (int, error) {
		if n < 2 {
			return n, nil
		}
		a := Spawn(ctx, func(ctx context.Context) (int, error) { return fib(ctx, n-1) })
		b := Spawn(ctx, func(ctx context.Context) (int, error) { return fib(ctx, n-2) })
		x, err := a.Join(ctx)
		if err != nil {
			return 0, err
		}
		y, err := b.Join(ctx)
		return x + y, err
	}
	v, err := Spawn(e.Context(), func(ctx context.Context) (int, error) { return fib(ctx, 12) }).Join(context.Background())
	if v != 144 || err != nil {
		t.Fatalf("fib(12) = %v, %v; want 144", v, err)
	}
	if m := e.Stats().MaxRunning; m != 1 {
		t.Errorf("MaxRunning = %d; want 1", m)
	}
}

type ctxKeyT string

func TestTaskContextKeepsValuesNotCancellation(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	parent, cancel := context.WithCancel(context.WithValue(e.Context(), ctxKeyT("k"), "v"))
	deadlined, cancel2 := context.WithTimeout(parent, time.Hour)
	defer cancel2()
	cancel()
	h := Spawn(deadlined, func(ctx context.Context) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if _, ok := ctx.Deadline(); ok {
			return "", errors.New("task context has a deadline")
		}
		if ctx.Done() != nil {
			return "", errors.New("task context can be cancelled")
		}
		if got, ok := FromContext(ctx); !ok || got != e {
			return "", errors.New("task context is not bound to its executor")
		}
		return ctx.Value(ctxKeyT("k")).(string), nil
	})
	if v, err := h.Join(context.Background()); v != "v" || err != nil {
		t.Fatalf("Join = %q, %v; want \"v\", nil", v, err)
	}
}

func TestSpawnWithoutExecutorUsesDefault(t *testing.T) {
	var got *Executor
	v, err := Spawn(context.Background(), func(ctx context.Context) (int, error) {
		got, _ = FromContext(ctx)
		return 7, nil
	}).Join(context.Background())
	if v != 7 || err != nil {
		t.Fatalf("Join = %v, %v", v, err)
	}
	if got != Default() {
		t.Fatalf("task ran on %p; want the default executor %p", got, Default())
	}
}

// TestNeverCancelled: neither a dropped handle, nor the spawner's cancelled
// context, nor a Join that gave up stops a task.
func TestNeverCancelled(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	finished := make(chan string, 3)
	proceed := make(chan struct{})
	body := func(name string) func(ctx context.Context) (int, error) {
		return func(ctx context.Context) (int, error) {
			Block(ctx, func() (int, error) { <-proceed; return 0, nil })
			if err := Sleep(ctx, time.Millisecond); err != nil {
				return 0, err
			}
			finished <- name
			return 0, nil
		}
	}
	// Dropped handle.
	Spawn(e.Context(), body("dropped"))
	// Spawner's context cancelled.
	spawnCtx, cancel := context.WithCancel(e.Context())
	Spawn(spawnCtx, body("spawner-cancelled"))
	cancel()
	// Join gives up.
	joinCtx, cancelJoin := context.WithCancel(context.Background())
	h := Spawn(e.Context(), body("join-cancelled"))
	cancelJoin()
	if _, err := h.Join(joinCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Join with a cancelled ctx = %v; want context.Canceled", err)
	}
	close(proceed)
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		got[<-finished] = true
	}
	if len(got) != 3 {
		t.Fatalf("finished: %v", got)
	}
	if _, err := h.Join(context.Background()); err != nil {
		t.Fatalf("second Join = %v", err)
	}
}

// TestWaitsReleaseTheWorker: on one worker, a task in each kind of wait lets
// another task run.
func TestWaitsReleaseTheWorker(t *testing.T) {
	waits := map[string]func(ctx context.Context, other <-chan struct{}) error{
		"Sleep": func(ctx context.Context, other <-chan struct{}) error {
			for {
				select {
				case <-other:
					return nil
				default:
				}
				if err := Sleep(ctx, time.Millisecond); err != nil {
					return err
				}
			}
		},
		"Yield": func(ctx context.Context, other <-chan struct{}) error {
			for {
				select {
				case <-other:
					return nil
				default:
				}
				Yield(ctx)
			}
		},
		"Block": func(ctx context.Context, other <-chan struct{}) error {
			_, err := Block(ctx, func() (int, error) { <-other; return 0, nil })
			return err
		},
		"Join": func(ctx context.Context, other <-chan struct{}) error {
			// The joined task can start only if Join gives the worker up.
			h := Spawn(ctx, func(ctx context.Context) (int, error) {
				return Block(ctx, func() (int, error) { <-other; return 0, nil })
			})
			_, err := h.Join(ctx)
			return err
		},
	}
	for name, wait := range waits {
		t.Run(name, func(t *testing.T) {
			e := newExecutor(t, Options{Workers: 1})
			other := make(chan struct{})
			started := make(chan struct{})
			waiter := Spawn(e.Context(), func(ctx context.Context) (int, error) {
				close(started)
				return 0, wait(ctx, other)
			})
			// The waiter takes the worker first; the task below can only
			// run if the waiter gives it up.
			<-started
			Spawn(e.Context(), func(ctx context.Context) (int, error) { close(other); return 0, nil })
			if _, err := waiter.Join(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSleep(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	ctx, cancel := context.WithCancel(e.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep with a cancelled ctx = %v", err)
	}
	if err := Sleep(e.Context(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
	tok := NewCancellationToken()
	h := Spawn(e.Context(), func(ctx context.Context) (error, error) {
		return Sleep(tok.Bind(ctx), time.Hour), nil
	})
	waitFor(t, func() bool { return e.Stats().Waiting == 1 })
	tok.Cancel()
	if err, _ := h.Join(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep cancelled by a token = %v", err)
	}
	start := time.Now()
	if err := Sleep(e.Context(), 5*time.Millisecond); err != nil || time.Since(start) < 5*time.Millisecond {
		t.Fatalf("Sleep(5ms) = %v after %v", err, time.Since(start))
	}
}

// TestForeignGoroutineWaits: a task's context handed to plain goroutines that
// wait with it loses no worker and takes none twice.
func TestForeignGoroutineWaits(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	for round := 0; round < 50; round++ {
		h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					Sleep(ctx, time.Microsecond)
					Yield(ctx)
					Block(ctx, func() (int, error) { return 0, nil })
					Spawn(ctx, func(ctx context.Context) (int, error) { return 0, nil }).Join(ctx)
				}()
			}
			Yield(ctx)
			Sleep(ctx, time.Microsecond)
			if round%2 == 0 {
				wg.Wait() // return while the goroutines may still be waiting
			}
			return 0, nil
		})
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Every worker must be free again: with both taken, these would hang.
	for i := 0; i < 4; i++ {
		Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, nil }).Join(context.Background())
	}
	waitFor(t, func() bool { st := e.Stats(); return st.Running == 0 && st.Waiting == 0 })
	if m := e.Stats().MaxRunning; m > 2 {
		t.Errorf("MaxRunning = %d", m)
	}
}

func TestShutdown(t *testing.T) {
	e, err := New(Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	running := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		Block(ctx, func() (int, error) { <-release; return 0, nil })
		return 1, nil
	})
	waitFor(t, func() bool { return e.Stats().Waiting == 1 })
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := e.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a task running = %v; want DeadlineExceeded", err)
	}
	refused := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 2, nil }, WithName("late"))
	if _, err := refused.Join(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join of a task spawned after Shutdown = %v; want ErrClosed", err)
	}
	close(release)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, err := running.Join(context.Background()); v != 1 || err != nil {
		t.Fatalf("the running task ended with %v, %v", v, err)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

func TestRecoveredPanic(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1, RecoverPanics: true})
	errInner := errors.New("inner")
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) { panic(errInner) }, WithName("p"))
	_, err := h.Join(context.Background())
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Task != "p" || len(pe.Stack) == 0 || !errors.Is(err, errInner) {
		t.Fatalf("Join = %v; want a *PanicError wrapping the panic value", err)
	}
	if st := e.Stats(); st.Panicked != 1 || st.Running != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	// The worker was given back.
	if v, err := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 5, nil }).Join(context.Background()); v != 5 || err != nil {
		t.Fatalf("after a panic: %v, %v", v, err)
	}
}

func TestGoexit(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		Block(ctx, func() (int, error) { return 0, nil })
		runtime.Goexit()
		return 1, nil
	})
	if _, err := h.Join(context.Background()); !errors.Is(err, ErrGoexit) {
		t.Fatalf("Join = %v; want ErrGoexit", err)
	}
	if v, _ := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 5, nil }).Join(context.Background()); v != 5 {
		t.Fatal("worker lost after Goexit")
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// bound. It waits for the scheduler to reach a state; it times nothing.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestQueuedTasksCostNoGoroutine: tasks waiting for a worker before they
// ever ran are records in the queue, not parked goroutines, and they run on
// the goroutines of the tasks that finish before them.
func TestQueuedTasksCostNoGoroutine(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	gate := make(chan struct{})
	blocker := Spawn(e.Context(), func(ctx context.Context) (int, error) { <-gate; return 0, nil })
	waitFor(t, func() bool { return e.Stats().Running == 1 })
	before := runtime.NumGoroutine()
	const n = 10_000
	hs := make([]*JoinHandle[int], n)
	for i := range hs {
		hs[i] = Spawn(e.Context(), func(ctx context.Context) (int, error) { return i, nil })
	}
	if st := e.Stats(); st.Runnable != n {
		t.Fatalf("Runnable = %d; want %d", st.Runnable, n)
	}
	if g := runtime.NumGoroutine(); g > before+10 {
		t.Fatalf("%d goroutines for %d queued tasks (before: %d)", g, n, before)
	}
	close(gate)
	blocker.Join(context.Background())
	for i, h := range hs {
		if v, err := h.Join(context.Background()); v != i || err != nil {
			t.Fatalf("task %d: %v, %v", i, v, err)
		}
	}
}

// TestUnjoinedPanicLogged: a recovered panic whose handle is dropped
// unjoined is logged once the handle is collected; one that a Join
// returned is not.
func TestUnjoinedPanicLogged(t *testing.T) {
	var mu sync.Mutex
	var log strings.Builder
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return log.Write(p)
	}), nil))
	e := newExecutor(t, Options{Workers: 1, RecoverPanics: true, Logger: logger})
	func() {
		dropped := Spawn(e.Context(), func(ctx context.Context) (int, error) { panic("dropped") }, WithName("dropped"))
		joined := Spawn(e.Context(), func(ctx context.Context) (int, error) { panic("joined") }, WithName("joined"))
		<-dropped.Done()
		if _, err := joined.Join(context.Background()); err == nil {
			t.Error("Join of a panicked task returned no error")
		}
	}()
	logged := func(task string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(log.String(), "task="+task)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !logged("dropped") {
		if time.Now().After(deadline) {
			t.Fatal("the panic of a dropped handle was never logged")
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	for range 5 { // the joined handle was dropped at the same time
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if logged("joined") {
		t.Errorf("a joined panic was logged as unjoined:\n%s", log.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
