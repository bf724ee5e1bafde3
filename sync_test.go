package executor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests of the task-aware synchronization primitives. Nothing here
// asserts a duration: the tests wait for states (queue lengths, the
// scheduler's counters) and check invariants.

// queueLen returns how many waiters are queued, read under the owner's lock.
func queueLen(mu *sync.Mutex, q *waitQueue) int {
	mu.Lock()
	defer mu.Unlock()
	n := 0
	for w := q.head; w != nil; w = w.next {
		n++
	}
	return n
}

// checkMutex checks m's invariants at any moment: the queue is non-empty
// exactly when the state says so, and it is well linked.
func checkMutex(t testing.TB, m *Mutex) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state.Load()
	if err := checkQueue(&m.q); err != nil {
		t.Errorf("Mutex queue: %v", err)
	}
	if (s == mutexLockedWaiters) == m.q.empty() {
		t.Errorf("Mutex state %d with empty queue = %v", s, m.q.empty())
	}
}

// checkSemaphore checks s's invariants at any moment: free permits within
// [0, size], the waiters flag set exactly when the queue is non-empty, and
// the head waiter not satisfiable (it would have been served).
func checkSemaphore(t testing.TB, s *Semaphore) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	free := st >> 1
	if free < 0 || free > s.size {
		t.Errorf("Semaphore free = %d, size %d", free, s.size)
	}
	if err := checkQueue(&s.q); err != nil {
		t.Errorf("Semaphore queue: %v", err)
	}
	if (st&semWaiters != 0) == s.q.empty() {
		t.Errorf("Semaphore waiters flag %v with empty queue = %v", st&semWaiters != 0, s.q.empty())
	}
	if h := s.q.head; h != nil && h.n <= free {
		t.Errorf("Semaphore head waiter wants %d with %d free", h.n, free)
	}
}

func checkQueue(q *waitQueue) error {
	var prev *waiter
	for w := q.head; w != nil; prev, w = w, w.next {
		if w.prev != prev || !w.queued {
			return fmt.Errorf("bad link at %p", w)
		}
	}
	if q.tail != prev {
		return errors.New("tail is not the last waiter")
	}
	return nil
}

// pipeIO is a real blocking read: a plain goroutine writes one byte into a
// pipe per request, and the task reads it with Block. (The io_uring File API
// is not used here; Block around a pipe read is the portable way to wait for
// a syscall with the worker given up.)
type pipeIO struct {
	r, w *os.File
	req  chan struct{}
}

func newPipeIO(t *testing.T) *pipeIO {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeIO{r: r, w: w, req: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range p.req {
			if _, err := w.Write([]byte{1}); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(p.req)
		<-done
		r.Close()
		w.Close()
	})
	return p
}

// read asks the writer for a byte and waits for it in a blocking read.
func (p *pipeIO) read(ctx context.Context) error {
	if err := Send(ctx, p.req, struct{}{}); err != nil {
		return err
	}
	_, err := Block(ctx, func() (int, error) {
		var b [1]byte
		return p.r.Read(b[:])
	})
	return err
}

// spawnN spawns n tasks running fn(ctx, i) and joins them all.
func spawnN(t *testing.T, e *Executor, n int, fn func(ctx context.Context, i int) error) {
	t.Helper()
	hs := make([]*JoinHandle[struct{}], n)
	for i := range hs {
		hs[i] = Spawn(e.Context(), func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx, i) })
	}
	for i, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
}

// maxTracker counts concurrent holders and remembers the most seen.
type maxTracker struct{ cur, max atomic.Int64 }

func (m *maxTracker) enter(n int64) int64 {
	v := m.cur.Add(n)
	for {
		old := m.max.Load()
		if v <= old || m.max.CompareAndSwap(old, v) {
			return v
		}
	}
}

func (m *maxTracker) leave(n int64) { m.cur.Add(-n) }

