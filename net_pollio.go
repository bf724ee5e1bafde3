package executor

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// pollIO is one direction (the receives or the sends) of a socket that Go's
// network poller waits for: a net socket's Conn (pollerConn) or a
// PacketConn. Each call runs inside the socket's syscall.RawConn: a
// non-blocking receive or send made while the task holds its worker, the
// worker given up only when the socket would block, before the poller
// waits. It lives in its socket, and attempt is a method value made once,
// so that a call allocates nothing.
type pollIO struct {
	rc          syscall.RawConn
	send        bool
	kind        waitKind              // waitRead or waitWrite, for Tasks
	peer        any                   // what the waits are about, for Tasks: the Conn's remote address, or nil
	call        string                // the system call, for errors
	setDeadline func(time.Time) error // the direction's deadline on the socket
	attempt     func(fd uintptr) bool // the RawConn callback: try, bound to this pollIO
	// addr is where a PacketConn's datagram address goes (the sender's,
	// or the destination, of length addrLen); nil on a Conn, whose send
	// goes on until all of p is sent rather than stop at one datagram.
	addr *unix.RawSockaddrAny

	// mu serializes the direction's calls, which set its deadline for
	// their context; it guards the fields below.
	mu     sync.Mutex
	watch  ctxWatch // the context of the last call
	waited bool     // the last call had to wait

	// The call in progress.
	w       wait // its wait, begun when an attempt would block
	p       []byte
	n       int
	err     error
	addrLen uint32 // the length of *addr: set by WriteTo, or by the receive
}

// init sets the direction up on rc; addr is nil on a stream socket, and
// peer nil or a pointer to the remote address.
func (d *pollIO) init(rc syscall.RawConn, send bool, setDeadline func(time.Time) error, peer any, addr *unix.RawSockaddrAny) {
	d.rc, d.send, d.kind, d.peer, d.setDeadline, d.addr = rc, send, rwWait(send), peer, setDeadline, addr
	switch {
	case addr != nil && send:
		d.call = "sendto"
	case addr != nil:
		d.call = "recvfrom"
	default:
		d.call = d.op()
	}
	d.attempt = d.try
}

// op is the direction's name in errors: "read" or "write".
func (d *pollIO) op() string {
	if d.send {
		return "write"
	}
	return "read"
}

// lock takes the direction for a call with ctx and returns the call's
// wait. If another call holds it, the wait begins first, so that a call
// queued behind another holds no worker. Each lock is followed by an
// unlock.
func (d *pollIO) lock(ctx context.Context) wait {
	w := wait{ctx: ctx}
	if !d.mu.TryLock() {
		w.begin(d.kind, d.peer)
		d.mu.Lock()
	}
	if ctx.Done() == nil {
		d.watch.release() // nothing to watch; a watch left by an earlier call goes
	} else {
		d.watch.watch(ctx, d.setDeadline)
	}
	return w
}

// unlock ends the call's wait and lets the next call in.
func (d *pollIO) unlock(w *wait) {
	w.end()
	d.mu.Unlock()
}

// release drops the watch of the last call's context, once the socket is
// closed: a context that outlives the socket must not keep it reachable.
func (d *pollIO) release() {
	d.mu.Lock()
	d.watch.release()
	d.mu.Unlock()
}

// do makes the call of p inside the RawConn, with the direction locked and
// w the call's wait (begun or not; the caller ends it), and returns the
// count and the error to put in an OpError.
func (d *pollIO) do(ctx context.Context, w *wait, p []byte) (int, error) {
	if !d.send && d.waited {
		// The last receive had to wait: so will this one, most likely (a
		// request-response protocol reads right after it answered). Give
		// the worker up before the attempt rather than hold it through a
		// receive that fails.
		w.begin(d.kind, d.peer)
	}
	d.w, d.p, d.n, d.err, d.waited = *w, p, 0, nil, false
	var err error
	if d.send {
		err = d.rc.Write(d.attempt)
	} else {
		err = d.rc.Read(d.attempt)
	}
	n, serr := d.n, d.err
	*w = d.w
	d.w, d.p, d.err = wait{}, nil, nil
	switch {
	case err != nil:
		return n, d.watch.cause(ctx, rawErr(err))
	case serr != nil:
		return n, os.NewSyscallError(d.call, serr)
	}
	return n, nil
}

// try is the RawConn callback: it receives once, or sends until p is
// sent (one datagram on a PacketConn), and reports false (wait in the
// poller, then call again) when the socket would block, giving the task's
// worker up first.
func (d *pollIO) try(fd uintptr) bool {
	for {
		var m int
		var err error
		var ok bool
		if d.send {
			q := d.p[d.n:]
			if d.addr == nil {
				q = q[:min(len(q), maxSend)]
			}
			m, err, ok = driver.TrySendTo(int(fd), q, d.addr, d.addrLen)
		} else {
			m, d.addrLen, err, ok = driver.TryRecvFrom(int(fd), d.p, d.addr)
		}
		if !ok {
			d.waited = true
			d.w.begin(d.kind, d.peer)
			return false
		}
		if err != nil {
			d.err = err
			return true
		}
		d.n += m
		if !d.send || d.addr != nil || d.n == len(d.p) {
			return true
		}
	}
}

// maxSend caps one send, as the net package caps one write.
const maxSend = 1 << 30

// rawErr returns the cause inside an error of a RawConn's Read or Write
// (net.ErrClosed, os.ErrDeadlineExceeded), for an OpError of our own.
func rawErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// aLongTimeAgo is a deadline in the past, which interrupts a pending call
// of the net package.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch makes a context that is done interrupt the net package calls of
// one direction of a connection, by setting that direction's deadline in
// the past. The watch stays registered after a call returns, for the next
// call with the same context: a task reading in a loop with one context
// registers with context.AfterFunc once, not at every call, which measured
// as a few percent of a small echo request's cost. Its methods are called
// with the direction's mutex held.
type ctxWatch struct {
	ctx         context.Context // the context watched, or nil
	stop        func() bool
	fired       chan struct{} // closed once the deadline is in the past
	setDeadline func(time.Time) error
}

// watch makes ctx the context watched, unless it already is.
func (w *ctxWatch) watch(ctx context.Context, setDeadline func(time.Time) error) {
	if w.ctx == ctx {
		return
	}
	w.release()
	fired := make(chan struct{})
	w.ctx, w.fired, w.setDeadline = ctx, fired, setDeadline
	w.stop = context.AfterFunc(ctx, func() {
		setDeadline(aLongTimeAgo)
		close(fired)
	})
}

// release stops watching, clearing the deadline if the watch had set it.
func (w *ctxWatch) release() {
	if w.stop == nil {
		return
	}
	if !w.stop() {
		<-w.fired
		w.setDeadline(time.Time{})
	}
	*w = ctxWatch{}
}

// cause returns err, the error of a call made while watching ctx, with the
// deadline the watch set replaced by ctx's cause.
func (w *ctxWatch) cause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		cp := *oe
		cp.Err = context.Cause(ctx)
		return &cp
	}
	return context.Cause(ctx)
}
