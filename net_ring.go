package executor

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// Ring sockets (Options.RingSockets on the uring backend): every accept,
// connect, receive and send is a request of the driver's ring, counted in
// the socket's opRefs so that Close cancels what is in flight and waits
// for it before it closes the descriptor.

// ringListener is a Listener on a ring socket.
type ringListener struct {
	l       Listener // the Listener it implements, in the same allocation
	fd      int
	d       driver.Driver
	s       driver.Sockets
	refs    opRefs
	cleanup runtime.Cleanup // closes the descriptor of a Listener dropped unclosed
}

// newRingListener returns l, with the listening socket fd, as a ring
// socket's Listener.
func newRingListener(l Listener, fd int, d driver.Driver, s driver.Sockets) *Listener {
	r := &ringListener{l: l, fd: fd, d: d, s: s}
	r.l.impl = r
	r.cleanup = runtime.AddCleanup(r, closeDropped, fdOf{d, fd})
	return &r.l
}

func (r *ringListener) accept(ctx context.Context) (*Conn, error) {
	l := &r.l
	if !r.refs.acquire() {
		return nil, l.opErr("accept", net.ErrClosed)
	}
	defer r.refs.release()
	if err := ctx.Err(); err != nil {
		return nil, l.opErr("accept", context.Cause(ctx))
	}
	wt := beginWait(ctx, waitAccept, &l.addr)
	nfd, rsa, err := r.s.Accept(ctx, r.fd)
	wt.end()
	if err != nil {
		return nil, l.opErr("accept", sockErr("accept", ctx, err))
	}
	if r.refs.isClosing() {
		// Close cancelled the accept, which completed anyway.
		unix.Close(nfd)
		return nil, l.opErr("accept", net.ErrClosed)
	}
	if l.network != "unix" {
		setNoDelay(nfd)
	}
	return newRingConn(l.network, nfd, r.d, r.s, toNetAddr(l.network, rsa)), nil
}