// TestMutexOneWorker: on one worker, 100 tasks contend for a Mutex that each
// holds across a Sleep and a blocking pipe read. With a sync.Mutex this
// deadlocks at the first waiter.
func TestMutexOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	p := newPipeIO(t)
	var mu Mutex
	var holders maxTracker
	counter := 0
	spawnN(t, e, 100, func(ctx context.Context, i int) error {
		if err := mu.Lock(ctx); err != nil {
			return err
		}
		defer mu.Unlock()
		holders.enter(1)
		defer holders.leave(1)
		c := counter
		if err := Sleep(ctx, time.Microsecond); err != nil {
			return err
		}
		if err := p.read(ctx); err != nil {
			return err
		}
		counter = c + 1
		return nil
	})
	if counter != 100 || holders.max.Load() != 1 {
		t.Fatalf("counter = %d, most holders at once = %d; want 100, 1", counter, holders.max.Load())
	}
	if m := e.Stats().MaxRunning; m != 1 {
		t.Fatalf("MaxRunning = %d", m)
	}
	checkMutex(t, &mu)
	if !mu.TryLock() {
		t.Fatal("the Mutex is still locked after every task unlocked it")
	}
}

// TestSemaphoreOneWorker: the same with a Semaphore(3): never more than 3
// holders, and everyone gets through.
func TestSemaphoreOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	p := newPipeIO(t)
	s := NewSemaphore(3)
	var holders maxTracker
	spawnN(t, e, 100, func(ctx context.Context, i int) error {
		if err := s.Acquire(ctx, 1); err != nil {
			return err
		}
		defer s.Release(1)
		if holders.enter(1) > 3 {
			return errors.New("more than 3 holders")
		}
		defer holders.leave(1)
		if err := Sleep(ctx, time.Microsecond); err != nil {
			return err
		}
		return p.read(ctx)
	})
	if m := holders.max.Load(); m < 1 || m > 3 {
		t.Fatalf("most holders at once = %d", m)
	}
	checkSemaphore(t, s)
	if !s.TryAcquire(3) {
		t.Fatal("permits lost")
	}
}

// TestEventOneWorker: 100 tasks wait for an Event on one worker; a task
// that sets it can only run if they gave the worker up.
func TestEventOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var ev Event
	var woke atomic.Int64
	hs := make([]*JoinHandle[struct{}], 0, 101)
	for range 100 {
		hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
			err := ev.Wait(ctx)
			woke.Add(1)
			return struct{}{}, err
		}))
	}
	waitFor(t, func() bool { return e.Stats().Waiting == 100 })
	if woke.Load() != 0 || ev.IsSet() {
		t.Fatal("a waiter woke before Set")
	}
	p := newPipeIO(t)
	hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
		// Sleep and a blocking read before setting, with 100 waiters parked.
		if err := Sleep(ctx, time.Microsecond); err != nil {
			return struct{}{}, err
		}
		if err := p.read(ctx); err != nil {
			return struct{}{}, err
		}
		ev.Set()
		ev.Set() // harmless
		return struct{}{}, nil
	}))
	for _, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if woke.Load() != 100 || !ev.IsSet() {
		t.Fatalf("woke = %d", woke.Load())
	}
	// A later waiter proceeds at once, even with a cancelled ctx.
	ctx, cancel := context.WithCancel(e.Context())
	cancel()
	if err := ev.Wait(ctx); err != nil {
		t.Fatalf("Wait on a set Event = %v", err)
	}
	select {
	case <-ev.Done():
	default:
		t.Fatal("Done not closed")
	}
}

// TestWaitGroupOneWorker: 100 tasks count themselves out after a Sleep and
// a blocking read, while several tasks and a plain goroutine Wait, on one
// worker.
func TestWaitGroupOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	p := newPipeIO(t)
	var wg WaitGroup
	var done atomic.Int64
	wg.Add(100)
	waiters := make([]*JoinHandle[int64], 5)
	for i := range waiters {
		waiters[i] = Spawn(e.Context(), func(ctx context.Context) (int64, error) {
			err := wg.Wait(ctx)
			return done.Load(), err
		})
	}
	plain := make(chan int64)
	go func() {
		wg.Wait(context.Background())
		plain <- done.Load()
	}()
	spawnN(t, e, 100, func(ctx context.Context, i int) error {
		defer wg.Done()
		if err := Sleep(ctx, time.Microsecond); err != nil {
			return err
		}
		if err := p.read(ctx); err != nil {
			return err
		}
		done.Add(1)
		return nil
	})
	for _, h := range waiters {
		if n, err := h.Join(context.Background()); n != 100 || err != nil {
			t.Fatalf("Wait returned after %d tasks, err %v", n, err)
		}
	}
	if n := <-plain; n != 100 {
		t.Fatalf("plain Wait returned after %d tasks", n)
	}
	// Reuse: a new round.
	wg.Add(1)
	ctx, cancel := context.WithCancel(e.Context())
	cancel()
	if err := wg.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled ctx = %v", err)
	}
	wg.Done()
	if err := wg.Wait(ctx); err != nil {
		t.Fatalf("Wait at zero = %v", err)
	}
}

