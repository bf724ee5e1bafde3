package driver

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

func TestOpenKind(t *testing.T) {
	t.Setenv(EnvBackend, "")
	d, err := Open("portable")
	if err != nil || d.Name() != "portable" || d.Reason() != "requested" {
		t.Fatalf("Open(portable) = %v, %v", d, err)
	}
	d.Shutdown()
	if _, err := Open("epoll"); err == nil {
		t.Error("Open(epoll) succeeded")
	}

	t.Setenv(EnvBackend, "portable")
	d, err = Open("")
	if err != nil || d.Name() != "portable" || d.Reason() != "forced by EXECUTOR_BACKEND=portable" {
		t.Fatalf("Open(\"\") with %s=portable = %v, %v", EnvBackend, d, err)
	}
	d.Shutdown()
	t.Setenv(EnvBackend, "kqueue")
	if _, err := Open(""); err == nil || !strings.Contains(err.Error(), EnvBackend) {
		t.Errorf("Open(\"\") with a bad %s = %v", EnvBackend, err)
	}
	t.Setenv(EnvBackend, "")

	d, err = Open("uring")
	if err != nil {
		var se *uring.SetupError
		if errors.As(err, &se) {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatal(err)
	}
	if d.Name() != "uring" || d.Reason() != "requested" {
		t.Errorf("Open(uring): %s, %q", d.Name(), d.Reason())
	}
	d.Shutdown()
	d, err = Open("")
	if err != nil || d.Name() != "uring" || d.Reason() != "io_uring available" {
		t.Errorf("Open(\"\") = %v, %v", d, err)
	}
	d.Shutdown()
}

// TestFallbackWhenSetupRefused is invariant 7 (see the package doc): a
// refused io_uring_setup selects the portable backend, and Reason names
// the errno. (A shortage, ENOMEM or EMFILE, is no refusal: see
// TestShortageIsNotAFallback.)
func TestFallbackWhenSetupRefused(t *testing.T) {
	t.Setenv(EnvBackend, "")
	defer func(old func(uint32, *uring.Params) (*uring.Ring, error)) { setupRing = old }(setupRing)
	for _, tc := range []struct {
		errno syscall.Errno
		name  string
	}{{syscall.ENOSYS, "ENOSYS"}, {syscall.EPERM, "EPERM"}} {
		setupRing = func(uint32, *uring.Params) (*uring.Ring, error) {
			return nil, &uring.SetupError{Op: "io_uring_setup", Err: tc.errno}
		}
		d, err := Open("")
		if err != nil {
			t.Fatal(err)
		}
		if d.Name() != "portable" || !strings.Contains(d.Reason(), tc.name) {
			t.Errorf("setup refused with %s: backend %s, reason %q", tc.name, d.Name(), d.Reason())
		}
		d.Shutdown()
		if _, err := Open("uring"); !errors.Is(err, tc.errno) {
			t.Errorf("Open(uring) refused with %s: err = %v", tc.name, err)
		}
	}
}

// TestFallbackWhenOpcodeMissing is invariant 7 for an older kernel: the
// ring is set up but lacks an opcode, so it is released and the portable
// backend is chosen.
func TestFallbackWhenOpcodeMissing(t *testing.T) {
	t.Setenv(EnvBackend, "")
	if d, err := Open("uring"); err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	} else {
		d.Shutdown()
	}
	defer func(old func(*uring.Ring) (*uring.Probe, error)) { probeRing = old }(probeRing)
	probeRing = func(*uring.Ring) (*uring.Probe, error) {
		return uring.NewProbe(uring.OpNop, uring.OpRead, uring.OpWrite, uring.OpFsync, uring.OpOpenat, uring.OpAsyncCancel), nil
	}
	before := fdCount(t)
	d, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "portable" || d.Reason() != "io_uring lacks IORING_OP_STATX" {
		t.Errorf("backend %s, reason %q", d.Name(), d.Reason())
	}
	d.Shutdown()
	if after := fdCount(t); after != before {
		t.Errorf("fds: %d before, %d after falling back (ring leaked)", before, after)
	}
	probeRing = func(*uring.Ring) (*uring.Probe, error) { return nil, syscall.EINVAL }
	if _, err := Open("uring"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("probe failure: Open(uring) = %v", err)
	}
}

