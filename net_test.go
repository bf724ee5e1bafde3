package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// listenLoopback listens on 127.0.0.1 with the executor of ctx, closed at
// the end of the test.

// onSocketBackends runs test on each way sockets can work: net sockets on
// the uring backend (the default), ring sockets (Options.RingSockets) on
// the uring backend, and net sockets on the portable backend.
func onSocketBackends(t *testing.T, workers int, test func(t *testing.T, e *Executor)) {
	for _, v := range []struct {
		name string
		opts Options
	}{
		{"uring", Options{Backend: "uring"}},
		{"ring", Options{Backend: "uring", RingSockets: true}},
		{"portable", Options{Backend: "portable"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			v.opts.Workers = workers
			e := newExecutor(t, v.opts)
			if got := e.Backend(); got != v.opts.Backend {
				if v.opts.Backend == "uring" {
					t.Skipf("io_uring unavailable here: %s", e.BackendReason())
				}
				t.Fatalf("Backend() = %q (%s); want %q", got, e.BackendReason(), v.opts.Backend)
			}
			warmSockets(t, e)
			test(t, e)
		})
	}
}

// warmSockets makes one connection through e and closes it, so that what
// the first socket operation opens for good (the socket ring, with
// RingSockets) is open before a test counts its descriptors.
func warmSockets(t *testing.T, e *Executor) {
	t.Helper()
	ctx := e.Context()
	l, err := Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func listenLoopback(t *testing.T, ctx context.Context) *Listener {
	t.Helper()
	l, err := Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serveEcho accepts connections on l until it is closed, each served by a
// task that echoes until EOF and then closes. The returned function waits
// for the accept loop and every connection task.
func serveEcho(t *testing.T, e *Executor, l *Listener) (wait func()) {
	t.Helper()
	var conns sync.WaitGroup
	acceptor := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Accept: %v", err)
				}
				return struct{}{}, nil
			}
			conns.Add(1)
			Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				defer conns.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(ctx, buf)
					if n > 0 {
						if _, werr := c.Write(ctx, buf[:n]); werr != nil {
							return struct{}{}, nil
						}
					}
					if err != nil {
						if err != io.EOF && !isPeerGone(err) {
							t.Errorf("echo Read: %v", err)
						}
						return struct{}{}, nil
					}
				}
			})
		}
	})
	return func() {
		acceptor.Join(context.Background())
		conns.Wait()
	}
}

func isPeerGone(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func TestNetEchoRoundTrip(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		if a, ok := l.Addr().(*net.TCPAddr); !ok || a.Port == 0 || !a.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("Addr() = %v", l.Addr())
		}
		wait := serveEcho(t, e, l)

		c, err := Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if c.RemoteAddr().String() != l.Addr().String() {
			t.Errorf("RemoteAddr() = %v; want %v", c.RemoteAddr(), l.Addr())
		}
		if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.Port == 0 {
			t.Errorf("LocalAddr() = %v", c.LocalAddr())
		}
		msg := []byte("hello, io_uring")
		if n, err := c.Write(ctx, msg); n != len(msg) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c.NetConn())
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("ReadAll = %q, %v; want %q", got, err, msg)
		}
		if n, err := c.Read(ctx, make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wait()
		if got := openFDs(t); got > fds {
			t.Errorf("%d descriptors open after the test; %d before", got, fds)
		}
	})
}

func TestNetUnix(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		path := filepath.Join(t.TempDir(), "sock")
		l, err := Listen(ctx, "unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if l.Addr().String() != path || l.Addr().Network() != "unix" {
			t.Errorf("Addr() = %v %v", l.Addr().Network(), l.Addr())
		}
		wait := serveEcho(t, e, l)
		c, err := Dial(ctx, "unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if c.RemoteAddr().String() != path {
			t.Errorf("RemoteAddr() = %v", c.RemoteAddr())
		}
		if _, err := c.Write(ctx, []byte("unix")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c.NetConn(), buf); err != nil || string(buf) != "unix" {
			t.Fatalf("read %q, %v", buf, err)
		}
		c.Close()
		l.Close()
		wait()
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file after Close: %v", err)
		}
	})
}

