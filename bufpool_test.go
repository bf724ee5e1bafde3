package executor

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestBufferPoolGetPut(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	ctx := e.Context()
	if _, err := NewBufferPool(ctx, 0, 1); err == nil {
		t.Error("NewBufferPool with size 0 succeeded")
	}
	if _, err := NewBufferPool(ctx, 4096, 0); err == nil {
		t.Error("NewBufferPool with count 0 succeeded")
	}
	if _, err := NewBufferPool(ctx, 1<<30, 1<<20); err == nil {
		t.Error("NewBufferPool of 1 PiB succeeded")
	}
	p, err := NewBufferPool(ctx, 5000, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Size() != 8192 || p.Len() != 3 {
		t.Fatalf("Size, Len = %d, %d; want 8192 (5000 rounded up to BufferAlign), 3", p.Size(), p.Len())
	}
	var bufs [][]byte
	for range 3 {
		b, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 8192 || cap(b) != 8192 || uintptr(unsafe.Pointer(&b[0]))%BufferAlign != 0 {
			t.Fatalf("buffer of len %d, cap %d at %p: want 8192, 8192, aligned to %d", len(b), cap(b), &b[0], BufferAlign)
		}
		for _, o := range bufs {
			if &o[0] == &b[0] {
				t.Fatal("the same buffer given out twice")
			}
		}
		bufs = append(bufs, b)
	}
	if _, ok := p.TryGet(); ok {
		t.Fatal("TryGet succeeded with every buffer given out")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := p.Get(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with every buffer out and a deadline = %v, want DeadlineExceeded", err)
	}

	// Bad Puts are refused and change nothing.
	for name, b := range map[string][]byte{
		"foreign":    make([]byte, 8192),
		"mid-buffer": bufs[0][4096:],
		"empty":      nil,
	} {
		if err := p.Put(b); !errors.Is(err, ErrForeignBuffer) {
			t.Errorf("Put(%s) = %v, want ErrForeignBuffer", name, err)
		}
	}
	if err := p.Put(bufs[1][:10]); err != nil {
		t.Fatalf("Put of a resliced buffer: %v", err)
	}
	if err := p.Put(bufs[1]); !errors.Is(err, ErrForeignBuffer) {
		t.Fatalf("a second Put of the same buffer = %v, want ErrForeignBuffer", err)
	}
	b, ok := p.TryGet()
	if !ok || &b[0] != &bufs[1][0] {
		t.Fatal("TryGet did not return the one buffer put back")
	}

	// A task waiting in Get gives its worker up and gets the buffer
	// another task puts back.
	got := Spawn(ctx, func(ctx context.Context) ([]byte, error) { return p.Get(ctx) })
	put := Spawn(ctx, func(ctx context.Context) (int, error) {
		for e.Stats().Waiting == 0 {
			Yield(ctx)
		}
		return 0, p.Put(bufs[2])
	})
	if _, err := put.Join(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := got.Join(ctx); err != nil || &b[0] != &bufs[2][0] {
		t.Fatalf("waiting Get = %p, %v; want the buffer put back", b, err)
	}
}

func TestBufferPoolClose(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		p, err := NewBufferPool(ctx, 4096, 1)
		if err != nil {
			t.Fatal(err)
		}
		wantReg := e.Backend() == BackendUring
		if p.Registered() != wantReg {
			t.Fatalf("Registered() = %v on %s (%v)", p.Registered(), e.Backend(), p.RegisterError())
		}
		if !wantReg && !errors.Is(p.RegisterError(), errors.ErrUnsupported) {
			t.Fatalf("RegisterError() = %v on portable, want ErrUnsupported", p.RegisterError())
		}
		b, err := p.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waiter := Spawn(ctx, func(ctx context.Context) ([]byte, error) { return p.Get(ctx) })
		for e.Stats().Waiting == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := waiter.Join(ctx); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("a Get waiting when the pool closed = %v, want fs.ErrClosed", err)
		}
		if _, err := p.Get(ctx); !errors.Is(err, fs.ErrClosed) {
			t.Fatalf("Get after Close = %v, want fs.ErrClosed", err)
		}
		if p.Registered() != wantReg {
			t.Fatal("the registration ended while a buffer was still out")
		}
		if err := p.Put(b); err != nil {
			t.Fatal(err)
		}
		if p.Registered() {
			t.Fatal("still registered once the last buffer came back to a closed pool")
		}
		if _, ok := p.TryGet(); ok {
			t.Fatal("TryGet succeeded on a closed pool")
		}
		if err := p.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// openDirect writes content to a temporary file and opens it for reading
// and writing with O_DIRECT, closed at the end of the test; it skips the
// test where the file system refuses O_DIRECT.
func openDirect(t *testing.T, ctx context.Context, content []byte) *File {
	t.Helper()
	name := filepath.Join(t.TempDir(), "direct")
	if err := os.WriteFile(name, content, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(ctx, name, os.O_RDWR|syscall.O_DIRECT, 0)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("O_DIRECT unsupported here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestBufferPoolDirectIO reads and writes an O_DIRECT file through pool
// buffers from several tasks at once. On the uring backend the reads and
// writes that go through the ring are fixed-buffer requests.
func TestBufferPoolDirectIO(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		const blocks = 64
		want := make([]byte, blocks*BufferAlign)
		for i := range want {
			want[i] = byte(i*7 + i/BufferAlign)
		}
		f := openDirect(t, ctx, want)
		p, err := NewBufferPool(ctx, BufferAlign, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		before := e.IOStats().Fixed

		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			Spawn(ctx, func(ctx context.Context) (int, error) {
				defer wg.Done()
				for i := range 40 {
					buf, err := p.Get(ctx)
					if err != nil {
						t.Error(err)
						return 0, err
					}
					blk := (g*40 + i*13) % blocks
					off := int64(blk * BufferAlign)
					if i%5 == 0 {
						// Write the block back unchanged, from the buffer.
						copy(buf, want[off:])
						if n, err := f.WriteAt(ctx, buf, off); n != len(buf) || err != nil {
							t.Errorf("WriteAt(%d) = %d, %v", off, n, err)
						}
					} else if n, err := f.ReadAt(ctx, buf, off); n != len(buf) || err != nil || !bytes.Equal(buf, want[off:off+int64(n)]) {
						t.Errorf("ReadAt(%d) = %d, %v (content right: %v)", off, n, err, err == nil && bytes.Equal(buf[:n], want[off:off+int64(n)]))
					}
					if err := p.Put(buf); err != nil {
						t.Error(err)
					}
				}
				return 0, nil
			})
		}
		wg.Wait()
		fixed := e.IOStats().Fixed - before
		switch e.Backend() {
		case BackendUring:
			if fixed == 0 {
				t.Error("no read or write went through the ring as a fixed-buffer request")
			}
		default:
			if fixed != 0 {
				t.Errorf("Fixed = %d on the portable backend", fixed)
			}
		}
		t.Logf("%s: %d of 640 transfers were fixed-buffer requests", e.Backend(), fixed)
	})
}

// TestDirectMisalignedSaysWhy: a read or write of an O_DIRECT file with an
// offset or length the device refuses fails with an error that matches
// syscall.EINVAL and says what O_DIRECT wants. (How the buffer's address
// must be aligned depends on the device: this one took any address.)
func TestDirectMisalignedSaysWhy(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		f := openDirect(t, ctx, make([]byte, 4*BufferAlign))
		p, err := NewBufferPool(ctx, BufferAlign, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		buf, _ := p.Get(ctx)
		defer p.Put(buf)
		if _, err := f.ReadAt(ctx, buf, 0); err != nil {
			t.Fatalf("aligned O_DIRECT read: %v", err)
		}
		for name, try := range map[string]func() error{
			"read, offset off by one": func() error { _, err := f.ReadAt(ctx, buf, 1); return err },
			"write, odd length":       func() error { _, err := f.WriteAt(ctx, buf[:100], 0); return err },
		} {
			err := try()
			var pe *fs.PathError
			if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &pe) || !strings.Contains(err.Error(), "O_DIRECT") {
				t.Errorf("%s: %v; want a *fs.PathError matching EINVAL that explains O_DIRECT's alignment", name, err)
			}
		}
	})
}

// FuzzBufferPool runs random sequences of Get, TryGet and Put, the Puts of
// slices cut anywhere in and around the pool's memory, against a model: a
// buffer is never given out twice, a Put succeeds exactly for a slice that
// starts where a buffer given out starts, and a refused Put changes
// nothing.
func FuzzBufferPool(f *testing.F) {
	f.Add([]byte{0, 0, 2, 0, 1, 3, 0, 2, 5, 9})
	f.Add([]byte{1, 1, 1, 2, 0, 0, 2, 1, 7, 2, 2, 200})
	e, err := New(Options{Workers: 1, Backend: BackendPortable})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Shutdown(context.Background()) })
	f.Fuzz(func(t *testing.T, prog []byte) {
		const n = 4
		p, err := NewBufferPool(e.Context(), BufferAlign, n)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		mem := p.mem                // the whole arena
		out := map[uintptr][]byte{} // model: the buffers given out, by start
		for len(prog) >= 2 {
			op, arg := prog[0]%3, int(prog[1])
			prog = prog[2:]
			switch op {
			case 0, 1: // Get or TryGet
				b, ok := p.TryGet()
				if ok != (len(out) < n) {
					t.Fatalf("TryGet ok = %v with %d of %d out", ok, len(out), n)
				}
				if !ok {
					continue
				}
				a := uintptr(unsafe.Pointer(&b[0]))
				if out[a] != nil {
					t.Fatalf("buffer at %#x given out twice", a)
				}
				out[a] = b
			case 2: // Put of a slice starting arg×64 bytes into the arena, of length arg%3 (0, 1 or a buffer)
				start := arg * 64 % (len(mem) + 64)
				var s []byte
				switch {
				case start >= len(mem):
					s = make([]byte, 1) // foreign
				default:
					s = mem[start:min(start+[]int{0, 1, BufferAlign}[arg%3], len(mem))]
				}
				a := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
				want := start < len(mem) && cap(s) > 0 && out[a] != nil
				err := p.Put(s)
				if (err == nil) != want {
					t.Fatalf("Put of a slice at offset %d (given out: %v) = %v", start, out[a] != nil, err)
				}
				if err == nil {
					delete(out, a)
				} else if !errors.Is(err, ErrForeignBuffer) {
					t.Fatalf("refused Put = %v, want ErrForeignBuffer", err)
				}
			}
		}
		for a, b := range out {
			if err := p.Put(b); err != nil {
				t.Fatalf("putting back %#x: %v", a, err)
			}
		}
	})
}