// TestSendRecvOneWorker: a producer and a consumer on one worker over an
// unbuffered channel. With bare channel operations the first to block would
// keep the only worker and the other could never run.
func TestSendRecvOneWorker(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	const n = 1000
	ch := make(chan int)
	prod := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		for i := range n {
			if err := Send(ctx, ch, i); err != nil {
				return i, err
			}
		}
		close(ch)
		return n, nil
	})
	cons := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		sum := 0
		for want := 0; ; want++ {
			v, ok, err := Recv(ctx, ch)
			if err != nil {
				return sum, err
			}
			if !ok {
				if want != n {
					return sum, fmt.Errorf("closed after %d values", want)
				}
				return sum, nil
			}
			if v != want {
				return sum, fmt.Errorf("got %d, want %d", v, want)
			}
			sum += v
		}
	})
	if _, err := prod.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sum, err := cons.Join(context.Background()); err != nil || sum != n*(n-1)/2 {
		t.Fatalf("consumer: sum %d, %v", sum, err)
	}
}

func TestSendRecvCancel(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	ch := make(chan int)
	tok := NewCancellationToken()
	h := Spawn(e.Context(), func(ctx context.Context) ([2]error, error) {
		ctx = tok.Bind(ctx)
		_, _, rerr := Recv(ctx, ch)
		serr := Send(ctx, ch, 1)
		return [2]error{rerr, serr}, nil
	})
	waitFor(t, func() bool { return e.Stats().Waiting == 1 })
	tok.Cancel()
	errs, _ := h.Join(context.Background())
	for _, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("errors = %v; want context.Canceled twice", errs)
		}
	}
	// A ready value is received even with a done ctx; a closed channel
	// reports ok == false.
	buf := make(chan int, 1)
	if err := Send(tok, buf, 7); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := Recv(tok, buf); v != 7 || !ok || err != nil {
		t.Fatalf("Recv = %v, %v, %v", v, ok, err)
	}
	close(buf)
	if _, ok, err := Recv(e.Context(), buf); ok || err != nil {
		t.Fatalf("Recv on closed = %v, %v", ok, err)
	}
	// Send on a closed channel panics, as ch <- v does. (Closing a channel
	// under a blocked sender is a data race by the race detector's rules, so
	// the in-wait case, where Send takes the worker back before the panic
	// goes on, is not exercised here.)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Send on a closed channel did not panic")
			}
		}()
		Send(e.Context(), buf, 1)
	}()
}

// TestMutexFIFO: queued waiters get the lock in arrival order, and neither
// TryLock nor a fresh Lock takes it while anyone is queued.
func TestMutexFIFO(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	var mu Mutex
	if err := mu.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var order []int
	gate := make(chan struct{}) // holds waiter 0 in the lock until TryLock has been tried
	hs := make([]*JoinHandle[struct{}], n)
	for i := range hs {
		hs[i] = Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
			if err := mu.Lock(ctx); err != nil {
				return struct{}{}, err
			}
			order = append(order, i)
			Block(ctx, func() (struct{}, error) { <-gate; return struct{}{}, nil })
			Yield(ctx)
			mu.Unlock()
			return struct{}{}, nil
		})
		waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == i+1 })
		checkMutex(t, &mu)
	}
	mu.Unlock() // hands the lock to waiter 0
	if mu.TryLock() {
		t.Fatal("TryLock took the lock from a queued waiter")
	}
	close(gate)
	// A newcomer queues behind everyone.
	if err := mu.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	order = append(order, n)
	mu.Unlock()
	for _, h := range hs {
		h.Join(context.Background())
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("lock order %v", order)
		}
	}
	checkMutex(t, &mu)
}

