package executor

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

// NetListener returns l as a net.Listener, for net/http and any code that
// takes one. Its Accept waits with no context (Close interrupts it) and
// returns NetConn adapters; its Close is l.Close. Like NetConn, it is for
// code on plain goroutines: in a task, use Accept with the task's context.
func (l *Listener) NetListener() net.Listener { return netListener{l} }

type netListener struct{ l *Listener }

func (n netListener) Accept() (net.Conn, error) {
	c, err := n.l.Accept(context.Background())
	if err != nil {
		return nil, err
	}
	return c.NetConn(), nil
}

func (n netListener) Close() error   { return n.l.Close() }
func (n netListener) Addr() net.Addr { return n.l.Addr() }

// NetConn returns c as a net.Conn, for code that takes one. Its Read and
// Write wait with no context (Close interrupts them) and honour the
// deadlines set by SetDeadline, SetReadDeadline and SetWriteDeadline as
// the net package does: a deadline that passes interrupts pending calls,
// which return an error wrapping os.ErrDeadlineExceeded (a *net.OpError
// whose Timeout is true), and so do later calls until a new deadline is
// set; a deadline set while a call is pending applies to it.
//
// The deadlines belong to the adapter: they bound its own Read and Write
// calls and nothing else. c.Read(ctx) and c.Write(ctx) are bounded by
// their context alone, whatever deadline an adapter set, and a call that
// its context interrupted leaves the adapter's calls alone. The rule is
// the same on every socket path (net sockets, the default, and ring
// sockets). Call NetConn once per connection: each adapter has its own
// deadlines.
//
// The adapter is for code that runs on plain goroutines, as net/http's
// does: its methods take no context, so they cannot give up the worker of
// a task that calls them. In a task, use Read and Write with the task's
// context (and a context deadline), or wrap the adapter's calls in Block.
func (c *Conn) NetConn() net.Conn {
	return &netConn{c: c}
}

type netConn struct {
	c      *Conn
	rd, wd deadline
}

func (n *netConn) Read(p []byte) (int, error)  { return n.c.Read(n.rd.context(), p) }
func (n *netConn) Write(p []byte) (int, error) { return n.c.Write(n.wd.context(), p) }

// Close closes the connection and stops the deadline timers.
func (n *netConn) Close() error {
	err := n.c.Close()
	n.rd.set(time.Time{})
	n.wd.set(time.Time{})
	return err
}

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	n.rd.set(t)
	n.wd.set(t)
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error  { n.rd.set(t); return nil }
func (n *netConn) SetWriteDeadline(t time.Time) error { n.wd.set(t); return nil }

// CloseWrite lets net/http (and io.Copy-style proxies) half-close, as with
// a *net.TCPConn.
func (n *netConn) CloseWrite() error { return n.c.CloseWrite() }

// deadline turns a net.Conn deadline into the context of the calls it
// bounds. All calls made while the deadline has not passed share one
// context, cancelled with os.ErrDeadlineExceeded when it passes; moving
// the deadline moves its timer, so pending calls follow the new
// deadline. Once it has passed, the next set makes a fresh context.
type deadline struct {
	mu     sync.Mutex
	ctx    context.Context // made on first use
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// context returns the context for a call starting now.
func (d *deadline) context() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil {
		// Even with no deadline, calls need a context that a deadline
		// set later can cancel: net/http interrupts its background read
		// by setting a deadline in the past.
		d.ctx, d.cancel = context.WithCancelCause(context.Background())
	}
	return d.ctx
}

// within returns a context done when ctx is or when the deadline passes
// (with the deadline's cause), for a call that must honour both; stop
// releases it.
func (d *deadline) within(ctx context.Context) (_ context.Context, stop func()) {
	dctx := d.context()
	merged, cancel := context.WithCancelCause(ctx)
	if dctx.Err() != nil {
		cancel(context.Cause(dctx)) // now: AfterFunc would do it later
	}
	unwatch := context.AfterFunc(dctx, func() { cancel(context.Cause(dctx)) })
	return merged, func() {
		unwatch()
		cancel(nil)
	}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ctx == nil || d.ctx.Err() != nil {
		// The old deadline passed: calls pending on it have failed or are
		// failing; calls from now on get a fresh context.
		d.ctx, d.cancel = context.WithCancelCause(context.Background())
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.cancel(os.ErrDeadlineExceeded)
		return
	}
	cancel := d.cancel
	d.timer = time.AfterFunc(dur, func() { cancel(os.ErrDeadlineExceeded) })
}
