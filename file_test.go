package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// onBackends runs test once per I/O backend, each on its own executor.
func onBackends(t *testing.T, workers int, test func(t *testing.T, e *Executor)) {
	for _, backend := range []string{"uring", "portable"} {
		t.Run(backend, func(t *testing.T) {
			e := newExecutor(t, Options{Workers: workers, Backend: backend})
			if got := e.Backend(); got != backend {
				if backend == "uring" {
					t.Skipf("io_uring unavailable here: %s", e.BackendReason())
				}
				t.Fatalf("Backend() = %q (%s); want %q", got, e.BackendReason(), backend)
			}
			test(t, e)
		})
	}
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestFileRoundTrip(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		name := filepath.Join(t.TempDir(), "data")
		f, err := Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		if n, err := f.Write(ctx, data); n != len(data) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if n, err := f.Write(ctx, []byte("tail")); n != 4 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if n, err := f.WriteAt(ctx, []byte("XY"), 2); n != 2 || err != nil {
			t.Fatalf("WriteAt = %d, %v", n, err)
		}
		copy(data[2:], "XY")
		if err := f.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != int64(len(data))+4 || fi.Name() != "data" || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o600 != 0o600 {
			t.Fatalf("Stat: size %d name %q mode %v", fi.Size(), fi.Name(), fi.Mode())
		}
		got := make([]byte, len(data))
		if n, err := f.ReadAt(ctx, got, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadAt = %d, %v", n, err)
		}
		// io.ReaderAt: short only with an error, io.EOF at the end.
		tail := make([]byte, 10)
		if n, err := f.ReadAt(ctx, tail, int64(len(data))); n != 4 || err != io.EOF || string(tail[:4]) != "tail" {
			t.Fatalf("ReadAt past the end = %d, %v", n, err)
		}
		if _, err := f.ReadAt(ctx, tail, -1); err == nil {
			t.Fatal("ReadAt at a negative offset succeeded")
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}

		// The file through the io interfaces, checked by iotest.
		f, err = Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append([]byte(nil), data...), "tail"...)
		if err := iotest.TestReader(f.Reader(ctx), want); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if n := openFDs(t); n != fds {
			t.Fatalf("%d descriptors open after closing everything; %d before", n, fds)
		}
	})
}

func TestFileErrors(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		dir := t.TempDir()
		_, err := Open(ctx, filepath.Join(dir, "missing"))
		var pe *fs.PathError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" || pe.Path != filepath.Join(dir, "missing") {
			t.Fatalf("Open of a missing file = %v; want a *PathError matching fs.ErrNotExist", err)
		}
		if _, err := OpenFile(ctx, dir, os.O_WRONLY, 0); !errors.Is(err, syscall.EISDIR) {
			t.Fatalf("opening a directory for writing = %v; want EISDIR", err)
		}
		if _, err := OpenFile(ctx, filepath.Join(dir, "x"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
			t.Fatal(err)
		} else if _, err := OpenFile(ctx, filepath.Join(dir, "x"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL on an existing file = %v; want fs.ErrExist", err)
		}

		f, err := OpenFile(ctx, filepath.Join(dir, "log"), os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(ctx, []byte("x"), 0); err == nil {
			t.Fatal("WriteAt on an O_APPEND file succeeded")
		}
		ro, err := Open(ctx, filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ro.Write(ctx, []byte("x")); !errors.Is(err, syscall.EBADF) {
			t.Fatalf("Write to a read-only file = %v; want EBADF", err)
		}
		ro.Close()
		f.Close()
		for name, op := range map[string]func() error{
			"ReadAt":  func() error { _, err := f.ReadAt(ctx, make([]byte, 1), 0); return err },
			"Read":    func() error { _, err := f.Read(ctx, make([]byte, 1)); return err },
			"WriteAt": func() error { _, err := f.WriteAt(ctx, []byte("x"), 0); return err },
			"Write":   func() error { _, err := f.Write(ctx, []byte("x")); return err },
			"Sync":    func() error { return f.Sync(ctx) },
			"Stat":    func() error { _, err := f.Stat(ctx); return err },
			"Close":   f.Close,
		} {
			if err := op(); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("%s after Close = %v; want fs.ErrClosed", name, err)
			}
		}
		var nilFile *File
		if err := nilFile.Close(); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Close of a nil *File = %v", err)
		}
	})
}