func TestFileOps(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		ctx := context.Background()
		dir := t.TempDir()
		fd, err := d.Open(ctx, unix.AT_FDCWD, dir+"/f", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("O_CLOEXEC not set: flags %#x, %v", flags, err)
		}
		if n, err := d.WriteAt(ctx, fd, []byte("hello, "), -1); n != 7 || err != nil {
			t.Fatalf("WriteAt(-1) = %d, %v", n, err)
		}
		if n, err := d.WriteAt(ctx, fd, []byte("world"), 7); n != 5 || err != nil {
			t.Fatalf("WriteAt(7) = %d, %v", n, err)
		}
		if err := d.Fsync(ctx, fd, false); err != nil {
			t.Fatal(err)
		}
		if err := d.Fsync(ctx, fd, true); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32)
		if n, err := d.ReadAt(ctx, fd, buf, 0); n != 12 || err != nil || string(buf[:n]) != "hello, world" {
			t.Fatalf("ReadAt(0) = %d, %v, %q", n, err, buf[:n])
		}
		// The file position is 7, after the positional write-at-current.
		if n, err := d.ReadAt(ctx, fd, buf, -1); n != 5 || err != nil || string(buf[:n]) != "world" {
			t.Fatalf("ReadAt(-1) = %d, %v, %q", n, err, buf[:n])
		}
		if n, err := d.ReadAt(ctx, fd, buf, -1); n != 0 || err != nil {
			t.Fatalf("ReadAt at EOF = %d, %v", n, err)
		}
		if n, err := d.ReadAt(ctx, fd, nil, 0); n != 0 || err != nil {
			t.Fatalf("ReadAt(nil) = %d, %v", n, err)
		}
		st, err := d.Stat(ctx, fd)
		if err != nil {
			t.Fatal(err)
		}
		var want unix.Stat_t
		if err := unix.Fstat(fd, &want); err != nil {
			t.Fatal(err)
		}
		if st.Size != 12 || st.Mode != want.Mode || st.Ino != want.Ino || st.Dev != want.Dev ||
			st.Nlink != want.Nlink || st.Uid != want.Uid || st.Mtim != want.Mtim || st.Blksize != want.Blksize {
			t.Errorf("Stat = %+v, fstat = %+v", st, want)
		}
		if err := d.Close(fd); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dir + "/f"); string(got) != "hello, world" {
			t.Errorf("file holds %q", got)
		}
	})
}

func TestErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		ctx := context.Background()
		if _, err := d.Open(ctx, unix.AT_FDCWD, t.TempDir()+"/missing", unix.O_RDONLY, 0); !isErrno(err, syscall.ENOENT) {
			t.Errorf("Open(missing) = %v, want ENOENT", err)
		}
		if _, err := d.Open(ctx, unix.AT_FDCWD, "a\x00b", unix.O_RDONLY, 0); !isErrno(err, syscall.EINVAL) {
			t.Errorf("Open(NUL in path) = %v, want EINVAL", err)
		}
		// A descriptor number far above anything open.
		const bad = 1 << 20
		buf := make([]byte, 8)
		if _, err := d.ReadAt(ctx, bad, buf, 0); !isErrno(err, syscall.EBADF) {
			t.Errorf("ReadAt(bad fd) = %v, want EBADF", err)
		}
		if _, err := d.WriteAt(ctx, -1, buf, 0); !isErrno(err, syscall.EBADF) {
			t.Errorf("WriteAt(-1) = %v, want EBADF", err)
		}
		if err := d.Fsync(ctx, bad, false); !isErrno(err, syscall.EBADF) {
			t.Errorf("Fsync(bad fd) = %v, want EBADF", err)
		}
		if _, err := d.Stat(ctx, bad); !isErrno(err, syscall.EBADF) {
			t.Errorf("Stat(bad fd) = %v, want EBADF", err)
		}
		if err := d.Close(-5); !isErrno(err, syscall.EBADF) {
			t.Errorf("Close(-5) = %v, want EBADF", err)
		}
		d.CancelFD(-5) // must not panic or hang
		d.CancelFD(bad)
		dir, err := d.Open(ctx, unix.AT_FDCWD, t.TempDir(), unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(dir)
		if _, err := d.ReadAt(ctx, dir, buf, 0); !isErrno(err, syscall.EISDIR) {
			t.Errorf("ReadAt(directory) = %v, want EISDIR", err)
		}
	})
}