func TestNetDialErrors(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		// A port nobody listens on: bind one and close it.
		l := listenLoopback(t, ctx)
		addr := l.Addr().String()
		l.Close()
		_, err := Dial(ctx, "tcp", addr)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Dial to a closed port: %v; want a dial *net.OpError wrapping ECONNREFUSED", err)
		}
		var ue net.UnknownNetworkError
		if _, err := Dial(ctx, "sctp", addr); !errors.As(err, &ue) {
			t.Errorf("Dial sctp: %v; want net.UnknownNetworkError", err)
		}
		if _, err := Listen(ctx, "tcp", "256.0.0.1:0"); err == nil {
			t.Error("Listen on a bad address: no error")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Dial(cctx, "tcp", addr); !errors.Is(err, context.Canceled) {
			t.Errorf("Dial with a cancelled ctx: %v; want context.Canceled", err)
		}
	})
}

func TestNetDialHostName(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		wait := serveEcho(t, e, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		c, err := Dial(ctx, "tcp4", net.JoinHostPort("localhost", port))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		l.Close()
		wait()
	})
}

func TestNetIPv6DualStack(t *testing.T) {
	if !supportsIPv6() {
		t.Skip("no IPv6")
	}
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l, err := Listen(ctx, "tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		wait := serveEcho(t, e, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		for _, host := range []string{"127.0.0.1", "::1"} {
			c, err := Dial(ctx, "tcp", net.JoinHostPort(host, port))
			if err != nil {
				t.Fatalf("dial %s: %v", host, err)
			}
			if _, err := c.Write(ctx, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(ctx, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		l.Close()
		wait()
	})
}

// TestNetEchoConcurrent is the byte-exact echo of issue 4: 1,000
// connections at once, each sending a random amount (1 B to 1 MiB; 1 B to
// 64 KiB with -race or -short, where 1,000 MiB of traffic takes too long)
// while reading the echo back, through a server of one task per
// connection on 2 workers.
func TestNetEchoConcurrent(t *testing.T) {
	raiseFDLimit(t, 8192)
	maxSize := 1 << 20
	if raceEnabled || testing.Short() {
		maxSize = 64 << 10
	}
	const conns = 1000
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		wait := serveEcho(t, e, l)
		var g group
		var total atomic.Int64
		for i := range conns {
			g.Go(func() error {
				// Each client is a task too: two, one writing and one
				// reading, as a full-duplex echo needs.
				h := Spawn(ctx, func(ctx context.Context) (struct{}, error) {
					c, err := Dial(ctx, "tcp", l.Addr().String())
					if err != nil {
						return struct{}{}, err
					}
					defer c.Close()
					rng := rand.New(rand.NewPCG(uint64(i), 4))
					msg := make([]byte, 1+rng.IntN(maxSize))
					for j := range msg {
						msg[j] = byte(rng.Uint32())
					}
					writer := Spawn(ctx, func(ctx context.Context) (struct{}, error) {
						if _, err := c.Write(ctx, msg); err != nil {
							return struct{}{}, err
						}
						return struct{}{}, c.CloseWrite()
					})
					got := make([]byte, 0, len(msg))
					buf := make([]byte, 32<<10)
					for {
						n, err := c.Read(ctx, buf)
						got = append(got, buf[:n]...)
						if err == io.EOF {
							break
						}
						if err != nil {
							return struct{}{}, err
						}
					}
					if _, err := writer.Join(ctx); err != nil {
						return struct{}{}, err
					}
					if !bytes.Equal(got, msg) {
						return struct{}{}, fmt.Errorf("conn %d: echo of %d bytes differs (got %d bytes)", i, len(msg), len(got))
					}
					total.Add(int64(len(msg)))
					return struct{}{}, nil
				})
				_, err := h.Join(context.Background())
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		l.Close()
		wait()
		t.Logf("%d connections echoed %d MiB", conns, total.Load()>>20)
		if s := e.Stats(); s.MaxRunning > 2 {
			t.Errorf("MaxRunning = %d with 2 workers", s.MaxRunning)
		}
		waitFor(t, func() bool { return openFDs(t) <= fds })
	})
}

// raiseFDLimit makes sure the process may open n descriptors.
func raiseFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	old := lim
	lim.Cur = n
	if lim.Max < n {
		lim.Max = n // root only
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot raise the descriptor limit to %d: %v", n, err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

func TestNetHTTP(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		l := listenLoopback(t, e.Context())
		release := make(chan struct{})
		slowStarted := make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, body)
		})
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			close(slowStarted)
			<-release
			io.WriteString(w, "done")
		})
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l.NetListener()) }()

		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		base := "http://" + l.Addr().String()
		for i := range 20 { // keep-alive: one connection serves them all
			resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader(fmt.Sprint("req", i)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprint("POST req", i); string(b) != want || resp.StatusCode != 200 {
				t.Fatalf("got %d %q; want 200 %q", resp.StatusCode, b, want)
			}
		}
		big := strings.Repeat("x", 3<<20)
		resp, err := client.Post(base+"/echo", "text/plain", strings.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "POST "+big {
			t.Fatalf("3 MiB echo: got %d bytes", len(b))
		}

		// Shutdown drains: the request in progress completes, then Serve
		// returns http.ErrServerClosed.
		slow := make(chan string, 1)
		go func() {
			resp, err := client.Get(base + "/slow")
			if err != nil {
				slow <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			slow <- string(b)
		}()
		<-slowStarted
		shut := make(chan error, 1)
		go func() { shut <- srv.Shutdown(context.Background()) }()
		select {
		case err := <-served:
			if err != http.ErrServerClosed {
				t.Fatalf("Serve = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after Shutdown")
		}
		time.Sleep(20 * time.Millisecond)
		close(release)
		if got := <-slow; got != "done" {
			t.Errorf("request in progress during Shutdown got %q", got)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown = %v", err)
		}
		tr.CloseIdleConnections()
		waitFor(t, func() bool { return openFDs(t) <= fds })
	})
}

// accepted returns the server side of one connection to l.
func accepted(t *testing.T, ctx context.Context, l *Listener) (client, server *Conn) {
	t.Helper()
	h := Spawn(ctx, func(ctx context.Context) (*Conn, error) { return l.Accept(ctx) })
	client, err := Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = h.Join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestNetPeerReset(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		// The peer is a net.Conn that resets on close (SO_LINGER 0).
		nl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		go func() {
			nc, err := nl.Accept()
			if err != nil {
				return
			}
			nc.Read(make([]byte, 1))
			nc.(*net.TCPConn).SetLinger(0)
			nc.Close()
		}()
		c, err := Dial(ctx, "tcp", nl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		_, err = c.Read(ctx, make([]byte, 10))
		var oe *net.OpError
		if !errors.Is(err, syscall.ECONNRESET) || !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read from a reset peer: %v; want a read *net.OpError wrapping ECONNRESET", err)
		}
	})
}

