package driver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// BenchmarkRecvDesign is the experiment behind the default of
// Options.RingSockets (see docs/ARCHITECTURE.md, "Sockets"). It asks
// whether receiving through io_uring can match Go's network poller for
// ping-pong echo on loopback, in its most favourable form for Go:
//
//   - the CQ is drained by a goroutine that the runtime's poller wakes
//     through an eventfd registered with the ring, so that no completion
//     has to wait for a locked thread to get a P back from the scheduler;
//   - the thread that owns the ring (SINGLE_ISSUER without DEFER_TASKRUN)
//     runs the kernel's completion work while it sleeps in read(2), and
//     comes back to Go only to submit;
//   - each connection keeps one multishot receive into a ring of provided
//     buffers, so that the steady state submits nothing;
//   - sends are plain non-blocking send(2) calls.
//
// The anchor, net + goroutines, runs in the same benchmark. Each server is
// echo with a goroutine per connection; the client is the same for both.
//
// Measured on the 2 vCPU VM (Linux 6.18, -benchtime 2s, three runs):
// see the table in docs/ARCHITECTURE.md. The ring design stays behind
// net: each receive costs a wake-up of the ring's thread on top of the
// poller's wake-up of the reaper.
//
// ring-driver is the shipped design that came out of it (the driver's
// socket ring, socket_ring.go: no ring thread at all, submitters enter
// the kernel and the poller-woken reaper or the next submitter drains
// the CQ, one receive per request into the caller's buffer), measured
// here without the executor around it; docs/ARCHITECTURE.md
// ("Performance and scale") has its figures and what they are spent on.
func BenchmarkRecvDesign(b *testing.B) {
	raiseNoFile(b, 4096)
	for _, conns := range []int{1, 64, 1000} {
		b.Run("conns="+strconv.Itoa(conns)+"/net", func(b *testing.B) {
			srv := startNetEcho(b)
			defer srv.stop()
			echoPingPong(b, srv.addr, conns)
		})
		b.Run("conns="+strconv.Itoa(conns)+"/ring-driver", func(b *testing.B) {
			srv := startDriverEcho(b)
			defer srv.stop()
			echoPingPong(b, srv.addr, conns)
		})
		b.Run("conns="+strconv.Itoa(conns)+"/ring-multishot", func(b *testing.B) {
			srv, err := startRingEcho()
			if err != nil {
				b.Skipf("io_uring: %v", err)
			}
			defer srv.stop()
			echoPingPong(b, srv.addr, conns)
		})
	}
}

// TestRecvDesignEcho checks that the experiment's ring server echoes
// correctly and stops cleanly (goleak in TestMain), so that the benchmark
// measures a working server.
func TestRecvDesignEcho(t *testing.T) {
	srv, err := startRingEcho()
	if err != nil {
		t.Skipf("io_uring: %v", err)
	}
	defer srv.stop()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := make([]byte, 1000+i*3000) // several provided buffers each
			for j := range msg {
				msg[j] = byte(i + j)
			}
			for range 20 {
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Error(err)
					return
				}
				for j := range got {
					if got[j] != msg[j] {
						t.Errorf("connection %d: byte %d differs", i, j)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// startDriverEcho serves echo with the driver's ring sockets (Sockets,
// the socket ring of socket_ring.go) and a goroutine per connection: the
// shipped design, without the executor's worker hand-offs around it.
func startDriverEcho(tb testing.TB) echoSrv {
	d := newTestUring(tb, defaultConfig)
	lfd, sa := listen(tb)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nfd, _, err := d.Accept(ctx, lfd)
			if err != nil {
				return
			}
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
			wg.Go(func() {
				defer d.Close(nfd)
				buf := make([]byte, 4096)
				for {
					n, err := d.Recv(ctx, nfd, buf)
					if err != nil || n == 0 {
						return
					}
					for p := buf[:n]; len(p) > 0; {
						m, err := d.Send(ctx, nfd, p)
						if err != nil {
							return
						}
						p = p[m:]
					}
				}
			})
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	return echoSrv{addr: addr, stop: func() {
		cancel()
		wg.Wait()
	}}
}

type echoSrv struct {
	addr string
	stop func()
}

func startNetEcho(tb testing.TB) echoSrv {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	return echoSrv{addr: l.Addr().String(), stop: func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}}
}

const (
	designBufs    = 4096 // provided buffers
	designBufSize = 4096
	designGroup   = 0
)

// ringEcho is the experiment's server.
type ringEcho struct {
	ring *uring.Ring
	bufs *uring.BufRing
	mem  []byte
	bmu  sync.Mutex // guards bufs (returning buffers)

	mu       sync.Mutex
	backlog  []uring.SQE
	sleeping bool // the ring's thread waits in read(kick)
	stopping bool
	kick     int      // eventfd: wakes the ring's thread to submit
	cqFile   *os.File // the eventfd registered with the ring, in the poller

	conns   sync.Map       // user_data (fd) → *ringConn
	lfd     int            // the listening socket
	serving sync.WaitGroup // the accept loop and the connections' goroutines
	reaping sync.WaitGroup // the reaper
	thread  chan struct{}  // closed when the ring's thread has ended
}

type ringConn struct {
	fd    int
	mu    sync.Mutex
	q     []uring.CQE // receive completions not yet consumed
	armed bool        // a multishot receive is in flight
	wake  chan struct{}
	done  atomic.Bool
}

func startRingEcho() (srv echoSrv, err error) {
	s := &ringEcho{kick: -1, lfd: -1, thread: make(chan struct{})}
	ready := make(chan error)
	go s.run(ready)
	if err := <-ready; err != nil {
		<-s.thread
		return echoSrv{}, err
	}
	s.reaping.Go(s.reap)
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	s.lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return echoSrv{}, err
	}
	if err := unix.Bind(s.lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return echoSrv{}, err
	}
	if err := unix.Listen(s.lfd, 4096); err != nil {
		return echoSrv{}, err
	}
	sa, err := unix.Getsockname(s.lfd)
	if err != nil {
		return echoSrv{}, err
	}
	s.serving.Go(s.accept)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	return echoSrv{addr: addr, stop: s.stop}, nil
}

// run is the ring's thread: it creates the ring (SINGLE_ISSUER ties the
// ring to it), then submits whatever the backlog holds and sleeps in
// read(2) on the kick eventfd, where the kernel runs the ring's
// completion work for it.
func (s *ringEcho) run(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.thread)
	if err := s.setup(); err != nil {
		s.release()
		ready <- err
		return
	}
	ready <- nil
	var b [8]byte
	for {
		s.mu.Lock()
		for len(s.backlog) > 0 {
			q := s.ring.NextSQE()
			if q == nil {
				break
			}
			*q = s.backlog[0]
			s.backlog = s.backlog[1:]
		}
		n := s.ring.Flush()
		stop := s.stopping && n == 0 && len(s.backlog) == 0
		s.sleeping = n == 0 && !stop
		s.mu.Unlock()
		switch {
		case stop:
			return
		case n > 0:
			s.ring.Enter(n, 0, 0)
		default:
			unix.Read(s.kick, b[:])
		}
	}
}