// pipeFile opens the read end of a new pipe as a File, so that reads block
// until the test writes.
func pipeFile(t *testing.T, ctx context.Context) (*File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	defer r.Close()
	f, err := Open(ctx, "/proc/self/fd/"+itoa(int(r.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestFileCancel: a read whose context ends returns the context's error; a
// read whose data arrived returns it. Both give the worker back.
func TestFileCancel(t *testing.T) {
	onBackends(t, 1, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		f, w := pipeFile(t, e.Context())
		cancels := make(chan context.CancelFunc, 1)
		h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			// A context derived from the task's keeps the task in its
			// values, so the read still gives the worker up.
			ctx, cancel := context.WithCancel(ctx)
			cancels <- cancel
			return f.Read(ctx, make([]byte, 10))
		})
		cancel := <-cancels
		waitFor(t, func() bool { return e.Stats().Waiting == 1 })
		cancel()
		if _, err := h.Join(context.Background()); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Read = %v; want context.Canceled", err)
		}
		// The file still works.
		w.Write([]byte("hello"))
		buf := make([]byte, 10)
		if n, err := f.Read(e.Context(), buf); n != 5 || err != nil || string(buf[:5]) != "hello" {
			t.Fatalf("Read after a cancelled Read = %d, %v", n, err)
		}
		f.Close()
		w.Close()
		if n := openFDs(t); n != fds {
			t.Fatalf("%d descriptors open; %d before", n, fds)
		}
	})
}

// TestFileClosePendingReads: Close cancels the reads in flight and returns
// promptly; they fail with fs.ErrClosed.
func TestFileClosePendingReads(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		f, _ := pipeFile(t, e.Context())
		const readers = 20
		var wg sync.WaitGroup
		errs := make(chan error, readers)
		for i := 0; i < readers; i++ {
			wg.Add(1)
			Spawn(e.Context(), func(ctx context.Context) (int, error) {
				defer wg.Done()
				_, err := f.Read(ctx, make([]byte, 8))
				errs <- err
				return 0, nil
			})
		}
		waitFor(t, func() bool { return e.Stats().Waiting == readers })
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, fs.ErrClosed) {
				t.Errorf("a read pending at Close returned %v; want fs.ErrClosed", err)
			}
		}
	})
}