func TestNetWriteToClosedPeer(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		server.Close()
		// The first writes may land in the socket buffer before the
		// peer's RST comes back; later ones fail with EPIPE or
		// ECONNRESET, never SIGPIPE (which would kill the test).
		buf := make([]byte, 64<<10)
		var err error
		for range 100 {
			if _, err = client.Write(ctx, buf); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !isPeerGone(err) {
			t.Fatalf("Write to a closed peer: %v; want EPIPE or ECONNRESET", err)
		}
	})
}

func TestNetHalfClose(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		if _, err := client.Write(ctx, []byte("request")); err != nil {
			t.Fatal(err)
		}
		if err := client.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		req, err := io.ReadAll(server.NetConn())
		if err != nil || string(req) != "request" {
			t.Fatalf("server read %q, %v", req, err)
		}
		// The other direction still works.
		if _, err := server.Write(ctx, []byte("response")); err != nil {
			t.Fatal(err)
		}
		server.Close()
		resp, err := io.ReadAll(client.NetConn())
		if err != nil || string(resp) != "response" {
			t.Fatalf("client read %q, %v", resp, err)
		}
		if _, err := client.Write(ctx, []byte("x")); !isPeerGone(err) {
			t.Errorf("Write after CloseWrite: %v; want EPIPE", err)
		}
	})
}

