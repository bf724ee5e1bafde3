package driver

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// gcLoop runs the collector continuously, with GOGC=1, until stop is
// called.
func gcLoop() (stop func()) {
	old := debug.SetGCPercent(1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		debug.SetGCPercent(old)
	}
}

// TestBufferSafetyUnderGC is invariant 1 (see the package doc). Thousands
// of reads wait on one pipe while the collector runs continuously; a
// writer feeds the pipe while the reads are being cancelled. Every read
// either returns bytes, which are in its buffer, or returns ctx's error
// with its buffer untouched; no byte written is lost (completed-anyway
// results are returned) and no buffer changes after its read returned,
// even after more data passes through the pipe.
func TestBufferSafetyUnderGC(t *testing.T) {
	// The ring cases wait far more reads than the rings have entries. The
	// portable driver blocks one thread in poll(2) per waiting read, and
	// under a loaded CI machine the runtime starts those threads one
	// scheduler slice at a time (3,000 took over a minute), so it waits
	// fewer: the invariant does not depend on the count there.
	cases := []struct {
		name    string
		readers int
		d       func(t *testing.T) Driver
	}{
		{"uring", 3000, func(t *testing.T) Driver { return newTestUring(t, config{entries: 4096, nowait: true}) }},
		{"uring-small-ring", 3000, func(t *testing.T) Driver { return newTestUring(t, config{entries: 64, nowait: false}) }},
		{"uring-small-ring-single-issuer", 3000, func(t *testing.T) Driver {
			return newTestUring(t, config{entries: 64, singleIssuer: true})
		}},
		{"portable", 300, func(t *testing.T) Driver {
			d := newPortable("test")
			t.Cleanup(func() { d.Shutdown() })
			return d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			readers := tc.readers
			d := tc.d(t)
			r, w := pipe(t, true)
			stopGC := gcLoop()
			defer stopGC()

			type result struct {
				buf []byte
				n   int
				err error
			}
			results := make([]result, readers)
			cancels := make([]context.CancelFunc, readers)
			var wg sync.WaitGroup
			for i := range results {
				ctx, cancel := context.WithCancel(context.Background())
				cancels[i] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := bytes.Repeat([]byte{0xAA}, 1+i%64)
					n, err := d.ReadAt(ctx, r, buf, -1)
					results[i] = result{buf, n, err}
				}()
			}
			want := uint64(min(readers, 64))
			if !strings.Contains(tc.name, "small-ring") {
				want = uint64(readers)
			}
			waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight >= want })

			var written int
			var wwg sync.WaitGroup
			wwg.Add(1)
			go func() {
				defer wwg.Done()
				for i := 0; i < 300; i++ {
					n, err := unix.Write(w, bytes.Repeat([]byte{'x'}, 1+i%50))
					if err != nil {
						t.Errorf("write: %v", err)
						return
					}
					written += n
				}
			}()
			for _, i := range rand.Perm(readers) {
				cancels[i]()
			}
			wg.Wait()
			wwg.Wait()

			got := 0
			snapshot := make([][]byte, readers)
			for i, res := range results {
				snapshot[i] = bytes.Clone(res.buf)
				switch {
				case res.err == nil:
					if res.n <= 0 || !bytes.Equal(res.buf[:res.n], bytes.Repeat([]byte{'x'}, res.n)) {
						t.Fatalf("read %d: n=%d buf=%q", i, res.n, res.buf)
					}
					got += res.n
				case errors.Is(res.err, context.Canceled):
					if res.n != 0 {
						t.Fatalf("read %d: cancelled with n=%d", i, res.n)
					}
				default:
					t.Fatalf("read %d: %v", i, res.err)
				}
				if !bytes.Equal(res.buf[res.n:], bytes.Repeat([]byte{0xAA}, len(res.buf)-res.n)) {
					t.Fatalf("read %d: bytes past n=%d written: %q", i, res.n, res.buf)
				}
			}
			got += drain(t, r)
			if got != written {
				t.Fatalf("%d bytes written, %d read: completed results were lost", written, got)
			}
			// No read is still pending in the kernel: all that is written
			// now comes back to a plain read, and no buffer changes.
			for i := 0; i < 10; i++ {
				unix.Write(w, bytes.Repeat([]byte{'y'}, 100))
			}
			if n := drain(t, r); n != 1000 {
				t.Fatalf("a cancelled read consumed %d bytes written after it returned", 1000-n)
			}
			runtime.GC()
			for i, res := range results {
				if !bytes.Equal(res.buf, snapshot[i]) {
					t.Fatalf("read %d: buffer changed after the read returned", i)
				}
			}
		})
	}
}