func TestMutexCancel(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var mu Mutex
	mu.Lock(e.Context())
	// An already-done ctx on a locked Mutex fails at once.
	ctx, cancel := context.WithCancel(e.Context())
	cancel()
	if err := mu.Lock(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a cancelled ctx = %v", err)
	}
	// A queued waiter cancelled in the middle of the queue leaves it; the
	// waiters around it keep their places.
	tok := NewCancellationToken()
	var order []string
	spawn := func(name string, tok *CancellationToken) *JoinHandle[error] {
		h := Spawn(e.Context(), func(ctx context.Context) (error, error) {
			if tok != nil {
				ctx = tok.Bind(ctx)
			}
			if err := mu.Lock(ctx); err != nil {
				return err, nil
			}
			order = append(order, name)
			mu.Unlock()
			return nil, nil
		})
		return h
	}
	a := spawn("a", nil)
	waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == 1 })
	b := spawn("b", tok)
	waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == 2 })
	c := spawn("c", nil)
	waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == 3 })
	tok.Cancel()
	if err, _ := b.Join(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	checkMutex(t, &mu)
	mu.Unlock()
	for _, h := range []*JoinHandle[error]{a, c} {
		if err, _ := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(order, "") != "ac" {
		t.Fatalf("order %v", order)
	}
	// The only waiter cancelled: the Mutex goes back to plain locked, and
	// the fast Unlock works.
	mu.Lock(e.Context())
	tok2 := NewCancellationToken()
	d := spawn("d", tok2)
	waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == 1 })
	tok2.Cancel()
	d.Join(context.Background())
	checkMutex(t, &mu)
	if s := mu.state.Load(); s != mutexLocked {
		t.Fatalf("state %d after the only waiter left", s)
	}
	mu.Unlock()
	if !mu.TryLock() {
		t.Fatal("lock lost")
	}
	mu.Unlock()
}

// TestSemaphoreLargeNotStarved: a waiter for many permits at the head of the
// queue is not passed by later small ones, even when a small one would fit.
func TestSemaphoreLargeNotStarved(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	s := NewSemaphore(10)
	if err := s.Acquire(e.Context(), 10); err != nil {
		t.Fatal(err)
	}
	var order []string
	acquire := func(name string, n int64) *JoinHandle[struct{}] {
		return Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
			if err := s.Acquire(ctx, n); err != nil {
				return struct{}{}, err
			}
			order = append(order, name)
			s.Release(n)
			return struct{}{}, nil
		})
	}
	big := acquire("big", 10)
	waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 1 })
	small := acquire("small", 1)
	waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 2 })
	s.Release(1)
	checkSemaphore(t, s)
	if s.TryAcquire(1) || queueLen(&s.mu, &s.q) != 2 {
		t.Fatal("a small request got past the large one at the head")
	}
	s.Release(9)
	for _, h := range []*JoinHandle[struct{}]{big, small} {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(order, ",") != "big,small" {
		t.Fatalf("order %v", order)
	}
	checkSemaphore(t, s)
	if !s.TryAcquire(10) {
		t.Fatal("permits lost")
	}
	s.Release(10)

	// An Acquire of more than the size fails at once.
	if err := s.Acquire(context.Background(), 11); !errors.Is(err, ErrExceedsSize) {
		t.Fatalf("Acquire(11) of 10 = %v", err)
	}
	// Acquire(0) succeeds with nothing free.
	s.Acquire(context.Background(), 10)
	if err := s.Acquire(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	s.Release(10)
}

// TestSemaphoreCancelHeadServesNext: when the blocking head waiter is
// cancelled, the waiters behind it that fit are served at once.
func TestSemaphoreCancelHeadServesNext(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	s := NewSemaphore(4)
	s.Acquire(e.Context(), 3)
	tok := NewCancellationToken()
	big := Spawn(e.Context(), func(ctx context.Context) (error, error) {
		return s.Acquire(tok.Bind(ctx), 4), nil
	})
	waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 1 })
	small := Spawn(e.Context(), func(ctx context.Context) (error, error) {
		if err := s.Acquire(ctx, 1); err != nil {
			return err, nil
		}
		s.Release(1)
		return nil, nil
	})
	waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 2 })
	tok.Cancel()
	if err, _ := big.Join(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("big: %v", err)
	}
	if err, _ := small.Join(context.Background()); err != nil {
		t.Fatalf("small: %v", err)
	}
	checkSemaphore(t, s)
	s.Release(3)
	if !s.TryAcquire(4) {
		t.Fatal("permits lost")
	}
}