// TestFileTasksShareFewWorkers: many tasks read at once on one worker; each
// gives the worker up while its read is in flight.
func TestFileTasksShareFewWorkers(t *testing.T) {
	onBackends(t, 1, func(t *testing.T, e *Executor) {
		name := filepath.Join(t.TempDir(), "blocks")
		const blocks, size = 256, 4096
		data := make([]byte, blocks*size)
		for i := range data {
			data[i] = byte(i / size)
		}
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := Open(e.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := NewTaskResultBundle(e.Context())
		for i := 0; i < blocks; i++ {
			b.Spawn(itoa(i), func(ctx context.Context) error {
				buf := make([]byte, size)
				if _, err := f.ReadAt(ctx, buf, int64(i*size)); err != nil {
					return err
				}
				if buf[0] != byte(i) || buf[size-1] != byte(i) {
					return errors.New("wrong block")
				}
				return nil
			})
		}
		if err := b.Wait(); err != nil {
			t.Fatal(err)
		}
		if m := e.Stats().MaxRunning; m != 1 {
			t.Fatalf("MaxRunning = %d", m)
		}
	})
}

// TestFileOutsideTasks: the File API works from plain goroutines and with a
// context that names no executor (the default one).
func TestFileOutsideTasks(t *testing.T) {
	name := filepath.Join(t.TempDir(), "plain")
	ctx := context.Background()
	f, err := Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.WriteAt(ctx, []byte{byte('a' + i)}, int64(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	f.Close()
	got, err := os.ReadFile(name)
	if err != nil || string(got) != "abcdefgh" {
		t.Fatalf("file = %q, %v", got, err)
	}
}

func TestBackendOption(t *testing.T) {
	t.Setenv("EXECUTOR_BACKEND", "portable")
	e := newExecutor(t, Options{})
	if e.Backend() != "portable" || e.BackendReason() == "" {
		t.Fatalf("with EXECUTOR_BACKEND=portable: %q (%s)", e.Backend(), e.BackendReason())
	}
	e2, err := New(Options{Backend: "portable"})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown(context.Background())
	if e2.Backend() != "portable" {
		t.Fatalf("Backend() = %q", e2.Backend())
	}
}

// TestFileReadWaitsOnlyOnMiss: a task's read of data in the page cache
// completes inline, with no wait; a read of data evicted from it misses the
// inline attempt, waits once (the driver's WaitAt) and returns the data,
// through ReadAt's fast path and through Read.
func TestFileReadWaitsOnlyOnMiss(t *testing.T) {
	onBackends(t, 1, func(t *testing.T, e *Executor) {
		name := filepath.Join(t.TempDir(), "data")
		data := bytes.Repeat([]byte("executor"), 32<<10) // 256 KiB
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		evict := func() {
			t.Helper()
			of, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer of.Close()
			if err := of.Sync(); err != nil { // only clean pages can be dropped
				t.Fatal(err)
			}
			// A readahead the last read started may still be filling
			// pages: drop them until none comes back for a while.
			for try := 0; ; try++ {
				if err := unix.Fadvise(int(of.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
					t.Skipf("fadvise: %v", err)
				}
				if resident(t, of) {
					t.Skip("the file system keeps the file in memory: nothing to miss")
				}
				time.Sleep(20 * time.Millisecond)
				if !resident(t, of) {
					break
				}
				if try == 10 {
					t.Fatal("pages keep coming back into the page cache")
				}
			}
		}
		reads := func() int64 {
			for _, w := range e.Stats().Waits {
				if w.Kind == "read" {
					return w.Count
				}
			}
			return 0
		}
		inTask := func(fn func(ctx context.Context) error) {
			t.Helper()
			h := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
			if _, err := h.Join(e.Context()); err != nil {
				t.Fatal(err)
			}
		}
		f, err := Open(e.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		readAll := func(ctx context.Context) error {
			got := make([]byte, len(data))
			if n, err := f.ReadAt(ctx, got, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
				return fmt.Errorf("ReadAt = %d, %v (data equal: %v)", n, err, bytes.Equal(got, data))
			}
			return nil
		}

		inTask(readAll) // written just now: cached
		if n := reads(); n != 0 {
			t.Fatalf("a read of cached data waited (%d read waits)", n)
		}
		evict()
		inTask(readAll)
		if n := reads(); n != 1 {
			t.Fatalf("ReadAt of evicted data: %d read waits; want 1", n)
		}
		evict()
		inTask(func(ctx context.Context) error {
			got := make([]byte, len(data))
			if n, err := f.Read(ctx, got); n == 0 || err != nil || !bytes.Equal(got[:n], data[:n]) {
				return fmt.Errorf("Read = %d, %v", n, err)
			}
			return nil
		})
		if n := reads(); n != 2 {
			t.Fatalf("Read of evicted data: %d read waits in all; want 2", n)
		}
	})
}

// resident reports whether any page of f is in the page cache (mincore(2)).
func resident(t *testing.T, f *os.File) bool {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	vec := make([]byte, (len(mem)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 != 0 {
			return true
		}
	}
	return false
}
