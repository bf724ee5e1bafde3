package driver

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixedConfigs are the ring set-ups RegisterBuffer must work with: a
// single issuer registers on the completion thread, a shared ring on the
// caller's goroutine. Neither reads inline, so reads of regular files go
// through the ring.
var fixedConfigs = []struct {
	name string
	cfg  config
}{
	{"single-issuer", config{entries: 64, singleIssuer: true}},
	{"shared", config{entries: 64}},
}

// TestFixedBufferReadWrite: reads and writes of a regular file whose
// buffer lies in a registered buffer are made as READ_FIXED and
// WRITE_FIXED and move the right bytes; a buffer that only overlaps the
// registered one, and any buffer after UnregisterBuffer, goes the usual
// way; the slot can be registered again.
func TestFixedBufferReadWrite(t *testing.T) {
	for _, tc := range fixedConfigs {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestUring(t, tc.cfg)
			ctx := context.Background()
			fd, content := openTemp(t, d, 64<<10, unix.O_RDWR)
			defer d.Close(fd)

			backing := make([]byte, 32<<10)
			region := backing[:16<<10]
			id, err := d.RegisterBuffer(region)
			if err != nil {
				t.Fatalf("RegisterBuffer: %v", err)
			}
			read := func(p []byte, off int) {
				t.Helper()
				n, err := d.ReadAt(ctx, fd, p, int64(off))
				if err != nil || n != len(p) || !bytes.Equal(p, content[off:off+n]) {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; bytes match: %v", len(p), off, n, err, bytes.Equal(p[:max(n, 0)], content[off:off+max(n, 0)]))
				}
			}
			fixed := func() uint64 { return d.Stats().Fixed }

			read(region[4096:8192], 8192)
			read(region[100:200], 12345)
			if got := fixed(); got != 2 {
				t.Fatalf("Fixed = %d after two reads inside the registered buffer, want 2", got)
			}
			copy(region[:5], "fixed")
			if n, err := d.WriteAt(ctx, fd, region[:5], 3); n != 5 || err != nil {
				t.Fatalf("WriteAt = %d, %v", n, err)
			}
			copy(content[3:], "fixed")
			if got := fixed(); got != 3 {
				t.Fatalf("Fixed = %d after a write from the registered buffer, want 3", got)
			}

			read(backing[len(region)-100:len(region)+100], 0) // straddles its end
			read(backing[len(region):len(region)+4096], 0)    // just past it
			if got := fixed(); got != 3 {
				t.Fatalf("Fixed = %d, want 3: only reads wholly inside the buffer are fixed", got)
			}

			if err := d.UnregisterBuffer(id); err != nil {
				t.Fatalf("UnregisterBuffer: %v", err)
			}
			read(region[:4096], 4096)
			if got := fixed(); got != 3 {
				t.Fatalf("Fixed = %d after UnregisterBuffer, want 3", got)
			}
			if err := d.UnregisterBuffer(id); err == nil {
				t.Fatal("a second UnregisterBuffer of the same id succeeded")
			}
			other := make([]byte, 8192)
			if _, err := d.RegisterBuffer(other); err != nil {
				t.Fatalf("registering again after UnregisterBuffer: %v", err)
			}
			read(other[:4096], 4096)
			if got := fixed(); got != 4 {
				t.Fatalf("Fixed = %d after a read into the buffer registered again, want 4", got)
			}
		})
	}
}

// TestFixedBufferConcurrent: goroutines read into their parts of one
// registered buffer while it is unregistered under them; every read
// returns the right bytes, fixed or not.
func TestFixedBufferConcurrent(t *testing.T) {
	d := newTestUring(t, config{entries: 64, singleIssuer: true})
	ctx := context.Background()
	fd, content := openTemp(t, d, 256<<10, unix.O_RDONLY)
	defer d.Close(fd)
	const readers, block = 16, 4096
	region := make([]byte, readers*block)
	id, err := d.RegisterBuffer(region)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := region[i*block : (i+1)*block]
			for j := range 200 {
				off := ((i*200 + j) * 997 * 4) % (len(content) - block)
				n, err := d.ReadAt(ctx, fd, p, int64(off))
				if err != nil || n != block || !bytes.Equal(p, content[off:off+block]) {
					t.Errorf("reader %d: ReadAt at %d = %d, %v", i, off, n, err)
					return
				}
			}
		}()
	}
	if err := d.UnregisterBuffer(id); err != nil {
		t.Errorf("UnregisterBuffer while reads run: %v", err)
	}
	wg.Wait()
}

// TestFixedBufferErrors: bad sizes, a full table, a shut-down driver and
// the portable backend are reported, never a panic.
func TestFixedBufferErrors(t *testing.T) {
	d := newTestUring(t, config{entries: 64, singleIssuer: true})
	if _, err := d.RegisterBuffer(nil); err == nil {
		t.Error("RegisterBuffer(nil) succeeded")
	}
	if err := d.UnregisterBuffer(-1); err == nil {
		t.Error("UnregisterBuffer(-1) succeeded")
	}
	if err := d.UnregisterBuffer(maxFixed); err == nil {
		t.Error("UnregisterBuffer(maxFixed) succeeded")
	}
	bufs := make([]byte, (maxFixed+1)*4096)
	for i := range maxFixed {
		if _, err := d.RegisterBuffer(bufs[i*4096 : (i+1)*4096]); err != nil {
			t.Fatalf("registering buffer %d: %v", i, err)
		}
	}
	if _, err := d.RegisterBuffer(bufs[maxFixed*4096:]); !errors.Is(err, ErrNoFixedSlot) {
		t.Fatalf("RegisterBuffer with a full table = %v, want ErrNoFixedSlot", err)
	}
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RegisterBuffer(make([]byte, 4096)); !errors.Is(err, ErrClosed) {
		t.Fatalf("RegisterBuffer after Shutdown = %v, want ErrClosed", err)
	}
	if err := d.UnregisterBuffer(0); err != nil {
		t.Fatalf("UnregisterBuffer after Shutdown = %v, want nil: the ring's registrations went with it", err)
	}

	p := newPortable("test")
	defer p.Shutdown()
	if _, err := p.RegisterBuffer(make([]byte, 4096)); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("portable RegisterBuffer = %v, want errors.ErrUnsupported", err)
	}
}

// TestFixedBufferRegisterRacesShutdown: a registration racing Shutdown
// either succeeds or fails with ErrClosed; neither hangs.
func TestFixedBufferRegisterRacesShutdown(t *testing.T) {
	for round := range 50 {
		d, err := newUring(config{entries: 64, singleIssuer: true})
		if err != nil {
			t.Skipf("io_uring unavailable: %v", err)
		}
		buf := make([]byte, 4096)
		done := make(chan error, 1)
		go func() {
			_, err := d.RegisterBuffer(buf)
			done <- err
		}()
		if round%2 == 0 {
			runtime.Gosched()
		}
		if err := d.Shutdown(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Fatalf("round %d: RegisterBuffer racing Shutdown = %v, want nil or ErrClosed", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: RegisterBuffer racing Shutdown hangs", round)
		}
	}
}