// TestSyncPlainGoroutinesAndExecutors: the primitives work between plain
// goroutines and tasks of two different executors.
func TestSyncPlainGoroutinesAndExecutors(t *testing.T) {
	e1 := newExecutor(t, Options{Workers: 1})
	e2 := newExecutor(t, Options{Workers: 1})
	var mu Mutex
	s := NewSemaphore(1)
	var ev Event
	counter := 0
	const rounds = 200
	body := func(ctx context.Context) error {
		if err := ev.Wait(ctx); err != nil {
			return err
		}
		for range rounds {
			if err := mu.Lock(ctx); err != nil {
				return err
			}
			counter++
			Yield(ctx)
			mu.Unlock()
			if err := s.Acquire(ctx, 1); err != nil {
				return err
			}
			Yield(ctx)
			s.Release(1)
		}
		return nil
	}
	var hs []*JoinHandle[struct{}]
	for _, e := range []*Executor{e1, e2, e1, e2} {
		hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (struct{}, error) { return struct{}{}, body(ctx) }))
	}
	errs := make(chan error, 3)
	for range 2 {
		go func() { errs <- body(context.Background()) }()
	}
	// A plain goroutine handed a task's context: its waits find the task
	// holding no worker of theirs and give nothing up.
	hs = append(hs, Spawn(e1.Context(), func(ctx context.Context) (struct{}, error) {
		go func() { errs <- body(ctx) }()
		return struct{}{}, nil
	}))
	ev.Set()
	for _, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if counter != 7*rounds {
		t.Fatalf("counter = %d", counter)
	}
}

// TestSyncMisusePanics: misuse panics with a clear message, as the standard
// library's primitives do.
func TestSyncMisusePanics(t *testing.T) {
	cases := map[string]struct {
		fn   func()
		want string
	}{
		"Unlock": {func() { var m Mutex; m.Unlock() }, "Unlock of unlocked Mutex"},
		"double Unlock": {func() {
			var m Mutex
			m.Lock(context.Background())
			m.Unlock()
			m.Unlock()
		}, "Unlock of unlocked Mutex"},
		"WaitGroup": {func() { var g WaitGroup; g.Add(1); g.Done(); g.Done() }, "negative WaitGroup counter"},
		"Release":   {func() { NewSemaphore(2).Release(1) }, "released more permits than were acquired"},
		"Release after Acquire": {func() {
			s := NewSemaphore(2)
			s.Acquire(context.Background(), 1)
			s.Release(2)
		}, "released more permits than were acquired"},
		"Release with waiters": {func() {
			s := NewSemaphore(2)
			s.Acquire(context.Background(), 2)
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan error, 1)
			go func() { res <- s.Acquire(ctx, 1) }()
			waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 1 })
			defer func() { cancel(); <-res }()
			s.Release(3)
		}, "released more permits than were acquired"},
		"Release negative":    {func() { NewSemaphore(2).Release(-1) }, "negative"},
		"Acquire negative":    {func() { NewSemaphore(2).Acquire(context.Background(), -1) }, "negative"},
		"TryAcquire negative": {func() { NewSemaphore(2).TryAcquire(-1) }, "negative"},
		"NewSemaphore":        {func() { NewSemaphore(-1) }, "size out of range"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if !strings.HasPrefix(msg, "executor: ") || !strings.Contains(msg, c.want) {
					t.Fatalf("panic %v; want one mentioning %q", r, c.want)
				}
			}()
			c.fn()
		})
	}
}