func (s *ringEcho) setup() error {
	p := uring.Params{Flags: uring.SetupCQSize | uring.SetupSingleIssuer | uring.SetupSubmitAll, CQEntries: 4 * designBufs}
	r, err := uring.Setup(1024, &p)
	if err != nil {
		return err
	}
	s.ring = r
	if s.kick, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
		return err
	}
	cq, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	s.cqFile = os.NewFile(uintptr(cq), "cq-eventfd") // non-blocking: in the poller
	fd32 := int32(cq)
	if _, err := r.Register(uring.RegisterEventfd, unsafe.Pointer(&fd32), 1); err != nil {
		return err
	}
	if s.bufs, err = r.RegisterBufRing(designBufs, designGroup); err != nil {
		return err
	}
	s.mem, err = unix.Mmap(-1, 0, designBufs*designBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANONYMOUS|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	for i := range designBufs {
		s.bufs.Add(unsafe.Pointer(&s.mem[i*designBufSize]), designBufSize, uint16(i))
	}
	s.bufs.Advance()
	return nil
}

// release frees what setup made; the ring's thread has ended.
func (s *ringEcho) release() {
	if s.bufs != nil {
		s.bufs.Unregister()
	}
	if s.ring != nil {
		s.ring.Close()
	}
	if s.mem != nil {
		unix.Munmap(s.mem)
	}
	if s.cqFile != nil {
		s.cqFile.Close()
	}
	if s.kick >= 0 {
		unix.Close(s.kick)
	}
}