// TestCancelledBeforeStart: an op whose ctx is already done is not
// started.
func TestCancelledBeforeStart(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		r, w := pipe(t, true)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		before := d.Stats()
		if _, err := d.ReadAt(ctx, r, make([]byte, 4), -1); err != context.Canceled {
			t.Errorf("ReadAt = %v, want context.Canceled", err)
		}
		if _, err := d.Open(ctx, unix.AT_FDCWD, "/", unix.O_RDONLY, 0); err != context.Canceled {
			t.Errorf("Open = %v, want context.Canceled", err)
		}
		if after := d.Stats(); after.Submitted != before.Submitted || after.Completed != before.Completed {
			t.Errorf("an op was started: before %+v after %+v", before, after)
		}
		// With data ready (the RWF_NOWAIT fast path would succeed), a
		// done ctx still prevents the read.
		unix.Write(w, []byte("x"))
		if _, err := d.ReadAt(ctx, r, make([]byte, 4), -1); err != context.Canceled {
			t.Errorf("ReadAt with data ready = %v, want context.Canceled", err)
		}
		if n, err := unix.Read(r, make([]byte, 4)); n != 1 || err != nil {
			t.Errorf("pipe data consumed by a cancelled read: %d, %v", n, err)
		}
	})
}

// TestCancelPendingRead: cancelling a read blocked on an empty pipe
// returns ctx's error, and the cancelled read consumes nothing written
// afterwards.
func TestCancelPendingRead(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		r, w := pipe(t, true)
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan error)
		buf := bytes.Repeat([]byte{0xAA}, 16)
		go func() {
			_, err := d.ReadAt(ctx, r, buf, -1)
			done <- err
		}()
		waitFor(t, "read in flight", func() bool { return d.Stats().InFlight == 1 })
		cancel(errors.New("because"))
		if err := <-done; err != context.Canceled {
			t.Fatalf("ReadAt = %v, want context.Canceled", err)
		}
		unix.Write(w, []byte("data"))
		got := make([]byte, 8)
		if n, err := unix.Read(r, got); n != 4 || err != nil {
			t.Errorf("read after cancel: %d, %v", n, err)
		}
		if !bytes.Equal(buf, bytes.Repeat([]byte{0xAA}, 16)) {
			t.Errorf("cancelled read's buffer was written: %x", buf)
		}
		if st := d.Stats(); st.InFlight != 0 {
			t.Errorf("InFlight = %d after the op returned", st.InFlight)
		}
	})
}

// TestCloseCancelsPendingReads is invariant 5: Close with reads pending
// on a pipe returns, and the reads return an error.
func TestCloseCancelsPendingReads(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[1])
		const readers = 50
		errs := make(chan error, readers)
		for i := 0; i < readers; i++ {
			go func() {
				_, err := d.ReadAt(context.Background(), fds[0], make([]byte, 8), -1)
				errs <- err
			}()
		}
		waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight == readers })
		if err := d.Close(fds[0]); err != nil {
			t.Fatal(err)
		}
		// Close returned, so every read has completed already.
		for i := 0; i < readers; i++ {
			select {
			case err := <-errs:
				if !isErrno(err, syscall.ECANCELED) {
					t.Errorf("pending read returned %v, want ECANCELED", err)
				}
			default:
				// The goroutine may not have sent yet, but its op is done.
				if err := <-errs; !isErrno(err, syscall.ECANCELED) {
					t.Errorf("pending read returned %v, want ECANCELED", err)
				}
			}
		}
		if d.Stats().InFlight != 0 {
			t.Errorf("InFlight = %d after Close", d.Stats().InFlight)
		}
	})
}

// TestCancelFDLeavesOtherFDs: CancelFD touches only its descriptor.
func TestCancelFDLeavesOtherFDs(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		r1, _ := pipe(t, true)
		r2, w2 := pipe(t, true)
		res1 := make(chan error, 1)
		res2 := make(chan int, 1)
		go func() {
			_, err := d.ReadAt(context.Background(), r1, make([]byte, 4), -1)
			res1 <- err
		}()
		go func() {
			n, _ := d.ReadAt(context.Background(), r2, make([]byte, 4), -1)
			res2 <- n
		}()
		waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight == 2 })
		d.CancelFD(r1)
		if err := <-res1; !isErrno(err, syscall.ECANCELED) {
			t.Errorf("cancelled read = %v", err)
		}
		select {
		case n := <-res2:
			t.Fatalf("read on the other fd returned %d", n)
		default:
		}
		unix.Write(w2, []byte("ok"))
		if n := <-res2; n != 2 {
			t.Errorf("other read = %d, want 2", n)
		}
		d.CancelFD(r1) // nothing in flight: returns at once
	})
}