// TestSyncFastPathsDoNotAllocate: uncontended operations allocate nothing.
func TestSyncFastPathsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	var mu Mutex
	s := NewSemaphore(4)
	var ev Event
	ev.Set()
	var wg WaitGroup
	ch := make(chan int, 1)
	for name, fn := range map[string]func(){
		"Mutex":     func() { mu.Lock(ctx); mu.Unlock() },
		"TryLock":   func() { mu.TryLock(); mu.Unlock() },
		"Semaphore": func() { s.Acquire(ctx, 2); s.Release(2) },
		"Event":     func() { ev.Wait(ctx) },
		"WaitGroup": func() { wg.Add(1); wg.Done(); wg.Wait(ctx) },
		"Send/Recv": func() { Send(ctx, ch, 1); Recv(ctx, ch) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
}

// randomCtx returns a context for one attempt: most never end, some are done
// already, some end after a short random delay, some are cancelled by
// another goroutine at a random moment. Delays only shuffle the
// interleavings; nothing is timed.
func randomCtx(parent context.Context, r *rand.Rand) (context.Context, context.CancelFunc) {
	switch r.IntN(6) {
	case 0:
		ctx, cancel := context.WithCancel(parent)
		cancel()
		return ctx, cancel
	case 1:
		return context.WithTimeout(parent, time.Duration(r.IntN(50))*time.Microsecond)
	case 2:
		ctx, cancel := context.WithCancel(parent)
		d := time.Duration(r.IntN(20)) * time.Microsecond
		go func() { time.Sleep(d); cancel() }()
		return ctx, cancel
	default:
		return parent, func() {}
	}
}

// contenders runs fn from tasks of two executors (1 and 2 workers) and from
// plain goroutines, in parallel, each with its own random source; then it
// returns. check runs meanwhile, repeatedly, until they are done.
func contenders(t *testing.T, seed uint64, perKind int, fn func(ctx context.Context, r *rand.Rand) error, check func()) {
	t.Helper()
	t.Logf("seed %d", seed)
	e1 := newExecutor(t, Options{Workers: 1})
	e2 := newExecutor(t, Options{Workers: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 3*perKind)
	stop := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for {
			select {
			case <-stop:
				return
			default:
				check()
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	id := uint64(0)
	for range perKind {
		for _, ctx := range []context.Context{e1.Context(), e2.Context(), context.Background()} {
			id++
			r := rand.New(rand.NewPCG(seed, id))
			wg.Add(1)
			if _, ok := FromContext(ctx); ok {
				h := Spawn(ctx, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx, r) })
				go func() { defer wg.Done(); _, err := h.Join(context.Background()); errs <- err }()
			} else {
				go func() { defer wg.Done(); errs <- fn(ctx, r) }()
			}
		}
	}
	wg.Wait()
	close(stop)
	<-checked
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check()
}

// holdFor does what a holder does between acquiring and releasing: nothing,
// a yield, a sleep or a Block, at random.
func holdFor(ctx context.Context, r *rand.Rand) {
	switch r.IntN(4) {
	case 1:
		Yield(ctx)
	case 2:
		Sleep(context.WithoutCancel(ctx), time.Duration(r.IntN(20))*time.Microsecond)
	case 3:
		Block(ctx, func() (int, error) { return 0, nil })
	}
}

// randomResource is what runRandomCancel drives: a Semaphore, or a Mutex as
// a resource of one permit.
type randomResource struct {
	limit int64 // the most permits held at once
	// acquire takes some permits with ctx; ok false means a TryLock that
	// failed (nothing held, no error).
	acquire func(ctx context.Context, r *rand.Rand) (n int64, ok bool, err error)
	release func(n int64)
	check   func()       // the internal invariants, at any moment
	atRest  func() error // every permit free, nobody queued
}

// runRandomCancel: many tasks and goroutines acquire with contexts that end
// at random moments. Invariants: a successful acquire never pushes the
// holders' total above the limit; a failed one returns its ctx's error with
// ctx done; the internal state stays consistent throughout (checked
// concurrently); at the end every permit is free and nobody is queued.
func runRandomCancel(t *testing.T, seed uint64, res randomResource) {
	var held, granted, cancelled, grantWon atomic.Int64
	contenders(t, seed, 6, func(ctx context.Context, r *rand.Rand) error {
		for range 150 {
			actx, cancel := randomCtx(ctx, r)
			n, ok, err := res.acquire(actx, r)
			ctxErr := actx.Err() // before cancel, which ends every ctx
			cancel()
			switch {
			case err != nil:
				if ctxErr == nil || !errors.Is(err, ctxErr) {
					return fmt.Errorf("acquire(%d) = %v with ctx.Err() = %v", n, err, ctxErr)
				}
				cancelled.Add(1)
				continue
			case !ok:
				continue
			case ctxErr != nil:
				grantWon.Add(1) // or free at once with ctx done (the fast path)
			}
			granted.Add(1)
			if h := held.Add(n); h > res.limit {
				return fmt.Errorf("%d permits held with a limit of %d", h, res.limit)
			}
			holdFor(ctx, r)
			held.Add(-n)
			res.release(n)
		}
		return nil
	}, res.check)
	t.Logf("granted %d, cancelled %d, granted with ctx done %d", granted.Load(), cancelled.Load(), grantWon.Load())
	if err := res.atRest(); err != nil {
		t.Fatalf("at rest: %v", err)
	}
	if cancelled.Load() == 0 {
		t.Fatal("nothing was cancelled: the test exercised nothing")
	}
}

func TestSemaphoreRandomCancel(t *testing.T) {
	const size = 5
	for _, seed := range []uint64{1, 2, uint64(time.Now().UnixNano())} {
		s := NewSemaphore(size)
		runRandomCancel(t, seed, randomResource{
			limit: size,
			acquire: func(ctx context.Context, r *rand.Rand) (int64, bool, error) {
				n := r.Int64N(size + 1)
				return n, true, s.Acquire(ctx, n)
			},
			release: s.Release,
			check:   func() { checkSemaphore(t, s) },
			atRest: func() error {
				if st := s.state.Load(); st != size<<1 || !s.q.empty() {
					return fmt.Errorf("state %d (want %d), queue empty %v", st, size<<1, s.q.empty())
				}
				return nil
			},
		})
	}
}

func TestMutexRandomCancel(t *testing.T) {
	for _, seed := range []uint64{1, 2, uint64(time.Now().UnixNano())} {
		var mu Mutex
		runRandomCancel(t, seed, randomResource{
			limit: 1,
			acquire: func(ctx context.Context, r *rand.Rand) (int64, bool, error) {
				if r.IntN(8) == 0 {
					return 1, mu.TryLock(), nil
				}
				return 1, true, mu.Lock(ctx)
			},
			release: func(int64) { mu.Unlock() },
			check:   func() { checkMutex(t, &mu) },
			atRest: func() error {
				if s := mu.state.Load(); s != mutexUnlocked || !mu.q.empty() {
					return fmt.Errorf("state %d, queue empty %v", s, mu.q.empty())
				}
				return nil
			},
		})
	}
}

// TestWaitersCancelRandom: Event and WaitGroup waiters cancelled at random
// while others wait on: those not cancelled all wake.
func TestWaitersCancelRandom(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var ev Event
	var wg WaitGroup
	wg.Add(1)
	r := rand.New(rand.NewPCG(3, 4))
	var hs []*JoinHandle[error]
	var toks []*CancellationToken
	for i := range 60 {
		tok := NewCancellationToken()
		toks = append(toks, tok)
		hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (error, error) {
			ctx = tok.Bind(ctx)
			if i%2 == 0 {
				return ev.Wait(ctx), nil
			}
			return wg.Wait(ctx), nil
		}))
	}
	waitFor(t, func() bool { return e.Stats().Waiting == 60 })
	cancelledSet := map[int]bool{}
	for i := range toks {
		if r.IntN(2) == 0 {
			toks[i].Cancel()
			cancelledSet[i] = true
		}
	}
	for i, h := range hs {
		if cancelledSet[i] {
			if err, _ := h.Join(context.Background()); !errors.Is(err, context.Canceled) {
				t.Fatalf("waiter %d: %v", i, err)
			}
		}
	}
	ev.Set()
	wg.Done()
	for i, h := range hs {
		if err, _ := h.Join(context.Background()); !cancelledSet[i] && err != nil {
			t.Fatalf("waiter %d: %v", i, err)
		}
	}
}