// drain reads a non-blocking pipe until it is empty.
func drain(t *testing.T, r int) int {
	t.Helper()
	total := 0
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(r, buf)
		if err == syscall.EAGAIN {
			return total
		}
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
}

//go:noinline
func growStack(depth int) int {
	var pad [256]byte
	if depth == 0 {
		return int(pad[0])
	}
	return growStack(depth-1) + int(pad[depth%256])
}

// TestBufferOnMovingStack is invariant 1 for a buffer declared on the
// caller's stack: the goroutine's stack grows, then the read waits while
// the collector shrinks stacks. The kernel must write where the caller
// looks, so the buffer must not live on the stack while in flight.
func TestBufferOnMovingStack(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		r, w := pipe(t, true)
		stopGC := gcLoop()
		defer stopGC()
		type result struct {
			n   int
			err error
			buf [32]byte
		}
		res := make(chan result)
		go func() {
			growStack(200) // grow the stack to ~64 KiB; it shrinks again under GC
			var buf [32]byte
			n, err := d.ReadAt(context.Background(), r, buf[:], -1)
			growStack(100) // and move it again before looking at buf
			res <- result{n, err, buf}
		}()
		waitFor(t, "read in flight", func() bool { return d.Stats().InFlight == 1 })
		for i := 0; i < 5; i++ {
			runtime.GC()
		}
		unix.Write(w, []byte("stacks move"))
		got := <-res
		if got.err != nil || string(got.buf[:got.n]) != "stacks move" {
			t.Fatalf("ReadAt = %d, %v, %q", got.n, got.err, got.buf[:got.n])
		}
	})
}

// TestStaleGeneration is invariant 2: a CQE whose user_data names a
// record by an old generation, or no record at all, is ignored; it
// neither wakes nor corrupts the op now using the record.
func TestStaleGeneration(t *testing.T) {
	d := newTestUring(t, config{entries: 2, nowait: false})
	r, w := pipe(t, false)
	// Use every op record once so each has a past generation.
	for i := 0; i < 4; i++ {
		if _, err := d.Stat(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	res := make(chan int)
	buf := make([]byte, 8)
	go func() {
		n, _ := d.ReadAt(context.Background(), r, buf, -1)
		res <- n
	}()
	waitFor(t, "read in flight", func() bool { return d.Stats().InFlight == 1 })

	var stale []uint64
	for idx := uint32(0); idx < d.slab.nFixed; idx++ {
		gen := d.slab.op(idx).gen.Load()
		stale = append(stale, userData(idx, gen-1), userData(idx, gen+1))
	}
	stale = append(stale, userData(uint32(len(d.slab.chunks))*chunkLen, 0), userData(d.slab.nFixed, 1), userData(udInternal-1, 7))
	before := d.stale.Load()
	for _, ud := range stale {
		nop := uring.SQE{UserData: ud}
		nop.PrepNop()
		d.mu.Lock()
		d.submitUnlock(&nop)
	}
	waitFor(t, "stale CQEs reaped", func() bool { return d.stale.Load()-before == uint64(len(stale)) })
	select {
	case n := <-res:
		t.Fatalf("a stale CQE completed the pending read (n=%d)", n)
	default:
	}
	unix.Write(w, []byte("fresh"))
	if n := <-res; n != 5 || string(buf[:5]) != "fresh" {
		t.Fatalf("read = %d, %q", n, buf[:n])
	}
}

func FuzzUserData(f *testing.F) {
	f.Add(uint32(0), uint32(0))
	f.Add(uint32(1<<32-1), uint32(1<<32-1))
	f.Add(uint32(5), uint32(1<<31))
	f.Fuzz(func(t *testing.T, idx, gen uint32) {
		ud := userData(idx, gen)
		i, g := splitUserData(ud)
		if i != idx || g != gen {
			t.Fatalf("userData(%d, %d) = %#x splits to (%d, %d)", idx, gen, ud, i, g)
		}
		if idx != udInternal && ud == udStop {
			t.Fatalf("record (%d, %d) collides with the stop request", idx, gen)
		}
		s := newSlab(2, 2, 0)
		o := s.lookup(ud)
		if (o != nil) != (idx < 4 && gen == 0) {
			t.Fatalf("lookup(%d, %d) = %v", idx, gen, o)
		}
		if idx < 2 && gen == 0 {
			// Take record idx off the free list, then release it.
			for taken := []uint32{}; ; {
				i := <-s.freeOps
				if i == idx {
					for _, j := range taken {
						s.freeOps <- j
					}
					break
				}
				taken = append(taken, i)
			}
			s.release(idx)
			if s.lookup(ud) != nil {
				t.Fatal("released record still answers to its old generation")
			}
		}
	})
}

// TestTinyRing is invariants 3 and 8: with a 2-entry SQ, thousands of
// concurrent ops (file reads, stats, and pipe reads cancelled by ctx,
// whose cancels compete for the same tiny SQ) all complete correctly; the
// requests awaiting a CQE never exceed the CQ size.
func TestTinyRing(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "single-issuer"}[single], func(t *testing.T) {
			testTinyRing(t, config{entries: 2, singleIssuer: single})
		})
	}
}