func (r *ringListener) close() error {
	l := &r.l
	if !r.refs.close(func() { r.d.CancelFD(r.fd) }) {
		return l.opErr("close", net.ErrClosed)
	}
	r.cleanup.Stop()
	err := r.d.Close(r.fd)
	if l.unlink != "" {
		os.Remove(l.unlink)
	}
	if err != nil {
		return l.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}

// dialRing is Dial on a ring socket, for a stream network.
func dialRing(ctx context.Context, d driver.Driver, s driver.Sockets, network, address string) (*Conn, error) {
	if network == "unix" {
		ua, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return connectRing(ctx, d, s, network, unix.AF_UNIX, &unix.SockaddrUnix{Name: ua.Name}, ua)
	}
	addrs, err := resolveTCP(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, ta := range addrs {
		family := unix.AF_INET6
		var sa unix.Sockaddr
		if ip4 := ta.IP.To4(); ip4 != nil {
			family = unix.AF_INET
			a4 := &unix.SockaddrInet4{Port: ta.Port}
			copy(a4.Addr[:], ip4)
			sa = a4
		} else {
			a6 := &unix.SockaddrInet6{Port: ta.Port, ZoneId: zoneIndex(ta.Zone)}
			copy(a6.Addr[:], ta.IP.To16())
			sa = a6
		}
		c, err := connectRing(ctx, d, s, network, family, sa, ta)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// connectRing connects a new socket of the family to sa.
func connectRing(ctx context.Context, d driver.Driver, s driver.Sockets, network string, family int, sa unix.Sockaddr, raddr net.Addr) (*Conn, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("socket", err)}
	}
	if err := s.Connect(ctx, fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: sockErr("connect", ctx, err)}
	}
	if family != unix.AF_UNIX {
		setNoDelay(fd)
	}
	return newRingConn(network, fd, d, s, raddr), nil
}

// ringConn is a Conn on a ring socket.
type ringConn struct {
	c       Conn // the Conn it implements, in the same allocation
	fd      int
	d       driver.Driver
	s       driver.Sockets
	wmu     sync.Mutex // a Write sends all of p before another starts
	refs    opRefs
	cleanup runtime.Cleanup // closes the descriptor of a Conn dropped unclosed
}

// newRingConn returns the Conn of a connected ring socket.
func newRingConn(network string, fd int, d driver.Driver, s driver.Sockets, raddr net.Addr) *Conn {
	r := &ringConn{c: Conn{network: network, raddr: raddr}, fd: fd, d: d, s: s}
	r.c.impl = r
	if lsa, err := unix.Getsockname(fd); err == nil {
		r.c.laddr = toNetAddr(network, lsa)
	}
	// As the net package does, a connection dropped without Close does
	// not leak its descriptor. No operation can be in flight on it then:
	// each holds the ringConn.
	r.cleanup = runtime.AddCleanup(r, closeDropped, fdOf{d, fd})
	return &r.c
}

// fdOf is a descriptor and its driver, for closeDropped.
type fdOf struct {
	d  driver.Driver
	fd int
}

func closeDropped(f fdOf) { f.d.Close(f.fd) }

// setNoDelay turns Nagle's algorithm off, as the net package does for
// every TCP connection.
func setNoDelay(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// sockErr turns a driver error into the error inside a *net.OpError.
func sockErr(call string, ctx context.Context, err error) error {
	switch {
	case errors.Is(err, syscall.ECANCELED) || errors.Is(err, driver.ErrClosed):
		// Cancelled by Close (or by the executor's shutdown), not by ctx.
		return net.ErrClosed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return context.Cause(ctx)
	}
	if errno, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError(call, errno)
	}
	return err
}

// enter counts a read or a write in, for Close to wait for, unless the
// Conn is closed or ctx is done; the caller counts it out with
// r.refs.release if enter returned no error.
func (r *ringConn) enter(ctx context.Context, op string) error {
	if !r.refs.acquire() {
		return r.c.opErr(op, net.ErrClosed)
	}
	// As the net package: an expired deadline fails a read even if data
	// is waiting.
	if err := ctx.Err(); err != nil {
		r.refs.release()
		return r.c.opErr(op, context.Cause(ctx))
	}
	return nil
}

func (r *ringConn) read(ctx context.Context, p []byte) (int, error) {
	c := &r.c
	if err := r.enter(ctx, "read"); err != nil {
		return 0, err
	}
	defer r.refs.release()
	if len(p) == 0 {
		return 0, nil
	}
	// No receive is tried before the worker is given up: the driver's Recv
	// tries one itself, and a second attempt here cost a failed system call
	// per wait in ping-pong echo for no measured gain (bench/netbench).
	wt := beginWait(ctx, waitRead, &c.raddr)
	n, err := r.s.Recv(ctx, r.fd, p)
	wt.end()
	if err != nil {
		return 0, c.opErr("read", sockErr("read", ctx, err))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *ringConn) write(ctx context.Context, p []byte) (int, error) {
	c := &r.c
	if err := r.enter(ctx, "write"); err != nil {
		return 0, err
	}
	defer r.refs.release()
	n := 0
	w := wait{ctx: ctx}
	defer w.end()
	if r.wmu.TryLock() {
		// No other Write in progress: send what the socket buffer takes
		// at once while the task still holds its worker (a send rarely
		// has to wait), and give the worker up only for the rest.
		for len(p) > 0 {
			m, err, ok := r.s.TrySend(r.fd, p)
			if !ok {
				break
			}
			if err != nil {
				r.wmu.Unlock()
				return n, c.opErr("write", sockErr("write", ctx, err))
			}
			n += m
			p = p[m:]
		}
		if len(p) == 0 {
			r.wmu.Unlock()
			return n, nil
		}
		w.begin(waitWrite, &c.raddr)
	} else {
		// Lock after giving up the worker: a writer queued behind
		// another must not hold one.
		w.begin(waitWrite, &c.raddr)
		r.wmu.Lock()
	}
	defer r.wmu.Unlock()
	for len(p) > 0 {
		m, err := r.s.Send(ctx, r.fd, p)
		if err != nil {
			return n, c.opErr("write", sockErr("write", ctx, err))
		}
		if m == 0 {
			return n, c.opErr("write", io.ErrShortWrite)
		}
		n += m
		p = p[m:]
	}
	return n, nil
}

// sendFile is splice(2) through a pipe: the file's side as a ring request
// (it may wait for the device), the socket's side a non-blocking splice
// that waits for room with a ring poll request.
func (r *ringConn) sendFile(ctx context.Context, src int, off, n int64) (int64, error, bool) {
	c := &r.c
	if !r.refs.acquire() {
		return 0, c.opErr("sendfile", net.ErrClosed), true
	}
	defer r.refs.release()
	fo := r.d.(driver.FileOps)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return 0, c.opErr("sendfile", os.NewSyscallError("pipe2", err)), true
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, 1<<20) // fewer rounds if allowed
	size, err := unix.FcntlInt(uintptr(p[1]), unix.F_GETPIPE_SZ, 0)
	if err != nil || size <= 0 {
		size = 64 << 10
	}
	wt := beginWait(ctx, waitWrite, &c.raddr)
	defer wt.end()
	r.wmu.Lock() // after giving the worker up: Writes queued behind a Write hold none
	defer r.wmu.Unlock()
	var written int64
	fail := func(call string, err error) (int64, error, bool) {
		if err == syscall.EAGAIN || err == syscall.EINTR {
			err = syscall.EIO // not reachable: both are retried below
		}
		return written, c.opErr("sendfile", sockErr(call, ctx, err)), true
	}
	for n < 0 || written < n {
		chunk := int64(size)
		if n >= 0 {
			chunk = min(chunk, n-written)
		}
		m, err := fo.Splice(ctx, src, off, p[1], -1, int(chunk))
		if err != nil {
			if written == 0 && (err == syscall.EINVAL || err == syscall.ENOSYS) {
				return 0, nil, false // not a file splice can read
			}
			return fail("splice", err)
		}
		if m == 0 {
			break // the end of the file
		}
		off += int64(m)
		for left := m; left > 0; {
			k, err := unix.Splice(p[0], nil, r.fd, nil, left, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			switch err {
			case nil:
				left -= int(k)
				written += k
				if testHookKernelCopy != nil {
					testHookKernelCopy(int(k))
				}
			case syscall.EINTR:
			case syscall.EAGAIN:
				if err := fo.PollWait(ctx, r.fd, unix.POLLOUT); err != nil {
					return fail("poll", err)
				}
			default:
				return fail("splice", err)
			}
		}
	}
	return written, nil, true
}

func (r *ringConn) closeWrite() error {
	c := &r.c
	if !r.refs.acquire() {
		return c.opErr("close", net.ErrClosed)
	}
	defer r.refs.release()
	if err := r.s.ShutdownFD(r.fd, unix.SHUT_WR); err != nil {
		return c.opErr("close", os.NewSyscallError("shutdown", err))
	}
	return nil
}

func (r *ringConn) close() error {
	if !r.refs.close(func() { r.d.CancelFD(r.fd) }) {
		return r.c.opErr("close", net.ErrClosed)
	}
	r.cleanup.Stop()
	if err := r.d.Close(r.fd); err != nil {
		return r.c.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}