// FuzzSemaphoreModel drives a Semaphore through a sequence of operations
// decoded from the input and checks it against a model, exactly: which
// TryAcquire succeeds, which waiter queues, which waiters a Release or a
// cancellation serves, and the free count after every step. Each queued
// waiter is a goroutine; the test waits for every state change, so the
// outcome is deterministic. Cancellation follows the documented rule: a
// waiter still queued returns ctx's error, a granted one keeps its permits.
func FuzzSemaphoreModel(f *testing.F) {
	f.Add([]byte{3, 2, 2, 7, 12, 3, 4, 9, 3, 3})
	f.Add([]byte{7, 0, 5, 2, 22, 17, 2, 4, 3, 8, 4, 13, 3})
	f.Add([]byte{0, 2, 2, 2, 4, 3, 3, 3, 1, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		size := int64(1 + ops[0]%8)
		s := NewSemaphore(size)
		free := size
		type qwaiter struct {
			n      int64
			cancel context.CancelFunc
			res    chan error
		}
		var queue []*qwaiter
		var holders []int64
		serve := func() { // the model of serveLocked
			for len(queue) > 0 && queue[0].n <= free {
				w := queue[0]
				queue = queue[1:]
				free -= w.n
				if err := <-w.res; err != nil {
					t.Fatalf("granted waiter returned %v", err)
				}
				holders = append(holders, w.n)
			}
		}
		check := func(step int) {
			t.Helper()
			checkSemaphore(t, s)
			if got := s.state.Load() >> 1; got != free {
				t.Fatalf("step %d: free = %d, model %d", step, got, free)
			}
			if got := queueLen(&s.mu, &s.q); got != len(queue) {
				t.Fatalf("step %d: %d queued, model %d", step, got, len(queue))
			}
		}
		for i, b := range ops[1:] {
			arg := int64(b / 5)
			switch b % 5 {
			case 0, 1: // TryAcquire, or Acquire with a ctx already done
				k := arg % (size + 1)
				want := len(queue) == 0 && free >= k
				var got bool
				if b%5 == 0 {
					got = s.TryAcquire(k)
				} else {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					got = s.Acquire(ctx, k) == nil
				}
				if got != want {
					t.Fatalf("step %d: acquire %d = %v, model %v", i, k, got, want)
				}
				if got {
					free -= k
					holders = append(holders, k)
				}
			case 2: // a waiter in a goroutine
				k := 1 + arg%size
				ctx, cancel := context.WithCancel(context.Background())
				w := &qwaiter{n: k, cancel: cancel, res: make(chan error, 1)}
				go func() { w.res <- s.Acquire(ctx, k) }()
				if len(queue) == 0 && free >= k {
					if err := <-w.res; err != nil {
						t.Fatal(err)
					}
					cancel()
					free -= k
					holders = append(holders, k)
				} else {
					queue = append(queue, w)
					waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == len(queue) })
				}
			case 3: // release one holder's permits
				if len(holders) == 0 {
					continue
				}
				j := int(arg) % len(holders)
				k := holders[j]
				holders = append(holders[:j], holders[j+1:]...)
				s.Release(k)
				free += k
				serve()
			case 4: // cancel a queued waiter
				if len(queue) == 0 {
					continue
				}
				j := int(arg) % len(queue)
				w := queue[j]
				queue = append(queue[:j:j], queue[j+1:]...)
				w.cancel()
				if err := <-w.res; !errors.Is(err, context.Canceled) {
					t.Fatalf("step %d: cancelled waiter returned %v", i, err)
				}
				serve()
			}
			check(i)
		}
		for _, w := range queue {
			w.cancel()
			if err := <-w.res; err == nil {
				holders = append(holders, w.n) // served as one ahead of it left
			}
		}
		queue = nil
		for _, k := range holders {
			s.Release(k)
		}
		if st := s.state.Load(); st != size<<1 {
			t.Fatalf("at rest: state %d, want %d", st, size<<1)
		}
	})
}