func testTinyRing(t *testing.T, cfg config) {
	d := newTestUring(t, cfg)
	fd, content := openTemp(t, d, 64<<10, unix.O_RDONLY)
	defer d.Close(fd)
	pr, _ := pipe(t, false)
	const ops = 2000
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := 0; i < ops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 4 {
			case 0, 1:
				off := (i * 997) % (len(content) - 100)
				buf := make([]byte, 100)
				if n, err := d.ReadAt(context.Background(), fd, buf, int64(off)); n != 100 || err != nil || !bytes.Equal(buf, content[off:off+100]) {
					t.Errorf("ReadAt(%d) = %d, %v", off, n, err)
					failures.Add(1)
				}
			case 2:
				if st, err := d.Stat(context.Background(), fd); err != nil || st.Size != int64(len(content)) {
					t.Errorf("Stat = %v, %v", st.Size, err)
					failures.Add(1)
				}
			case 3:
				ctx, cancel := context.WithCancel(context.Background())
				go cancel()
				if _, err := d.ReadAt(ctx, pr, make([]byte, 8), -1); err != context.Canceled {
					t.Errorf("cancelled pipe read = %v", err)
					failures.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		return
	}
	cq := int64(d.ring.CQEntries())
	if m := d.maxPending.Load(); m > cq || m <= 0 {
		t.Errorf("up to %d requests awaited a CQE; the CQ holds %d", m, cq)
	}
	if d.ring.CQOverflow() != 0 {
		t.Errorf("CQ overflowed: %d", d.ring.CQOverflow())
	}
	// Cancels compete for the 2-entry SQ with the ops they cancel: two
	// reads pending on an empty pipe are cancelled at once, again and
	// again; no cancel may be dropped, or a read would never return.
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 2)
		for j := 0; j < 2; j++ {
			go func() {
				_, err := d.ReadAt(ctx, pr, make([]byte, 8), -1)
				errs <- err
			}()
		}
		waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight == 2 })
		cancel()
		for j := 0; j < 2; j++ {
			if err := <-errs; err != context.Canceled {
				t.Fatalf("round %d: cancelled read = %v", i, err)
			}
		}
	}
	if c := d.Stats().Cancelled; c < 400 {
		t.Errorf("%d cancels submitted, want at least 400", c)
	}

	// Every request submitted has been reaped, except the armed wake-up
	// read of the single-issuer design.
	armed := int64(0)
	if cfg.singleIssuer {
		armed = 1
	}
	if st := d.Stats(); st.InFlight != 0 || d.pending.Load() != armed {
		t.Errorf("after all ops returned: %d requests await a CQE; stats %+v", d.pending.Load(), st)
	}
}

// TestOpenCompletedAfterCancel is invariant 4: an open whose ctx is done
// while it is in flight, but which completes anyway, has its descriptor
// closed and returns ctx's error.
func TestOpenCompletedAfterCancel(t *testing.T) {
	d := newTestUring(t, config{entries: 8, nowait: true})
	dir := t.TempDir()
	os.WriteFile(dir+"/f", nil, 0o600)
	before := fdCount(t)
	ctx, cancel := context.WithCancel(context.Background())
	completed := d.Stats().Completed
	testHookSubmitted = func() {
		// Let the open complete, then cancel: the cancel finds nothing
		// and the CQE carries a descriptor.
		waitFor(t, "open completed", func() bool { return d.Stats().Completed > completed })
		cancel()
	}
	defer func() { testHookSubmitted = nil }()
	fd, err := d.Open(ctx, unix.AT_FDCWD, dir+"/f", unix.O_RDONLY, 0)
	if err != context.Canceled || fd != -1 {
		t.Fatalf("Open = %d, %v; want -1, context.Canceled", fd, err)
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after: the opened fd leaked", before, after)
	}
}