func TestNetUseAfterClose(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, _ := accepted(t, ctx, l)
		if err := client.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Read(ctx, make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close: %v; want net.ErrClosed", err)
		}
		if _, err := client.Write(ctx, []byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v; want net.ErrClosed", err)
		}
		if err := client.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v; want net.ErrClosed", err)
		}
		l.Close()
		if _, err := l.Accept(ctx); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v; want net.ErrClosed", err)
		}
		if err := l.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Listener.Close: %v; want net.ErrClosed", err)
		}
	})
}

// TestNetClosePending: Close with reads and accepts pending makes them
// return promptly with net.ErrClosed (internal/driver's invariant 5), in
// tasks holding no worker while they wait.
func TestNetClosePending(t *testing.T) {
	onSocketBackends(t, 1, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		var handles []*JoinHandle[error]
		for range 3 {
			handles = append(handles, Spawn(ctx, func(ctx context.Context) (error, error) {
				_, err := server.Read(ctx, make([]byte, 10))
				return err, nil
			}))
			handles = append(handles, Spawn(ctx, func(ctx context.Context) (error, error) {
				_, err := l.Accept(ctx)
				return err, nil
			}))
		}
		waitFor(t, func() bool { return e.Stats().Waiting >= 6 })
		time.Sleep(10 * time.Millisecond) // let them reach the kernel
		start := time.Now()
		server.Close()
		l.Close()
		for _, h := range handles {
			err, _ := h.Join(context.Background())
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("pending op after Close: %v; want net.ErrClosed", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("pending ops took %v to return after Close", d)
		}
		client.Close()
		if got := openFDs(t); got > fds {
			t.Errorf("%d descriptors open after the test; %d before", got, fds)
		}
	})
}

func TestNetContextCancel(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)

		rctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		if _, err := server.Read(rctx, make([]byte, 1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Read with ctx cancelled: %v; want context.Canceled", err)
		}
		// The connection still works afterwards.
		if _, err := client.Write(ctx, []byte("y")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if n, err := server.Read(ctx, buf); n != 1 || err != nil || buf[0] != 'y' {
			t.Errorf("Read after a cancelled read = %d, %v, %q", n, err, buf)
		}
		actx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := l.Accept(actx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Accept with ctx timing out: %v; want context.DeadlineExceeded", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || !oe.Timeout() {
			t.Errorf("Accept timeout error %v is not a timeout *net.OpError", err)
		}
	})
}

func TestNetDeadlines(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)
		nc := server.NetConn()
		buf := make([]byte, 10)

		// A deadline in the past fails reads at once, even with data
		// waiting, as in the net package.
		client.Write(ctx, []byte("a"))
		nc.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := nc.Read(buf); !isTimeout(err) {
			t.Fatalf("Read past the deadline: %v; want a timeout", err)
		}
		// Clearing it lets the waiting data through.
		nc.SetReadDeadline(time.Time{})
		if n, err := nc.Read(buf); n != 1 || err != nil {
			t.Fatalf("Read after clearing the deadline = %d, %v", n, err)
		}

		// A deadline set while a read is pending interrupts it.
		errc := make(chan error, 1)
		go func() { _, err := nc.Read(buf); errc <- err }()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if err := <-errc; !isTimeout(err) {
			t.Fatalf("pending Read: %v; want a timeout", err)
		}
		if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
			t.Errorf("pending Read returned after %v; deadline was 30ms", d)
		}
		// Extending a deadline while a read is pending applies to it.
		nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		go func() { _, err := nc.Read(buf); errc <- err }()
		time.Sleep(10 * time.Millisecond)
		nc.SetReadDeadline(time.Now().Add(time.Hour))
		time.Sleep(60 * time.Millisecond)
		client.Write(ctx, []byte("b"))
		if err := <-errc; err != nil {
			t.Fatalf("Read with its deadline extended: %v", err)
		}

		// Write deadlines: fill the buffers of a peer that does not read.
		cc := client.NetConn()
		cc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		big := make([]byte, 1<<20)
		var err error
		for range 64 {
			if _, err = cc.Write(big); err != nil {
				break
			}
		}
		if !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write to a full peer past the deadline: %v; want os.ErrDeadlineExceeded", err)
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