// TestGrantWinsOverCancel: a waiter whose ctx ends just after the lock (or
// the permits) were handed to it keeps them and returns nil, whichever of
// the two its wait sees first; nothing is lost or granted twice.
func TestGrantWinsOverCancel(t *testing.T) {
	for range 300 {
		var mu Mutex
		mu.Lock(context.Background())
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { res <- mu.Lock(ctx) }()
		waitFor(t, func() bool { return queueLen(&mu.mu, &mu.q) == 1 })
		mu.Unlock() // hands the lock over...
		cancel()    // ...and ends the waiter's ctx, perhaps before it woke
		if err := <-res; err != nil {
			t.Fatalf("Lock after the hand-off = %v", err)
		}
		if mu.TryLock() {
			t.Fatal("the waiter does not hold the lock")
		}
		mu.Unlock()
		checkMutex(t, &mu)

		s := NewSemaphore(2)
		s.Acquire(context.Background(), 2)
		ctx, cancel = context.WithCancel(context.Background())
		go func() { res <- s.Acquire(ctx, 2) }()
		waitFor(t, func() bool { return queueLen(&s.mu, &s.q) == 1 })
		s.Release(2)
		cancel()
		if err := <-res; err != nil {
			t.Fatalf("Acquire after the hand-off = %v", err)
		}
		if s.TryAcquire(1) {
			t.Fatal("the waiter does not hold the permits")
		}
		s.Release(2)
		checkSemaphore(t, s)
	}
}
