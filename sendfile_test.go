package executor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// randomFile writes size random bytes to a new file and opens it.
func randomFile(t *testing.T, ctx context.Context, size int) (*File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16)}).Read(data)
	name := filepath.Join(t.TempDir(), "data")
	must(t, os.WriteFile(name, data, 0o644))
	f, err := Open(ctx, name)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return f, data
}

// countKernelCopies counts the bytes sendfile(2) and splice(2) move into
// sockets during the test.
func countKernelCopies(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	testHookKernelCopy = func(m int) { n.Add(int64(m)) }
	t.Cleanup(func() { testHookKernelCopy = nil })
	return &n
}

// readAll reads c until EOF in a goroutine, starting after delay.
func readAll(c net.Conn, delay time.Duration) chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		time.Sleep(delay)
		b, _ := io.ReadAll(c)
		ch <- b
	}()
	return ch
}

func TestSendFile(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		copied := countKernelCopies(t)
		f, data := randomFile(t, ctx, 3<<20+123)
		l := listenLoopback(t, ctx)
		for _, c := range []struct {
			off, n int64
			want   []byte
		}{
			{0, -1, data},
			{1000, 1 << 20, data[1000 : 1000+1<<20]},
			{int64(len(data)) - 10, 100, data[len(data)-10:]}, // short: the file ends
			{int64(len(data)) + 5, -1, nil},                   // past the end
			{7, 0, nil},
		} {
			client, server := accepted(t, ctx, l)
			got := readAll(client.NetConn(), 0)
			before := copied.Load()
			n, err := server.SendFile(ctx, f, c.off, c.n)
			server.Close()
			if err != nil || n != int64(len(c.want)) {
				t.Fatalf("SendFile(%d, %d) = %d, %v; want %d", c.off, c.n, n, err, len(c.want))
			}
			if b := <-got; !bytes.Equal(b, c.want) {
				t.Fatalf("SendFile(%d, %d): peer read %d bytes, not the file's", c.off, c.n, len(b))
			}
			if copied.Load()-before != n {
				t.Fatalf("SendFile(%d, %d): %d bytes moved in the kernel, want all %d", c.off, c.n, copied.Load()-before, n)
			}
			client.Close()
		}
		// The file's position is neither used nor moved.
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
			t.Fatalf("position after SendFile: %d", pos)
		}
	})
}

// TestSendFileSlowPeer sends more than the socket buffers hold to a peer
// that starts reading late: sendfile(2) comes back short and must wait.
func TestSendFileSlowPeer(t *testing.T) {
	onSocketBackends(t, 1, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		f, data := randomFile(t, ctx, 8<<20)
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		defer client.Close()
		got := readAll(client.NetConn(), 50*time.Millisecond)
		// On one worker, another task runs while SendFile waits.
		ticks := Spawn(ctx, func(ctx context.Context) (int, error) {
			n := 0
			for ; n < 3; n++ {
				Sleep(ctx, 5*time.Millisecond)
			}
			return n, nil
		})
		n, err := server.SendFile(ctx, f, 0, -1)
		server.Close()
		if err != nil || n != int64(len(data)) {
			t.Fatalf("SendFile = %d, %v", n, err)
		}
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("peer read %d bytes, not the file's", len(b))
		}
		if n, _ := ticks.Join(ctx); n != 3 {
			t.Fatal("the other task did not run")
		}
	})
}

func TestSendFilePeerCloses(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		f, data := randomFile(t, ctx, 8<<20)
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		defer server.Close()
		go func() {
			io.CopyN(io.Discard, client.NetConn(), 100<<10)
			client.Close()
		}()
		n, err := server.SendFile(ctx, f, 0, -1)
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("SendFile to a closed peer = %d, %v; want EPIPE or ECONNRESET", n, err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || n >= int64(len(data)) || n < 100<<10 {
			t.Fatalf("SendFile = %d, %#v", n, err)
		}
	})
}

func TestSendFileErrors(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		f, _ := randomFile(t, ctx, 1000)
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		defer client.Close()
		if _, err := server.SendFile(ctx, f, -1, 10); err == nil {
			t.Error("SendFile at a negative offset succeeded")
		}
		if _, err := server.SendFile(ctx, nil, 0, 10); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("SendFile(nil file) = %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := server.SendFile(cctx, f, 0, -1); !errors.Is(err, context.Canceled) {
			t.Errorf("SendFile(cancelled) = %v", err)
		}
		// A send that must wait ends with its context.
		big, _ := randomFile(t, ctx, 8<<20)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		if n, err := server.SendFile(tctx, big, 0, -1); !errors.Is(err, context.DeadlineExceeded) || n == 0 {
			t.Errorf("SendFile to a peer that does not read = %d, %v; want some bytes and DeadlineExceeded", n, err)
		}
		server.Close()
		if _, err := server.SendFile(ctx, f, 0, -1); !errors.Is(err, net.ErrClosed) {
			t.Errorf("SendFile on a closed Conn = %v", err)
		}
		f.Close()
		c2, s2 := accepted(t, ctx, l)
		defer c2.Close()
		defer s2.Close()
		if _, err := s2.SendFile(ctx, f, 0, -1); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("SendFile of a closed file = %v", err)
		}
	})
}

// TestIOCopyUsesSendFile checks that io.Copy from a File's Reader to a
// Conn's NetConn moves the bytes in the kernel, from the file's position,
// and moves the position.
func TestIOCopyUsesSendFile(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		copied := countKernelCopies(t)
		f, data := randomFile(t, ctx, 2<<20)
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		defer client.Close()
		got := readAll(client.NetConn(), 0)
		if _, err := f.Seek(1234, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(server.NetConn(), f.Reader(ctx))
		server.Close()
		if err != nil || n != int64(len(data)-1234) {
			t.Fatalf("io.Copy = %d, %v", n, err)
		}
		if b := <-got; !bytes.Equal(b, data[1234:]) {
			t.Fatalf("peer read %d bytes, not the file's", len(b))
		}
		if copied.Load() != n {
			t.Fatalf("%d of %d bytes moved in the kernel", copied.Load(), n)
		}
		if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
			t.Fatalf("position after io.Copy: %d", pos)
		}
		// To a writer that is no socket, the same WriteTo copies through a
		// buffer.
		f.Seek(10, io.SeekStart)
		var buf bytes.Buffer
		if n, err := io.Copy(&buf, f.Reader(ctx)); err != nil || !bytes.Equal(buf.Bytes(), data[10:]) {
			t.Fatalf("io.Copy to a buffer = %d, %v", n, err)
		}
	})
}