// TestReadCompletedAfterCancel is the rule of invariant 1 that a read which
// completes although its ctx was cancelled returns its real result.
func TestReadCompletedAfterCancel(t *testing.T) {
	d := newTestUring(t, config{entries: 8, nowait: false})
	r, w := pipe(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	completed := d.Stats().Completed
	testHookSubmitted = func() {
		unix.Write(w, []byte("won"))
		waitFor(t, "read completed", func() bool { return d.Stats().Completed > completed })
		cancel()
	}
	defer func() { testHookSubmitted = nil }()
	buf := make([]byte, 8)
	n, err := d.ReadAt(ctx, r, buf, -1)
	if n != 3 || err != nil || string(buf[:3]) != "won" {
		t.Fatalf("ReadAt = %d, %v, %q; want the completed read", n, err, buf[:n])
	}
	if d.Stats().Cancelled == 0 {
		t.Error("the cancel path was not taken")
	}
}

// TestSubmitFaults (invariant 3): transient io_uring_enter failures
// (EAGAIN, EBUSY, ENOMEM, a short submission) leave requests queued and
// retried, never dropped; an unrecoverable one fails the queued requests
// with its errno and the driver keeps working.
func TestSubmitFaults(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "single-issuer"}[single], func(t *testing.T) {
			testSubmitFaults(t, config{entries: 4, singleIssuer: single})
		})
	}
}

func testSubmitFaults(t *testing.T, cfg config) {
	// The hook is installed before the driver starts and restored after
	// it stopped (cleanups run last-in first-out): the completion thread
	// calls it.
	old := submitEnter
	t.Cleanup(func() { submitEnter = old })
	var faults []error
	var mu sync.Mutex
	submitEnter = func(r *uring.Ring, toSubmit, minComplete, flags uint32) (int, error) {
		mu.Lock()
		var fault error
		if len(faults) > 0 && toSubmit > 0 {
			fault, faults = faults[0], faults[1:]
		}
		mu.Unlock()
		switch {
		case fault == nil:
			return r.Enter(toSubmit, minComplete, flags)
		case fault == errShort:
			return r.Enter(1, minComplete, flags)
		default:
			return 0, fault
		}
	}
	d := newTestUring(t, cfg)
	fd, content := openTemp(t, d, 4096, unix.O_RDONLY)
	defer d.Close(fd)
	mu.Lock()
	faults = []error{syscall.EAGAIN, syscall.EBUSY, syscall.ENOMEM, errShort, syscall.EAGAIN}
	mu.Unlock()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			if n, err := d.ReadAt(context.Background(), fd, buf, int64(i*16)); n != 16 || err != nil || !bytes.Equal(buf, content[i*16:i*16+16]) {
				t.Errorf("ReadAt after transient faults = %d, %v", n, err)
			}
		}()
	}
	wg.Wait()

	mu.Lock()
	faults = []error{syscall.EINVAL}
	mu.Unlock()
	if _, err := d.ReadAt(context.Background(), fd, make([]byte, 16), 0); !isErrno(err, syscall.EINVAL) {
		t.Fatalf("ReadAt with enter failing EINVAL = %v", err)
	}
	if n, err := d.ReadAt(context.Background(), fd, make([]byte, 16), 0); n != 16 || err != nil {
		t.Fatalf("ReadAt after a failed enter = %d, %v", n, err)
	}
}

// errShort makes the injected enter submit one request of several.
var errShort = errors.New("short submission")

// TestSignalsOnCompletionThread: signals interrupting the completion
// thread's io_uring_enter (EINTR) are retried, and no completion is lost.
func TestSignalsOnCompletionThread(t *testing.T) {
	d := newTestUring(t, config{entries: 16, nowait: false})
	r, w := pipe(t, false)
	tid := int(d.reaperTid.Load())
	for i := 0; i < 200; i++ {
		res := make(chan int)
		go func() {
			n, _ := d.ReadAt(context.Background(), r, make([]byte, 4), -1)
			res <- n
		}()
		waitFor(t, "read in flight", func() bool { return d.Stats().InFlight == 1 })
		for j := 0; j < 5; j++ {
			if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
				t.Fatal(err)
			}
		}
		unix.Write(w, []byte("sig!"))
		if n := <-res; n != 4 {
			t.Fatalf("read %d after signals = %d", i, n)
		}
	}
}
