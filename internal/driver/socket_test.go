package driver

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen returns a non-blocking TCP listener on 127.0.0.1 and its
// address, closed at the end of the test. Its backlog is large enough
// for the benchmarks' thousand connections dialled in a row.
func listen(t testing.TB) (int, unix.Sockaddr) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa
}

func tcpSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// withoutInline runs the test with the inline socket attempts off, so
// every op goes through the ring.
func withoutInline(t *testing.T) {
	send, recv, accept := inlineSend, inlineRecv, inlineAccept
	inlineSend, inlineRecv, inlineAccept = false, false, false
	t.Cleanup(func() { inlineSend, inlineRecv, inlineAccept = send, recv, accept })
}

func TestSocketRoundTrip(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "inline", false: "ring"}[inline], func(t *testing.T) {
			if !inline {
				withoutInline(t)
			}
			d := newTestUring(t, defaultConfig)
			ctx := context.Background()
			ln, addr := listen(t)
			accepted := make(chan int, 1)
			go func() {
				nfd, sa, err := d.Accept(ctx, ln)
				if err != nil {
					t.Errorf("Accept: %v", err)
					accepted <- -1
					return
				}
				if sa4, ok := sa.(*unix.SockaddrInet4); !ok || sa4.Addr != [4]byte{127, 0, 0, 1} {
					t.Errorf("peer address %#v", sa)
				}
				accepted <- nfd
			}()
			c := tcpSocket(t)
			if err := d.Connect(ctx, c, addr); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			s := <-accepted
			if s < 0 {
				return
			}
			defer d.Close(s)
			if flags, _ := unix.FcntlInt(uintptr(s), unix.F_GETFL, 0); flags&unix.O_NONBLOCK == 0 {
				t.Error("accepted socket is blocking")
			}
			msg := bytes.Repeat([]byte("ping"), 1000)
			// The sender is waited for before the subtest ends: the next
			// one changes the inline switches it reads.
			senderDone := make(chan struct{})
			defer func() { <-senderDone }()
			go func() {
				defer close(senderDone)
				for sent := 0; sent < len(msg); {
					n, err := d.Send(ctx, c, msg[sent:])
					if err != nil {
						t.Errorf("Send: %v", err)
						return
					}
					sent += n
				}
				d.ShutdownFD(c, unix.SHUT_WR)
			}()
			var got []byte
			buf := make([]byte, 1500)
			for {
				n, err := d.Recv(ctx, s, buf)
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
				if n == 0 {
					break
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("received %d bytes, sent %d", len(got), len(msg))
			}
			if err := d.Connect(ctx, c, &unix.SockaddrInet4{}); err == nil {
				t.Error("second Connect succeeded")
			}
			if err := d.Connect(ctx, c, nil); err != unix.EAFNOSUPPORT {
				t.Errorf("Connect(nil) = %v", err)
			}
		})
	}
}

// TestAcceptCompletedAfterCancel is invariant 4 for sockets: an accept
// that completes after its ctx was cancelled has the connection closed.
func TestAcceptCompletedAfterCancel(t *testing.T) {
	withoutInline(t)
	d := newTestUring(t, config{entries: 8, singleIssuer: true})
	ln, addr := listen(t)
	c := tcpSocket(t)
	if _, err := d.sockets(); err != nil { // opened once, not leaked
		t.Fatal(err)
	}
	before := fdCount(t)
	ctx, cancel := context.WithCancel(context.Background())
	completed := d.Stats().Completed
	testHookSubmitted = func() {
		if err := unix.Connect(c, addr); err != unix.EINPROGRESS && err != nil {
			t.Errorf("connect: %v", err)
		}
		waitFor(t, "accept completed", func() bool { return d.Stats().Completed > completed })
		cancel()
	}
	defer func() { testHookSubmitted = nil }()
	nfd, _, err := d.Accept(ctx, ln)
	if err != context.Canceled || nfd != -1 {
		t.Fatalf("Accept = %d, %v; want -1, context.Canceled", nfd, err)
	}
	if after := fdCount(t); after != before {
		t.Fatalf("fds: %d before, %d after: the accepted connection leaked", before, after)
	}
}

// TestSocketCancel: a pending receive or accept returns ctx's error when
// cancelled, and Close cancels a pending receive with ECANCELED.
func TestSocketCancel(t *testing.T) {
	withoutInline(t)
	d := newTestUring(t, config{entries: 8, singleIssuer: true})
	ln, _ := listen(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() {
		_, _, err := d.Accept(ctx, ln)
		errs <- err
	}()
	go func() {
		_, err := d.Recv(ctx, fds[0], make([]byte, 8))
		errs <- err
	}()
	waitFor(t, "ops in flight", func() bool { return d.Stats().InFlight == 2 })
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != context.Canceled {
			t.Errorf("cancelled op = %v", err)
		}
	}

	go func() {
		_, err := d.Recv(context.Background(), fds[0], make([]byte, 8))
		errs <- err
	}()
	waitFor(t, "recv in flight", func() bool { return d.Stats().InFlight == 1 })
	if err := d.Close(fds[0]); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !isErrno(err, unix.ECANCELED) {
		t.Errorf("Recv pending at Close = %v, want ECANCELED", err)
	}
}

