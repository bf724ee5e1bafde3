package executor

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Net sockets (the default): the socket belongs to Go's net package, and
// the runtime's network poller waits for it. A Conn's receives and sends
// run inside the socket's syscall.RawConn (pollIO, net_pollio.go), so that
// one that completes at once does so while the task holds its worker.

// pollerListener is a Listener on a net socket.
type pollerListener struct {
	l   Listener         // the Listener it implements, in the same allocation
	nl  deadlineListener // a *net.TCPListener or *net.UnixListener
	amu sync.Mutex       // serializes accepts that set the deadline for their ctx
	aw  ctxWatch         // the context of the last accept, guarded by amu
}

// deadlineListener is what net's TCP and Unix listeners have in common.
type deadlineListener interface {
	net.Listener
	SetDeadline(t time.Time) error
}

// newPollerListener returns l, with the listening socket fd, as a net
// socket's Listener. fd is closed: the net package holds a duplicate.
func newPollerListener(l Listener, fd int) (*Listener, error) {
	f := os.NewFile(uintptr(fd), "")
	nl, err := net.FileListener(f) // a dup of fd
	f.Close()
	if err != nil {
		if l.unlink != "" {
			os.Remove(l.unlink)
		}
		return nil, err
	}
	p := &pollerListener{l: l, nl: nl.(deadlineListener)}
	p.l.impl = p
	return &p.l, nil
}

func (p *pollerListener) accept(ctx context.Context) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, p.l.opErr("accept", context.Cause(ctx))
	}
	wt := beginWait(ctx, waitAccept, &p.l.addr)
	defer wt.end()
	var nc net.Conn
	var err error
	p.amu.Lock()
	if ctx.Done() == nil {
		p.aw.release()
		p.amu.Unlock()
		nc, err = p.nl.Accept()
	} else {
		p.aw.watch(ctx, p.nl.SetDeadline)
		nc, err = p.nl.Accept()
		err = p.aw.cause(ctx, err)
		p.amu.Unlock()
	}
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	return newPollerConn(p.l.network, nc)
}

func (p *pollerListener) close() error {
	err := p.nl.Close()
	p.amu.Lock()
	p.aw.release()
	p.amu.Unlock()
	if err == nil && p.l.unlink != "" {
		os.Remove(p.l.unlink)
	}
	return err
}

// dialPoller is Dial on a net socket.
func dialPoller(ctx context.Context, network, address string) (*Conn, error) {
	var dialer net.Dialer
	nc, err := dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return newPollerConn(network, nc)
}

// pollerConn is a Conn on a net socket.
type pollerConn struct {
	c        Conn     // the Conn it implements, in the same allocation
	nc       net.Conn // a *net.TCPConn, *net.UnixConn or *net.UDPConn
	datagram bool     // a connected datagram socket: no io.EOF, empty writes sent
	rd, wr   pollIO   // the receives and the sends, in nc's RawConn
}

// newPollerConn returns the Conn of nc, a *net.TCPConn or *net.UnixConn
// (or, for a datagram network, a *net.UDPConn or *net.UnixConn).
func newPollerConn(network string, nc net.Conn) (*Conn, error) {
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	p := &pollerConn{c: Conn{network: network, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}, nc: nc, datagram: isDatagram(network)}
	p.c.impl = p
	p.rd.init(rc, false, nc.SetReadDeadline, &p.c.raddr, nil)
	p.wr.init(rc, true, nc.SetWriteDeadline, &p.c.raddr, nil)
	return &p.c, nil
}

// read is one receive, tried once before the task gives up its worker: a
// receive with data queued completes without the hand-off, as a file read
// from the page cache does.
func (p *pollerConn) read(ctx context.Context, b []byte) (int, error) {
	n, err := p.transfer(ctx, &p.rd, b)
	if err == nil && n == 0 && len(b) > 0 && !p.datagram {
		return 0, io.EOF
	}
	return n, err
}

// write sends what the socket buffer takes before giving up the worker,
// and gives it up only to wait for room.
func (p *pollerConn) write(ctx context.Context, b []byte) (int, error) {
	if len(b) == 0 && p.datagram {
		return p.writeEmptyDatagram(ctx)
	}
	return p.transfer(ctx, &p.wr, b)
}

// transfer is read and write: one receive, or sends until all of b is
// sent, in direction d.
func (p *pollerConn) transfer(ctx context.Context, d *pollIO, b []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, p.c.opErr(d.op(), context.Cause(ctx))
	}
	if len(b) == 0 {
		return 0, nil
	}
	w := d.lock(ctx)
	defer d.unlock(&w)
	n, err := d.do(ctx, &w, b)
	if err != nil {
		return n, p.c.opErr(d.op(), err)
	}
	return n, nil
}

// writeEmptyDatagram sends a datagram of no bytes on a connected datagram
// socket, as net's Write of an empty slice does.
func (p *pollerConn) writeEmptyDatagram(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, p.c.opErr("write", context.Cause(ctx))
	}
	wt := beginWait(ctx, waitWrite, &p.c.raddr)
	_, err := p.nc.Write(nil)
	wt.end()
	return 0, err
}

// sendFile is sendfile(2) run inside the RawConn's Write, serialized with
// Writes, with ctx watched as write watches it.
func (p *pollerConn) sendFile(ctx context.Context, src int, off, n int64) (int64, error, bool) {
	d := &p.wr
	k := kernelCopy{w: d.lock(ctx), src: src, off: off, remain: n}
	defer d.unlock(&k.w)
	err, handled := k.run(d.rc.Write)
	if err != nil {
		return k.written, p.c.opErr("sendfile", d.watch.cause(ctx, err)), true
	}
	return k.written, nil, handled
}

func (p *pollerConn) closeWrite() error {
	cw, ok := p.nc.(interface{ CloseWrite() error })
	if !ok {
		return p.c.opErr("close", syscall.ENOTSUP)
	}
	return cw.CloseWrite()
}

func (p *pollerConn) close() error {
	err := p.nc.Close()
	// Unregister the contexts' watches: a context that outlives the
	// connection must not keep it reachable.
	p.rd.release()
	p.wr.release()
	return err
}