// TestNetAcceptStorm: more connections at once than the listen backlog
// holds are all served. Past the backlog the kernel drops handshakes
// (ListenOverflows counts them) and a client may believe it is connected
// to a socket the server never sees; as real clients do, ours give up on
// such a connection after a while and dial again.
func TestNetAcceptStorm(t *testing.T) {
	old := listenBacklog
	listenBacklog = func() int { return 8 }
	defer func() { listenBacklog = old }()
	const n = 300
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		overflows := listenOverflows(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		wait := serveEcho(t, e, l)
		var g group
		var redials atomic.Int64
		for range n {
			g.Go(func() error {
				var err error
				for range 50 {
					if err = pingOnce(l.Addr().String()); err == nil {
						return nil
					}
					redials.Add(1)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		l.Close()
		wait()
		t.Logf("%d connections served, %d redials, %d listen overflows",
			n, redials.Load(), listenOverflows(t)-overflows)
		if listenOverflows(t) == overflows {
			t.Log("the storm never overflowed the backlog")
		}
		waitFor(t, func() bool { return openFDs(t) <= fds })
	})
}

// pingOnce dials addr and waits for the echo of one byte, for at most
// 300ms (a dropped handshake is not coming back sooner: the kernel's
// retransmissions start at 200ms or more).
func pingOnce(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte("s")); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

// listenOverflows returns the system's count of connections dropped
// because a listen queue was full (TcpExt ListenOverflows).
func listenOverflows(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range names {
			if names[j] == "ListenOverflows" && j < len(values) {
				var v int64
				fmt.Sscan(values[j], &v)
				return v
			}
		}
	}
	return 0
}

// Idle clients run in a child process (this test binary, started with
// netIdleClientsEnv set): 10,000 connections take 20,000 descriptors,
// which with the test's own would pass a 20,000 limit that only a
// privileged process can raise.
const netIdleClientsEnv = "EXECUTOR_NET_IDLE_CLIENTS"

func init() {
	spec := os.Getenv(netIdleClientsEnv)
	if spec == "" {
		return
	}
	var addr string
	var n int
	fmt.Sscan(spec, &addr, &n)
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // hold the connections until the parent is done
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

// TestNetIdleDeadlines: 10,000 idle connections (2,000 with -short), each
// with a read pending under a deadline through NetConn, all time out, and
// every descriptor is closed afterwards.
func TestNetIdleDeadlines(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	raiseFDLimit(t, uint64(n+1000))
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		var timedOut, other, accepted atomic.Int64
		var wg sync.WaitGroup
		acceptor := Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			for {
				c, err := l.Accept(ctx)
				if err != nil {
					return struct{}{}, nil
				}
				// Half the connections are read the net.Conn way, on a
				// goroutine through NetConn with a read deadline (as
				// net/http does); half in a task whose context has the
				// deadline.
				wg.Add(1)
				i := accepted.Add(1)
				check := func(err error) {
					if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) && errors.As(err, new(net.Error)) {
						timedOut.Add(1)
					} else {
						other.Add(1)
						t.Errorf("idle read: %v", err)
					}
				}
				if i%2 == 0 {
					go func() {
						defer wg.Done()
						defer c.Close()
						nc := c.NetConn()
						nc.SetReadDeadline(time.Now().Add(2 * time.Second))
						_, err := nc.Read(make([]byte, 1))
						check(err)
					}()
					continue
				}
				Spawn(ctx, func(ctx context.Context) (struct{}, error) {
					defer wg.Done()
					defer c.Close()
					ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					defer cancel()
					_, err := c.Read(ctx, make([]byte, 1))
					check(err)
					return struct{}{}, nil
				})
			}
		})
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", netIdleClientsEnv, l.Addr(), n))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "ready\n" {
			stdin.Close()
			cmd.Wait()
			t.Fatalf("client process: %q", line)
		}
		deadline := time.Now().Add(30 * time.Second)
		for timedOut.Load()+other.Load() < int64(n) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := timedOut.Load(); got != int64(n) {
			t.Errorf("%d of %d idle reads timed out (%d failed otherwise, %d accepted)", got, n, other.Load(), accepted.Load())
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("client process: %v", err)
		}
		l.Close()
		acceptor.Join(context.Background())
		wg.Wait()
		waitFor(t, func() bool { return openFDs(t) <= fds })
	})
}