// TestIdleReceivesLeaveRecords is invariant 8 for ring sockets: with
// 5,000 receives waiting on idle connections, more than the driver's 4,096
// fixed op records, a file read through the ring and a new connection
// still complete, because a receive or an accept takes its record from the
// table of waiting records.
func TestIdleReceivesLeaveRecords(t *testing.T) {
	const idle = 5000
	// No inline attempts and no lone blocking read: every op below goes
	// through the ring and needs a record.
	d := newTestUring(t, config{entries: defaultConfig.entries, singleIssuer: true})
	withoutInline(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range idle {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Recv(ctx, fds[0], make([]byte, 1)); err != context.Canceled {
				t.Errorf("idle Recv = %v; want context.Canceled", err)
			}
		}()
	}
	waitFor(t, "every receive in flight", func() bool { return d.Stats().InFlight >= idle })

	// A file read through the ring.
	path, content := tempFile(t, 4096)
	f, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	buf := make([]byte, len(content))
	if n, err := d.ReadAt(rctx, f, buf, 0); err != nil || n != len(content) || !bytes.Equal(buf, content) {
		t.Fatalf("ReadAt with %d idle receives = %d, %v", idle, n, err)
	}

	// A new connection: its accept and connect find records too.
	ln, addr := listen(t)
	accepted := make(chan error, 1)
	go func() {
		nfd, _, err := d.Accept(rctx, ln)
		if err == nil {
			d.Close(nfd)
		}
		accepted <- err
	}()
	c := tcpSocket(t)
	if err := d.Connect(rctx, c, addr); err != nil {
		t.Fatalf("Connect with %d idle receives: %v", idle, err)
	}
	if err := <-accepted; err != nil {
		t.Fatalf("Accept with %d idle receives: %v", idle, err)
	}
	cancel()
}

// TestSocketRingReapedByPoller: a receive that waits is completed by the
// socket ring's poller-woken reaper, with no later submission to reap it
// on the way; Shutdown then ends a receive still pending with ErrClosed
// and leaves no goroutine behind (goleak in TestMain).
func TestSocketRingReapedByPoller(t *testing.T) {
	d, err := newUring(defaultConfig)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	type result struct {
		n   int
		err error
	}
	recv := func() chan result {
		ch := make(chan result, 1)
		go func() {
			buf := make([]byte, 16)
			n, err := d.Recv(context.Background(), fds[0], buf)
			if err == nil && string(buf[:n]) != "ping" {
				t.Errorf("received %q", buf[:n])
			}
			ch <- result{n, err}
		}()
		return ch
	}
	for range 3 {
		ch := recv()
		waitFor(t, "receive in flight", func() bool { return d.Stats().InFlight == 1 })
		if _, err := unix.Write(fds[1], []byte("ping")); err != nil {
			t.Fatal(err)
		}
		if r := <-ch; r.n != 4 || r.err != nil {
			t.Fatalf("Recv = %d, %v", r.n, r.err)
		}
	}
	ch := recv()
	waitFor(t, "receive in flight", func() bool { return d.Stats().InFlight == 1 })
	if err := d.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if r := <-ch; r.err != ErrClosed {
		t.Fatalf("Recv pending at Shutdown = %d, %v; want ErrClosed", r.n, r.err)
	}
	if _, err := d.Recv(context.Background(), fds[0], make([]byte, 1)); err != ErrClosed {
		t.Fatalf("Recv after Shutdown = %v; want ErrClosed", err)
	}
}

// TestSocketRingOnDemand: a driver opens its socket ring with the first
// ring socket operation, not before (a driver whose sockets are net's
// never pays for it), and not after Shutdown.
func TestSocketRingOnDemand(t *testing.T) {
	d, err := newUring(defaultConfig)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer d.Shutdown()
	if d.sock.Load() != nil {
		t.Fatal("a new driver has a socket ring")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if _, err := d.Send(context.Background(), fds[1], []byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := d.Recv(context.Background(), fds[0], buf); n != 4 || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	if d.sock.Load() == nil {
		t.Fatal("no socket ring after ring socket operations")
	}

	closed, err := newUring(defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := closed.Recv(context.Background(), fds[0], buf); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Shutdown = %v; want ErrClosed", err)
	}
	if closed.sock.Load() != nil {
		t.Fatal("Shutdown, then a socket operation, opened a socket ring")
	}
}
