package executor

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mustPanicNilContext runs fn and fails unless it panics with the
// executor's nil-context message, as the standard library panics on a nil
// context ("net/http: nil Context", "nil context").
func mustPanicNilContext(t *testing.T, name string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r != "executor: nil context" {
			t.Errorf("%s(nil ctx) panicked with %v; want \"executor: nil context\"", name, r)
		}
	}()
	fn()
}

// TestNilContextPanicsClearly: every entry point that takes a context
// panics with a message naming the mistake, on the fast paths too, rather
// than with a nil-pointer dereference deep inside.
func TestNilContextPanicsClearly(t *testing.T) {
	for _, backend := range []string{"uring", "portable"} {
		t.Run(backend, func(t *testing.T) {
			e := newExecutor(t, Options{Workers: 2, Backend: backend})
			if e.Backend() != backend {
				t.Skipf("backend %s unavailable: %s", backend, e.BackendReason())
			}
			testNilContext(t, e)
		})
	}
}

func testNilContext(t *testing.T, e *Executor) {
	ctx := e.Context()
	var nilCtx context.Context // a nil interface, as a caller's bug passes it

	f, err := Create(ctx, filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := listenLoopback(t, ctx)
	c, err := Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := ListenPacket(ctx, "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	stop := NewCancellationToken()
	defer stop.Cancel()
	running := Spawn(ctx, func(ctx context.Context) (int, error) { return 0, Sleep(stop.Bind(ctx), time.Hour) })
	finished := Spawn(ctx, func(ctx context.Context) (int, error) { return 1, nil })
	finished.Join(ctx)
	set := new(Event)
	set.Set()
	tok := NewCancellationToken()
	buf := make([]byte, 1)
	ready := make(chan int, 1)
	ready <- 1

	cases := []struct {
		name string
		fn   func()
	}{
		{"Spawn", func() { Spawn(nilCtx, func(context.Context) (int, error) { return 0, nil }) }},
		{"Join (running)", func() { running.Join(nilCtx) }},
		{"Join (finished)", func() { finished.Join(nilCtx) }},
		{"Sleep", func() { Sleep(nilCtx, time.Millisecond) }},
		{"Sleep(0)", func() { Sleep(nilCtx, 0) }},
		{"Yield", func() { Yield(nilCtx) }},
		{"Block", func() { Block(nilCtx, func() (int, error) { return 0, nil }) }},
		{"Open", func() { Open(nilCtx, "/dev/null") }},
		{"Create", func() { Create(nilCtx, filepath.Join(t.TempDir(), "g")) }},
		{"OpenFile", func() { OpenFile(nilCtx, "/dev/null", 0, 0) }},
		{"File.ReadAt", func() { f.ReadAt(nilCtx, buf, 0) }},
		{"File.Read", func() { f.Read(nilCtx, buf) }},
		{"File.WriteAt", func() { f.WriteAt(nilCtx, buf, 0) }},
		{"File.Write", func() { f.Write(nilCtx, buf) }},
		{"File.Sync", func() { f.Sync(nilCtx) }},
		{"File.Stat", func() { f.Stat(nilCtx) }},
		{"File.ReaderAt", func() { f.ReaderAt(nilCtx) }},
		{"File.WriterAt", func() { f.WriterAt(nilCtx) }},
		{"File.Reader", func() { f.Reader(nilCtx) }},
		{"File.Writer", func() { f.Writer(nilCtx) }},
		{"Listen", func() { Listen(nilCtx, "tcp", "127.0.0.1:0") }},
		{"Dial", func() { Dial(nilCtx, "tcp", l.Addr().String()) }},
		{"Listener.Accept", func() { l.Accept(nilCtx) }},
		{"Conn.Read", func() { c.Read(nilCtx, buf) }},
		{"Conn.Write", func() { c.Write(nilCtx, buf) }},
		{"Recv (ready)", func() { Recv(nilCtx, ready) }},
		{"Send (room)", func() { Send(nilCtx, make(chan int, 1), 1) }},
		{"Event.Wait (set)", func() { set.Wait(nilCtx) }},
		{"Mutex.Lock (unlocked)", func() { new(Mutex).Lock(nilCtx) }},
		{"Semaphore.Acquire (free)", func() { NewSemaphore(1).Acquire(nilCtx, 1) }},
		{"WaitGroup.Wait (zero)", func() { new(WaitGroup).Wait(nilCtx) }},
		{"NewTaskResultBundle", func() { NewTaskResultBundle(nilCtx) }},
		{"CancellationToken.Bind", func() { tok.Bind(nilCtx) }},
		{"Executor.Shutdown", func() { e.Shutdown(nilCtx) }},
		{"FromContext", func() { FromContext(nilCtx) }},
		{"File.Truncate", func() { f.Truncate(nilCtx, 0) }},
		{"File.Allocate", func() { f.Allocate(nilCtx, 0, 1) }},
		{"Mkdir", func() { Mkdir(nilCtx, filepath.Join(t.TempDir(), "d"), 0o755) }},
		{"MkdirAll", func() { MkdirAll(nilCtx, filepath.Join(t.TempDir(), "d/e"), 0o755) }},
		{"Remove", func() { Remove(nilCtx, filepath.Join(t.TempDir(), "none")) }},
		{"Rename", func() { Rename(nilCtx, filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")) }},
		{"Stat", func() { Stat(nilCtx, "/") }},
		{"Lstat", func() { Lstat(nilCtx, "/") }},
		{"ReadDir", func() { ReadDir(nilCtx, "/") }},
		{"WriteFile", func() { WriteFile(nilCtx, filepath.Join(t.TempDir(), "w"), nil, 0o644) }},
		{"ReadFile", func() { ReadFile(nilCtx, "/dev/null") }},
		{"DirFS", func() { DirFS(nilCtx, "/") }},
		{"ListenPacket", func() { ListenPacket(nilCtx, "udp", "127.0.0.1:0") }},
		{"PacketConn.ReadFrom", func() { pc.ReadFrom(nilCtx, buf) }},
		{"PacketConn.WriteTo", func() { pc.WriteTo(nilCtx, buf, pc.LocalAddr()) }},
		{"Conn.SendFile", func() { c.SendFile(nilCtx, f, 0, 1) }},
	}
	for _, tc := range cases {
		mustPanicNilContext(t, tc.name, tc.fn)
	}
	if n, err := c.Write(ctx, []byte("x")); n != 1 || err != nil {
		t.Fatalf("the connection no longer works after the misuse: %d, %v", n, err)
	}
}

// TestNilReceiversReturnErrors: as (*os.File)(nil).Close returns
// fs.ErrInvalid and (*net.TCPConn)(nil).Close returns syscall.EINVAL, the
// executor's files, connections and listeners answer a nil receiver with
// the same errors where the standard library does.
func TestNilReceiversReturnErrors(t *testing.T) {
	ctx := context.Background()
	var f *File
	var c *Conn
	var l *Listener
	var pc *PacketConn
	buf := make([]byte, 1)
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		// Files as the os package: fs.ErrInvalid.
		{"File.Close", f.Close},
		{"File.ReadAt", func() error { _, err := f.ReadAt(ctx, buf, 0); return err }},
		{"File.Write", func() error { _, err := f.Write(ctx, buf); return err }},
		{"File.Sync", func() error { return f.Sync(ctx) }},
		{"File.Stat", func() error { _, err := f.Stat(ctx); return err }},
		// Sockets as the net package: syscall.EINVAL.
		{"Conn.Close", c.Close},
		{"Conn.CloseWrite", c.CloseWrite},
		{"Conn.Read", func() error { _, err := c.Read(ctx, buf); return err }},
		{"Conn.Write", func() error { _, err := c.Write(ctx, buf); return err }},
		{"Conn.NetConn().Close", func() error { return c.NetConn().Close() }},
		{"Conn.NetConn().Read", func() error { _, err := c.NetConn().Read(buf); return err }},
		{"Listener.Close", l.Close},
		{"Listener.Accept", func() error { _, err := l.Accept(ctx); return err }},
		{"Listener.NetListener().Accept", func() error { _, err := l.NetListener().Accept(); return err }},
		{"PacketConn.Close", pc.Close},
		{"PacketConn.ReadFrom", func() error { _, _, err := pc.ReadFrom(ctx, buf); return err }},
		{"PacketConn.WriteTo", func() error { _, err := pc.WriteTo(ctx, buf, nil); return err }},
		{"Conn.SendFile", func() error { _, err := c.SendFile(ctx, nil, 0, 1); return err }},
	} {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s on a nil receiver panicked: %v", tc.name, r)
				}
			}()
			err = tc.fn()
		}()
		want := error(syscall.EINVAL)
		if strings.HasPrefix(tc.name, "File.") {
			want = fs.ErrInvalid
		}
		if !errors.Is(err, want) {
			t.Errorf("%s on a nil receiver = %v; want an error matching %v", tc.name, err, want)
		}
	}
	if c.LocalAddr() != nil || c.RemoteAddr() != nil || l.Addr() != nil {
		t.Error("the addresses of a nil Conn or Listener are not nil")
	}
	if f.Fd() != ^uintptr(0) {
		t.Errorf("(*File)(nil).Fd() = %d; want ^uintptr(0), as os.File's", f.Fd())
	}
}