// group runs functions on goroutines and keeps the first error, like
// errgroup (which this module does not depend on).
type group struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (g *group) Go(f func() error) {
	g.wg.Go(func() {
		if err := f(); err != nil {
			g.once.Do(func() { g.err = err })
		}
	})
}

func (g *group) Wait() error {
	g.wg.Wait()
	return g.err
}

// TestNetAcceptCancelRace: accepts cancelled while connections arrive.
// An accept that completed anyway after its cancellation must close the
// connection (internal/driver's invariant 4): every client ends up reading
// EOF or a reset, none hangs on a connection nobody owns, and no
// descriptor leaks.
func TestNetAcceptCancelRace(t *testing.T) {
	const rounds = 200
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		clients := make(chan net.Conn, rounds)
		var dialErr atomic.Value
		accepted, cancelled := 0, 0
		for i := range rounds {
			go func() {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					dialErr.Store(err)
					clients <- nil
					return
				}
				clients <- c
			}()
			actx, cancel := context.WithCancel(ctx)
			time.AfterFunc(time.Duration(i%20)*10*time.Microsecond, cancel)
			c, err := l.Accept(actx)
			cancel()
			switch {
			case err == nil:
				accepted++
				c.Close()
			case errors.Is(err, context.Canceled):
				cancelled++
			default:
				t.Fatalf("Accept: %v", err)
			}
		}
		// Connections still queued are reset when the listener closes,
		// once every dial is through.
		conns := make([]net.Conn, 0, rounds)
		for range rounds {
			c := <-clients
			if c == nil {
				t.Fatal(dialErr.Load())
			}
			conns = append(conns, c)
		}
		l.Close()
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client read: %v; want EOF or a reset", err)
			}
			c.Close()
		}
		t.Logf("%d accepted, %d cancelled", accepted, cancelled)
		if cancelled == 0 {
			t.Log("no accept was cancelled this time: every one won its race")
		}
		waitFor(t, func() bool { return openFDs(t) <= fds })
	})
}

// TestNetDroppedConnClosed: a Conn or Listener dropped without Close has
// its descriptor closed once it is garbage, as in the net package.
func TestNetDroppedConnClosed(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		fds := openFDs(t)
		ctx := e.Context()
		func() {
			l, err := Listen(ctx, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if _, err := Dial(ctx, "tcp", l.Addr().String()); err != nil {
					t.Fatal(err)
				}
				if _, err := l.Accept(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}()
		waitFor(t, func() bool {
			runtime.GC()
			return openFDs(t) <= fds
		})
	})
}

