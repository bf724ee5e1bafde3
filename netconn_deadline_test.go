package executor

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNetConnDeadlinesStayInTheAdapter is the rule for deadlines set
// through NetConn, on every socket path: they bound the adapter's own Read
// and Write calls and nothing else. A Conn's Read and Write are bounded by
// their context alone, whatever deadline an adapter of the connection set
// before, and a Read interrupted by its context leaves the adapter's calls
// alone.
func TestNetConnDeadlinesStayInTheAdapter(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		nc := server.NetConn()
		buf := make([]byte, 10)

		// A deadline in the past fails the adapter's reads...
		if _, err := client.Write(ctx, []byte("a")); err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(-time.Second))
		if _, err := nc.Read(buf); !isTimeout(err) {
			t.Fatalf("adapter Read past its deadline: %v; want a timeout", err)
		}
		if _, err := nc.Write(buf[:1]); !isTimeout(err) {
			t.Fatalf("adapter Write past its deadline: %v; want a timeout", err)
		}
		// ...but not the Conn's, with a task's context, or with a
		// cancellable one.
		if n, err := server.Read(ctx, buf); n != 1 || err != nil {
			t.Fatalf("Conn.Read after the adapter's deadline passed = %d, %v; want the waiting byte", n, err)
		}
		if n, err := server.Write(ctx, []byte("b")); n != 1 || err != nil {
			t.Fatalf("Conn.Write after the adapter's deadline passed = %d, %v", n, err)
		}
		cctx, cancel := context.WithCancel(ctx)
		client.Write(ctx, []byte("c"))
		if n, err := server.Read(cctx, buf); n != 1 || err != nil {
			t.Fatalf("Conn.Read(cancellable ctx) after the adapter's deadline passed = %d, %v", n, err)
		}
		cancel()
		if n, err := io.ReadFull(client.NetConn(), buf[:1]); n != 1 || err != nil || buf[0] != 'b' {
			t.Fatalf("the peer read %d, %v, %q; want \"b\"", n, err, buf[:1])
		}

		// A deadline that passes while a Conn.Read waits does not end it.
		nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		got := make(chan error, 1)
		go func() {
			_, err := server.Read(ctx, buf)
			got <- err
		}()
		time.Sleep(100 * time.Millisecond) // the adapter's deadline passes
		client.Write(ctx, []byte("d"))
		if err := <-got; err != nil {
			t.Fatalf("Conn.Read pending as the adapter's deadline passed: %v; want the data", err)
		}

		// A Conn.Read that its context interrupted leaves the adapter's
		// next Read (with no deadline) alone.
		nc.SetDeadline(time.Time{})
		cctx, cancel = context.WithCancel(ctx)
		go func() {
			time.Sleep(20 * time.Millisecond)
			cancel()
		}()
		if _, err := server.Read(cctx, buf); err == nil {
			t.Fatal("Conn.Read with no data returned nil after its context was cancelled")
		}
		client.Write(ctx, []byte("e"))
		if n, err := nc.Read(buf); n != 1 || err != nil || buf[0] != 'e' {
			t.Fatalf("adapter Read after a cancelled Conn.Read = %d, %v, %q; want \"e\"", n, err, buf[:n])
		}
	})
}

// TestNetConnWriteDeadlineBoundsSendFile: io.Copy from a File to a
// NetConn sends inside the kernel (File's reader implements WriterTo);
// the adapter's write deadline bounds that write as it bounds Write, on
// every socket path.
func TestNetConnWriteDeadlineBoundsSendFile(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		name := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(name, []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		nc := server.NetConn()
		nc.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := io.Copy(nc, f.Reader(ctx)); !isTimeout(err) {
			t.Fatalf("io.Copy to a NetConn past its write deadline: %v; want a timeout", err)
		}
		nc.SetWriteDeadline(time.Time{})
		if n, err := io.Copy(nc, f.Reader(ctx)); n != 5 || err != nil {
			t.Fatalf("io.Copy after clearing the deadline = %d, %v", n, err)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(client.NetConn(), buf); err != nil || string(buf) != "hello" {
			t.Fatalf("the peer read %q, %v", buf, err)
		}
	})
}