func (s *ringEcho) submit(sqe uring.SQE) {
	s.mu.Lock()
	s.backlog = append(s.backlog, sqe)
	wake := s.sleeping
	s.sleeping = false
	s.mu.Unlock()
	if wake {
		one := uint64(1)
		unix.Write(s.kick, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

// reap drains the CQ each time the poller says the eventfd was signalled.
func (s *ringEcho) reap() {
	var b [8]byte
	for {
		if _, err := s.cqFile.Read(b[:]); err != nil {
			return // closed by stop
		}
		for c := s.ring.PeekCQE(); c != nil; c = s.ring.PeekCQE() {
			cqe := *c
			s.ring.CQAdvance(1)
			v, ok := s.conns.Load(cqe.UserData)
			if !ok {
				continue
			}
			rc := v.(*ringConn)
			rc.mu.Lock()
			rc.q = append(rc.q, cqe)
			if cqe.Flags&uring.CQEFMore == 0 {
				rc.armed = false
			}
			rc.mu.Unlock()
			select {
			case rc.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (s *ringEcho) accept() {
	for {
		nfd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
			continue
		}
		if err != nil {
			return // stop shut the listener down
		}
		unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		rc := &ringConn{fd: nfd, wake: make(chan struct{}, 1)}
		s.conns.Store(uint64(nfd), rc)
		s.serving.Go(func() { s.serve(rc) })
	}
}

// serve echoes one connection until it ends or stop closes it.
func (s *ringEcho) serve(rc *ringConn) {
	defer func() {
		// The multishot receive ends on its own once the socket is shut
		// down (a last CQE without CQEFMore); wait for it before closing.
		unix.Shutdown(rc.fd, unix.SHUT_RDWR)
		rc.mu.Lock()
		for rc.armed {
			rc.mu.Unlock()
			<-rc.wake
			rc.mu.Lock()
			s.recycle(rc.q)
			rc.q = rc.q[:0]
		}
		rc.mu.Unlock()
		s.conns.Delete(uint64(rc.fd))
		unix.Close(rc.fd)
	}()
	for {
		rc.mu.Lock()
		for len(rc.q) == 0 {
			if rc.done.Load() {
				rc.mu.Unlock()
				return
			}
			if !rc.armed {
				rc.armed = true
				var sqe uring.SQE
				sqe.PrepRecv(rc.fd, nil, designBufSize, 0, designGroup)
				sqe.IOPrio |= uring.RecvMultishot
				sqe.UserData = uint64(rc.fd)
				s.submit(sqe)
			}
			rc.mu.Unlock()
			<-rc.wake
			rc.mu.Lock()
		}
		cqe := rc.q[0]
		rc.q = rc.q[1:]
		rc.mu.Unlock()
		switch {
		case cqe.Res == -int32(syscall.ENOBUFS):
			continue // re-armed above once the queue is empty
		case cqe.Res <= 0:
			return // EOF or an error
		}
		bid := int(cqe.Flags >> uring.CQEBufferShift)
		data := s.mem[bid*designBufSize : bid*designBufSize+int(cqe.Res)]
		for len(data) > 0 {
			n, err, ok := TrySocket(rc.fd, data, true)
			if !ok {
				pfd := []unix.PollFd{{Fd: int32(rc.fd), Events: unix.POLLOUT}}
				unix.Poll(pfd, 100)
				if rc.done.Load() {
					break
				}
				continue
			}
			if err != nil {
				break
			}
			data = data[n:]
		}
		s.recycle([]uring.CQE{cqe})
	}
}

// recycle gives the provided buffers of cqes back to the kernel.
func (s *ringEcho) recycle(cqes []uring.CQE) {
	s.bmu.Lock()
	for _, c := range cqes {
		if c.Flags&uring.CQEFBuffer != 0 {
			bid := uint16(c.Flags >> uring.CQEBufferShift)
			s.bufs.Add(unsafe.Pointer(&s.mem[int(bid)*designBufSize]), designBufSize, bid)
		}
	}
	s.bufs.Advance()
	s.bmu.Unlock()
}

// stop ends the accept loop and the connections, then the ring's thread
// and the reaper, and frees the ring. The connections go first: their
// receives' last completions need both the thread (the kernel runs the
// completion work on it) and the reaper.
func (s *ringEcho) stop() {
	if s.lfd >= 0 {
		unix.Shutdown(s.lfd, unix.SHUT_RDWR) // wakes the blocked accept
	}
	s.conns.Range(func(_, v any) bool {
		rc := v.(*ringConn)
		rc.done.Store(true)
		unix.Shutdown(rc.fd, unix.SHUT_RDWR)
		return true
	})
	s.serving.Wait()
	s.mu.Lock()
	s.stopping = true
	wake := s.sleeping
	s.mu.Unlock()
	if wake {
		one := uint64(1)
		unix.Write(s.kick, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
	<-s.thread
	s.cqFile.Close() // ends the reaper
	s.reaping.Wait()
	s.release()
	if s.lfd >= 0 {
		unix.Close(s.lfd)
	}
}

// echoPingPong makes b.N round trips of 1 KiB messages to the echo server
// at addr, spread over conns connections, and reports requests per
// second, the 99th percentile round trip and the process's CPU time per
// request (client included: it is the same for every server).
func echoPingPong(b *testing.B, addr string, conns int) {
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	round := func(total int, lat []time.Duration) {
		var wg sync.WaitGroup
		var next atomic.Int64
		for _, c := range clients {
			wg.Go(func() {
				msg, buf := make([]byte, 1024), make([]byte, 1024)
				for {
					i := next.Add(1) - 1
					if i >= int64(total) {
						return
					}
					t0 := time.Now()
					if _, err := c.Write(msg); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Error(err)
						return
					}
					if lat != nil {
						lat[i] = time.Since(t0)
					}
				}
			})
		}
		wg.Wait()
	}
	round(4*conns, nil) // warm up: every connection served once or more
	lat := make([]time.Duration, b.N)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	round(b.N, lat)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/req")
	b.ReportMetric(0, "ns/op") // req/s says it
}

// raiseNoFile raises the soft limit on open files to at least n.
func raiseNoFile(tb testing.TB, n uint64) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		tb.Skip(err)
	}
	if lim.Cur < n && lim.Max >= n {
		lim.Cur = n
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
}