// TestNetContextWatch: a net socket's Read and Write keep their context's
// watch registered from one call to the next; switching contexts, after
// one was cancelled, must leave no deadline behind, and Close must
// unregister the watches so that a context outliving its connections does
// not keep them reachable.
func TestNetContextWatch(t *testing.T) {
	e := newExecutor(t, Options{Workers: 2})
	ctx := e.Context()
	l := listenLoopback(t, ctx)
	client, server := accepted(t, ctx, l)
	defer client.Close()

	long, stopLong := context.WithCancel(ctx)
	defer stopLong()
	buf := make([]byte, 1)
	for i := range 3 {
		if _, err := client.Write(long, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if n, err := server.Read(long, buf); n != 1 || err != nil || buf[0] != byte(i) {
			t.Fatalf("Read %d = %d, %v, %v", i, n, err, buf)
		}
	}
	// Cancel a context between calls, then read with another one.
	short, cancel := context.WithCancel(ctx)
	if _, err := client.Write(short, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(short, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := server.Read(short, buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v", err)
	}
	if _, err := client.Write(long, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if n, err := server.Read(long, buf); n != 1 || err != nil || buf[0] != 'b' {
		t.Fatalf("Read after switching contexts = %d, %v, %q", n, err, buf)
	}

	// Connections closed while long lives are collected.
	var collected atomic.Int64
	const conns = 20
	for range conns {
		// Not accepted(), whose t.Cleanup keeps the connections.
		h := Spawn(ctx, func(ctx context.Context) (*Conn, error) { return l.Accept(ctx) })
		c, err := Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := h.Join(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(long, []byte("c")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(long, buf); err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(s.impl.(*pollerConn).nc.(*net.TCPConn), func(*atomic.Int64) { collected.Add(1) }, &collected)
		s.Close()
		c.Close()
	}
	waitFor(t, func() bool {
		runtime.GC()
		return collected.Load() == conns
	})
	server.Close()
}

// TestNetConcurrentOneWorker: on one worker, a Read or Write queued behind
// another on the same connection must not hold the worker while it waits
// for its turn, or the task that would unblock them both never runs.
func TestNetConcurrentOneWorker(t *testing.T) {
	onSocketBackends(t, 1, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		l := listenLoopback(t, ctx)
		client, server := accepted(t, ctx, l)

		// Two readers wait on the server side; then a task writes.
		var got atomic.Int64
		readers := make([]*JoinHandle[int], 2)
		for i := range readers {
			readers[i] = Spawn(ctx, func(ctx context.Context) (int, error) {
				n, err := server.Read(ctx, make([]byte, 1))
				got.Add(int64(n))
				return n, err
			})
		}
		waitFor(t, func() bool { return e.Stats().Waiting >= 2 })
		writer := Spawn(ctx, func(ctx context.Context) (int, error) {
			n := 0
			for range 2 {
				m, err := client.Write(ctx, []byte("x"))
				if err != nil {
					return n, err
				}
				n += m
				Sleep(ctx, time.Millisecond) // two segments, one per reader
			}
			return n, nil
		})
		if n, err := writer.Join(ctx); n != 2 || err != nil {
			t.Fatalf("writer: %d, %v", n, err)
		}
		for _, r := range readers {
			if _, err := r.Join(ctx); err != nil {
				t.Fatalf("reader: %v", err)
			}
		}
		if got.Load() != 2 {
			t.Fatalf("readers got %d bytes, want 2", got.Load())
		}

		// Two writers fill the socket buffer; then a task drains it.
		const size = 8 << 20
		writers := make([]*JoinHandle[int], 2)
		for i := range writers {
			writers[i] = Spawn(ctx, func(ctx context.Context) (int, error) {
				return server.Write(ctx, make([]byte, size))
			})
		}
		waitFor(t, func() bool { return e.Stats().Waiting >= 2 })
		drained := Spawn(ctx, func(ctx context.Context) (int, error) {
			buf := make([]byte, 64<<10)
			n := 0
			for n < 2*size {
				m, err := client.Read(ctx, buf)
				if err != nil {
					return n, err
				}
				n += m
			}
			return n, nil
		})
		for _, w := range writers {
			if n, err := w.Join(ctx); n != size || err != nil {
				t.Fatalf("writer: %d, %v", n, err)
			}
		}
		if n, err := drained.Join(ctx); n != 2*size || err != nil {
			t.Fatalf("reader drained %d, %v; want %d", n, err, 2*size)
		}
	})
}

// TestNetNoAllocs: a round trip on net sockets (the default) allocates
// nothing, with a cancellable context included: the RawConn callbacks and
// the context's watch are made once per connection, not per call.
func TestNetNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newExecutor(t, Options{Workers: 2})
	ctx, cancel := context.WithCancel(e.Context())
	defer cancel()
	l := listenLoopback(t, ctx)
	client, server := accepted(t, ctx, l)
	buf := make([]byte, 64)
	h := Spawn(ctx, func(ctx context.Context) (float64, error) {
		return testing.AllocsPerRun(1000, func() {
			client.Write(ctx, buf)
			server.Read(ctx, buf)
			server.Write(ctx, buf)
			client.Read(ctx, buf)
		}), nil
	})
	if allocs, _ := h.Join(ctx); allocs != 0 {
		t.Errorf("%v allocations per round trip; want 0", allocs)
	}
}
