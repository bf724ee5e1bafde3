package executor

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// soakFor is how long TestSoak runs; 0 skips it. .ci/run runs it once:
//
//	go test -race -count=1 -run '^TestSoak$' -soak=60s .
var soakFor = flag.Duration("soak", 0, "run TestSoak for this long (it is also skipped with -short)")

// TestSoak runs rounds of mixed tasks (files, sockets, sleeps, joins, the
// locks and channels, cancellations) on 2 workers for -soak, and checks at
// the end that every byte written was read back, that goroutines and
// descriptors are back to where they were, and that the live heap after
// the last round is within 10% of the heap after the first.
func TestSoak(t *testing.T) {
	if testing.Short() || *soakFor == 0 {
		t.Skip("the soak runs only with -soak=DURATION and -short=false (.ci/run runs it once)")
	}
	baseGoroutines := goleak.IgnoreCurrent()
	baseFDs := openFDs(t)
	e, err := New(Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := e.Context()
	s := &soak{dir: t.TempDir()}
	s.l, err = Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := Spawn(ctx, s.serve)

	start := time.Now()
	var heapFirst, heapLast uint64
	rounds := 0
	for time.Since(start) < *soakFor {
		if err := s.round(ctx, rounds); err != nil {
			t.Fatalf("round %d: %v", rounds, err)
		}
		if rounds == 0 || time.Since(start) >= *soakFor {
			h := liveHeap()
			if rounds == 0 {
				heapFirst = h
			}
			heapLast = h
		}
		rounds++
	}
	heapLast = liveHeap()
	s.l.Close()
	if _, err := server.Join(ctx); err != nil {
		t.Fatal(err)
	}
	st, ios := e.Stats(), e.IOStats()
	sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	written, verified := s.written.Load(), s.verified.Load()
	growth := float64(int64(heapLast)-int64(heapFirst)) / float64(heapFirst)
	t.Logf("soak: %v on %s, %d rounds, %d tasks (max running %d of %d workers), %d I/O ops (%d inline, %d cancelled)",
		time.Since(start).Round(time.Second), e.Backend(), rounds, st.Spawned, st.MaxRunning, st.Workers, ios.Completed, ios.Inline, ios.Cancelled)
	t.Logf("soak: %d bytes written, %d read back and verified; %d cancellations seen; live heap %d KiB after round 1, %d KiB at the end (%+.1f%%)",
		written, verified, s.cancels.Load(), heapFirst>>10, heapLast>>10, 100*growth)
	if written == 0 || written != verified {
		t.Errorf("%d bytes written, %d read back and verified", written, verified)
	}
	if st.MaxRunning > int64(st.Workers) {
		t.Errorf("MaxRunning %d above %d workers", st.MaxRunning, st.Workers)
	}
	if growth > 0.10 {
		t.Errorf("live heap grew by %.1f%% (%d to %d bytes); want under 10%%", 100*growth, heapFirst, heapLast)
	}
	var leak error
	for range 100 { // goroutines of closed connections end just after
		if leak = goleak.Find(baseGoroutines); leak == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if leak != nil {
		t.Errorf("goroutines not back to the baseline: %v", leak)
	}
	if n := openFDs(t); n != baseFDs {
		t.Errorf("%d descriptors open; %d before the soak", n, baseFDs)
	}
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

type soak struct {
	dir               string
	l                 *Listener
	written, verified atomic.Int64 // bytes
	cancels           atomic.Int64
}

// serve echoes every connection until its peer closes it.
func (s *soak) serve(ctx context.Context) (int, error) {
	for {
		c, err := s.l.Accept(ctx)
		if err != nil {
			return 0, nil // closed
		}
		Spawn(ctx, func(ctx context.Context) (int, error) {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(ctx, buf)
				if err != nil {
					return 0, nil
				}
				if _, err := c.Write(ctx, buf[:n]); err != nil {
					return 0, nil
				}
			}
		})
	}
}

// round runs one batch of every kind of task and waits for all of them.
func (s *soak) round(ctx context.Context, n int) error {
	b := NewTaskResultBundle(ctx)
	for i := range 4 {
		seed := uint64(n)<<8 | uint64(i)
		b.Spawn("file", func(ctx context.Context) error { return s.file(ctx, seed) })
		b.Spawn("socket", func(ctx context.Context) error { return s.socket(ctx, seed) })
	}
	b.Spawn("sleep-join", s.sleepJoin)
	b.Spawn("locks", s.locks)
	b.Spawn("cancel", s.cancel)
	return b.Wait()
}

// file writes random blocks at random offsets, reads each back and
// compares, then checks the size through Stat.
func (s *soak) file(ctx context.Context, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	name := filepath.Join(s.dir, fmt.Sprintf("f%d", seed))
	f, err := Create(ctx, name)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	for range 8 {
		p := make([]byte, 1+r.IntN(64<<10))
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		off := r.Int64N(1 << 20)
		if _, err := f.WriteAt(ctx, p, off); err != nil {
			return err
		}
		s.written.Add(int64(len(p)))
		size = max(size, off+int64(len(p)))
		q := make([]byte, len(p))
		if _, err := io.ReadFull(io.NewSectionReader(f.ReaderAt(ctx), off, int64(len(q))), q); err != nil {
			return err
		}
		if !bytes.Equal(p, q) {
			return fmt.Errorf("%s: %d bytes at %d read back differently", name, len(p), off)
		}
		s.verified.Add(int64(len(q)))
	}
	if err := f.Sync(ctx); err != nil {
		return err
	}
	fi, err := f.Stat(ctx)
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%s: size %d; want %d", name, fi.Size(), size)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Remove(name)
}

// socket sends random data through the echo server and checks what comes
// back, reading and writing side by side.
func (s *soak) socket(ctx context.Context, seed uint64) error {
	c, err := Dial(ctx, "tcp", s.l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(seed, 2))
	p := make([]byte, 1+r.IntN(256<<10))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	w := Spawn(ctx, func(ctx context.Context) (int, error) {
		n, err := c.Write(ctx, p)
		s.written.Add(int64(n))
		return n, err
	})
	q := make([]byte, len(p))
	for n := 0; n < len(q); {
		m, err := c.Read(ctx, q[n:]) // not NetConn's: a task gives its worker up
		if err != nil {
			return err
		}
		n += m
	}
	if _, err := w.Join(ctx); err != nil {
		return err
	}
	if !bytes.Equal(p, q) {
		return fmt.Errorf("%d bytes echoed differently", len(p))
	}
	s.verified.Add(int64(len(q)))
	return nil
}

// sleepJoin spawns sleepers in a tree and joins them.
func (s *soak) sleepJoin(ctx context.Context) error {
	var hs []*JoinHandle[int]
	for i := range 16 {
		hs = append(hs, Spawn(ctx, func(ctx context.Context) (int, error) {
			inner := Spawn(ctx, func(ctx context.Context) (int, error) {
				return i, Sleep(ctx, time.Duration(i)*100*time.Microsecond)
			})
			Yield(ctx)
			return inner.Join(ctx)
		}))
	}
	for i, h := range hs {
		if v, err := h.Join(ctx); v != i || err != nil {
			return fmt.Errorf("join %d = %d, %v", i, v, err)
		}
	}
	return nil
}

// locks runs tasks through a Mutex, a Semaphore, a WaitGroup, an Event
// and a channel, and checks what each guarantees.
func (s *soak) locks(ctx context.Context) error {
	var mu Mutex
	sem := NewSemaphore(3)
	var wg WaitGroup
	var start Event
	ch := make(chan int)
	counter, inside, most := 0, atomic.Int32{}, atomic.Int32{}
	const tasks, incs = 12, 50
	wg.Add(tasks)
	for i := range tasks {
		Spawn(ctx, func(ctx context.Context) (int, error) {
			defer wg.Done()
			if err := start.Wait(ctx); err != nil {
				return 0, err
			}
			for range incs {
				if err := mu.Lock(ctx); err != nil {
					return 0, err
				}
				counter++
				mu.Unlock()
			}
			if err := sem.Acquire(ctx, 1); err != nil {
				return 0, err
			}
			n := inside.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			Sleep(ctx, 50*time.Microsecond)
			inside.Add(-1)
			sem.Release(1)
			return 0, Send(ctx, ch, i)
		})
	}
	start.Set()
	sum := 0
	for range tasks {
		v, ok, err := Recv(ctx, ch)
		if err != nil || !ok {
			return fmt.Errorf("Recv = %v, %v", ok, err)
		}
		sum += v
	}
	if err := wg.Wait(ctx); err != nil {
		return err
	}
	switch {
	case counter != tasks*incs:
		return fmt.Errorf("mutex counter %d; want %d", counter, tasks*incs)
	case most.Load() > 3:
		return fmt.Errorf("%d tasks inside a semaphore of 3", most.Load())
	case sum != tasks*(tasks-1)/2:
		return fmt.Errorf("channel sum %d", sum)
	}
	return nil
}

// cancel cancels a sleep, a socket read with no data, a lock wait and a
// join, each through a token or a timeout, and checks each saw it.
func (s *soak) cancel(ctx context.Context) error {
	tok := NewCancellationToken()
	sleeper := Spawn(ctx, func(ctx context.Context) (int, error) { return 0, Sleep(tok.Bind(ctx), time.Hour) })
	c, err := Dial(ctx, "tcp", s.l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	reader := Spawn(ctx, func(ctx context.Context) (int, error) { return c.Read(tok.Bind(ctx), make([]byte, 1)) })
	var mu Mutex
	mu.Lock(ctx)
	locker := Spawn(ctx, func(ctx context.Context) (int, error) { return 0, mu.Lock(tok.Bind(ctx)) })
	Sleep(ctx, time.Millisecond)
	tok.Cancel()
	for name, h := range map[string]*JoinHandle[int]{"sleep": sleeper, "read": reader, "lock": locker} {
		if _, err := h.Join(ctx); !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s after its token was cancelled: %v", name, err)
		}
		s.cancels.Add(1)
	}
	mu.Unlock()
	slow := Spawn(ctx, func(ctx context.Context) (int, error) { return 7, Sleep(ctx, 5*time.Millisecond) })
	tctx, stop := context.WithTimeout(ctx, 100*time.Microsecond)
	defer stop()
	if _, err := slow.Join(tctx); errors.Is(err, context.DeadlineExceeded) {
		s.cancels.Add(1)
	} else if err != nil {
		return err
	}
	if v, err := slow.Join(ctx); v != 7 || err != nil {
		return fmt.Errorf("join after a timed-out join = %d, %v", v, err)
	}
	return nil
}