// TestShutdown is invariant 6: Shutdown ends pending ops, later ops get
// ErrClosed, and no descriptor or goroutine (goleak in TestMain) is left.
func TestShutdown(t *testing.T) {
	t.Setenv(EnvBackend, "")
	for _, kind := range []string{"uring", "portable"} {
		t.Run(kind, func(t *testing.T) {
			before := fdCount(t)
			d, err := Open(kind)
			if err != nil {
				t.Skipf("%s unavailable: %v", kind, err)
			}
			var fds [2]int
			if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, 10)
			for i := 0; i < 10; i++ {
				go func() {
					_, err := d.ReadAt(context.Background(), fds[0], make([]byte, 8), -1)
					errs <- err
				}()
			}
			waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight == 10 })
			if err := d.Shutdown(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				if err := <-errs; err != ErrClosed {
					t.Errorf("pending read at Shutdown returned %v, want ErrClosed", err)
				}
			}
			if _, err := d.ReadAt(context.Background(), fds[0], make([]byte, 8), -1); err != ErrClosed {
				t.Errorf("ReadAt after Shutdown = %v", err)
			}
			if _, err := d.Open(context.Background(), unix.AT_FDCWD, "/", unix.O_RDONLY, 0); err != ErrClosed {
				t.Errorf("Open after Shutdown = %v", err)
			}
			if _, err := d.Stat(context.Background(), fds[0]); err != ErrClosed {
				t.Errorf("Stat after Shutdown = %v", err)
			}
			d.CancelFD(fds[0])
			if err := d.Shutdown(); err != nil {
				t.Errorf("second Shutdown: %v", err)
			}
			unix.Close(fds[0])
			unix.Close(fds[1])
			if after := fdCount(t); after != before {
				t.Errorf("fds: %d before Open, %d after Shutdown", before, after)
			}
		})
	}
}

// TestOpenCancelRace: opens cancelled at every point leave no descriptor
// behind (invariant 4).
func TestOpenCancelRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		dir := t.TempDir()
		os.WriteFile(dir+"/f", []byte("x"), 0o600)
		before := fdCount(t)
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithCancel(context.Background())
				go cancel()
				fd, err := d.Open(ctx, unix.AT_FDCWD, dir+"/f", unix.O_RDONLY, 0)
				if err == nil {
					d.Close(fd)
				} else if err != context.Canceled {
					t.Errorf("Open = %v", err)
				}
			}()
		}
		wg.Wait()
		if after := fdCount(t); after != before {
			t.Errorf("fds: %d before, %d after", before, after)
		}
	})
}

// TestInliner: TryAt completes what needs no wait (cached file data, a
// pipe with data or room) and declines what would wait (an empty pipe),
// without starting anything; WaitAt then completes the declined transfer.
func TestInliner(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		path, content := tempFile(t, 8192)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fd := int(f.Fd())
		buf := make([]byte, 100)
		if n, err, ok := d.TryAt(fd, buf, 4000, false); !ok || n != 100 || err != nil || !bytes.Equal(buf, content[4000:4100]) {
			t.Errorf("TryAt(cached) = %d, %v, %v", n, err, ok)
		}
		if n, err, ok := d.TryAt(fd, []byte("xyz"), 10, true); ok && (n != 3 || err != nil) {
			t.Errorf("TryAt(write) = %d, %v, %v", n, err, ok)
		}
		if _, _, ok := d.TryAt(fd, nil, 0, false); ok {
			t.Error("TryAt of an empty buffer claims to have completed")
		}
		r, w := pipe(t, true)
		before := d.Stats()
		if _, _, ok := d.TryAt(r, buf, -1, false); ok {
			t.Error("TryAt on an empty pipe claims to have completed")
		}
		if after := d.Stats(); after.InFlight != 0 || after.Submitted != before.Submitted || after.Completed != before.Completed {
			t.Errorf("a declined TryAt started an op: %+v", after)
		}
		if n, err, ok := d.TryAt(w, []byte("ab"), -1, true); !ok || n != 2 || err != nil {
			t.Errorf("TryAt(pipe, write) = %d, %v, %v", n, err, ok)
		}
		if n, err, ok := d.TryAt(r, buf, -1, false); !ok || n != 2 || err != nil {
			t.Errorf("TryAt(pipe with data) = %d, %v, %v", n, err, ok)
		}
		if _, err, ok := d.TryAt(1<<20, buf, 0, false); ok && !isErrno(err, syscall.EBADF) {
			t.Errorf("TryAt(bad fd) = %v, %v", err, ok)
		}

		// The declined read, completed by WaitAt once the writer comes.
		if _, _, ok := d.TryAt(r, buf, -1, false); ok {
			t.Fatal("TryAt on an emptied pipe claims to have completed")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if n, err := d.WaitAt(context.Background(), r, buf, -1, false); n != 3 || err != nil || string(buf[:n]) != "cde" {
				t.Errorf("WaitAt(pipe) = %d, %v, %q", n, err, buf[:n])
			}
		}()
		waitFor(t, "the read in flight", func() bool { return d.Stats().InFlight == 1 })
		if n, err := d.WaitAt(context.Background(), w, []byte("cde"), -1, true); n != 3 || err != nil {
			t.Errorf("WaitAt(pipe, write) = %d, %v", n, err)
		}
		<-done
		if n, err := d.WaitAt(context.Background(), fd, buf, 4000, false); n != 100 || err != nil || !bytes.Equal(buf, content[4000:4100]) {
			t.Errorf("WaitAt(file) = %d, %v", n, err)
		}
		if _, err := d.WaitAt(context.Background(), -1, buf, 0, false); !isErrno(err, syscall.EBADF) {
			t.Errorf("WaitAt(-1) = %v; want EBADF", err)
		}
	})
}

// TestWaitAtSkipsInline: on the uring backend, ReadAt of cached data
// completes inline, and WaitAt, for which the caller's TryAt has just
// failed, goes to the ring without a second attempt.
func TestWaitAtSkipsInline(t *testing.T) {
	// No lone blocking call: a read that is not inline goes to the ring.
	d := newTestUring(t, config{entries: 64, nowait: true, singleIssuer: true})
	path, content := tempFile(t, 8192)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, ctx, buf := int(f.Fd()), context.Background(), make([]byte, 100)
	before := d.Stats()
	if n, err := d.ReadAt(ctx, fd, buf, 100); n != 100 || err != nil || !bytes.Equal(buf, content[100:200]) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	mid := d.Stats()
	if mid.Inline != before.Inline+1 || mid.Submitted != before.Submitted {
		t.Errorf("ReadAt of cached data: inline %d -> %d, submitted %d -> %d; want one inline read",
			before.Inline, mid.Inline, before.Submitted, mid.Submitted)
	}
	if n, err := d.WaitAt(ctx, fd, buf, 200, false); n != 100 || err != nil || !bytes.Equal(buf, content[200:300]) {
		t.Fatalf("WaitAt = %d, %v", n, err)
	}
	after := d.Stats()
	if after.Inline != mid.Inline || after.Submitted == mid.Submitted {
		t.Errorf("WaitAt: inline %d -> %d, submitted %d -> %d; want a ring read",
			mid.Inline, after.Inline, mid.Submitted, after.Submitted)
	}
}

// TestCancelFDWithLateOps (invariant 5): ops that begin on a descriptor
// while CancelFD is waiting for the earlier ones to end are cancelled too,
// so that CancelFD returns instead of waiting for them forever.
func TestCancelFDWithLateOps(t *testing.T) {
	eachBackend(t, func(t *testing.T, d Driver) {
		for range 100 {
			r, w := pipe(t, true)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 8 {
				wg.Go(func() {
					if i%2 == 1 {
						<-start // these race with CancelFD
					}
					d.ReadAt(context.Background(), r, make([]byte, 1), -1)
				})
			}
			waitFor(t, "reads in flight", func() bool { return d.Stats().InFlight >= 4 })
			cancelled := make(chan struct{})
			go func() {
				d.CancelFD(r)
				close(cancelled)
			}()
			close(start)
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
				t.Fatal("CancelFD still waits 10 s after it was called")
			}
			unix.Close(w) // ends the reads that began after CancelFD returned
			wg.Wait()
			unix.Close(r)
		}
	})
}
