package executor

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// SendFile sends n bytes of f starting at offset off (n < 0: up to the
// end of the file) on the connection, and returns how many bytes it sent.
// The bytes go from the page cache to the socket inside the kernel:
// sendfile(2) on a net socket (the default), run inside the net package's
// RawConn as net's own io.Copy from an *os.File does, and on a ring socket
// (Options.RingSockets) splice(2) through a pipe, the file's side an
// io_uring IORING_OP_SPLICE request and the socket's side a non-blocking
// splice waited for with IORING_OP_POLL_ADD. A file that cannot be spliced
// (a pipe, a /proc file) is copied through a buffer instead.
//
// SendFile neither uses nor moves f's position. A task gives up its worker
// while it waits for room in the socket buffer (and, on a ring socket, for
// the file's data). A peer that closes fails it with an error wrapping
// syscall.EPIPE or syscall.ECONNRESET, after the count of bytes sent; a
// done ctx, with ctx's cause; Close, with net.ErrClosed. Concurrent Writes
// do not interleave with it. Errors are *net.OpError values with Op
// "sendfile".
//
// io.Copy(conn.NetConn(), f.Reader(ctx)) takes the same path: the reader
// implements io.WriterTo.
func (c *Conn) SendFile(ctx context.Context, f *File, off, n int64) (int64, error) {
	checkCtx(ctx)
	if c == nil {
		return 0, syscall.EINVAL // as a nil *net.TCPConn's
	}
	if f == nil {
		return 0, c.opErr("sendfile", fs.ErrInvalid)
	}
	if err := f.acquire("sendfile"); err != nil {
		return 0, c.opErr("sendfile", err)
	}
	defer f.release()
	if off < 0 {
		return 0, c.opErr("sendfile", &fs.PathError{Op: "sendfile", Path: f.name, Err: errors.New("negative offset")})
	}
	if err := ctx.Err(); err != nil {
		return 0, c.opErr("sendfile", context.Cause(ctx))
	}
	if n == 0 {
		return 0, nil
	}
	var written int64
	var err error
	var handled bool
	if c.nc != nil {
		written, err, handled = c.sendfileNet(ctx, f.fd, off, n)
	} else {
		written, err, handled = c.spliceRing(ctx, f.fd, off, n)
	}
	if handled {
		return written, err
	}
	return c.copyFile(ctx, f, off, n)
}

// maxSendfile caps one sendfile(2), as the net package does, so that a
// large transfer goes on between the waits.
const maxSendfile = 4 << 20

// testHookKernelCopy, if set, is called with each count of bytes that
// sendfile(2) or splice(2) moved into a socket.
var testHookKernelCopy func(n int)

// kernelCopy is a sendfile(2) loop run inside a RawConn's Write: it sends
// until remain bytes (or the whole file, if remain < 0) are sent, and
// gives the task's worker up before the poller's first wait.
type kernelCopy struct {
	w        wait
	src      int
	off      int64
	remain   int64
	written  int64
	err      error
	fallback bool // the source cannot be sent with sendfile(2)
}

func (k *kernelCopy) attempt(fd uintptr) bool {
	for k.remain != 0 {
		chunk := int64(maxSendfile)
		if k.remain > 0 {
			chunk = min(chunk, k.remain)
		}
		m, err := unix.Sendfile(int(fd), k.src, &k.off, int(chunk))
		if m > 0 {
			k.written += int64(m)
			if k.remain > 0 {
				k.remain -= int64(m)
			}
			if testHookKernelCopy != nil {
				testHookKernelCopy(m)
			}
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			k.w.begin(waitWrite, nil)
			return false
		case (err == syscall.EINVAL || err == syscall.ENOSYS) && k.written == 0:
			k.fallback = true
			return true
		case err != nil:
			k.err = err
			return true
		case m == 0:
			return true // the end of the file
		}
	}
	return true
}

// run makes the copy inside raw (a RawConn's Write) and returns the error
// that raw or sendfile(2) reported.
func (k *kernelCopy) run(raw func(func(uintptr) bool) error) (error, bool) {
	err := raw(k.attempt)
	k.w.end()
	switch {
	case err != nil:
		return rawErr(err), true
	case k.err != nil:
		return os.NewSyscallError("sendfile", k.err), true
	}
	return nil, !k.fallback
}

// sendfileNet is SendFile on a net socket: the sendfile(2) loop in the
// RawConn, serialized with Writes, with ctx watched as Write watches it.
func (c *Conn) sendfileNet(ctx context.Context, src int, off, n int64) (int64, error, bool) {
	r := &c.wr
	k := kernelCopy{w: lockQueued(ctx, &r.mu, waitWrite), src: src, off: off, remain: n}
	defer r.mu.Unlock()
	r.watch.watchOrRelease(ctx, r.setDeadline)
	err, handled := k.run(c.rc.Write)
	if err != nil {
		return k.written, c.opErr("sendfile", r.watch.cause(ctx, err)), true
	}
	return k.written, nil, handled
}

// spliceRing is SendFile on a ring socket: splice(2) through a pipe, the
// file's side as a ring request (it may wait for the device), the
// socket's side a non-blocking splice that waits for room with a ring
// poll request.
func (c *Conn) spliceRing(ctx context.Context, src int, off, n int64) (int64, error, bool) {
	if !c.refs.acquire() {
		return 0, c.opErr("sendfile", net.ErrClosed), true
	}
	defer c.refs.release()
	fo := c.d.(driver.FileOps)
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
	c.wmu.Lock() // after giving the worker up: Writes queued behind a Write hold none
	defer c.wmu.Unlock()
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
			k, err := unix.Splice(p[0], nil, c.fd, nil, left, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			switch err {
			case nil:
				left -= int(k)
				written += k
				if testHookKernelCopy != nil {
					testHookKernelCopy(int(k))
				}
			case syscall.EINTR:
			case syscall.EAGAIN:
				if err := fo.PollWait(ctx, c.fd, unix.POLLOUT); err != nil {
					return fail("poll", err)
				}
			default:
				return fail("splice", err)
			}
		}
	}
	return written, nil, true
}

// copyFile is SendFile through a buffer, for a file that cannot be
// spliced.
func (c *Conn) copyFile(ctx context.Context, f *File, off, n int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var written int64
	for n < 0 || written < n {
		q := buf
		if n >= 0 {
			q = q[:min(int64(len(q)), n-written)]
		}
		m, rerr := f.ReadAt(ctx, q, off)
		if m > 0 {
			w, err := c.Write(ctx, q[:m])
			written += int64(w)
			if err != nil {
				return written, err
			}
			off += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return written, c.opErr("sendfile", rerr)
		}
	}
	return written, nil
}

// WriteTo writes the file from its position to w until the end of the
// file, and advances the position past what it wrote: io.Copy uses it.
// When w is a stream socket (a Conn's NetConn, a *net.TCPConn or
// *net.UnixConn) the bytes go inside the kernel, as Conn.SendFile sends
// them; otherwise through a buffer. A task gives up its worker while it
// waits for room in the socket buffer; the reader's ctx and w's write
// deadline bound that wait.
func (b boundFile) WriteTo(w io.Writer) (int64, error) {
	pos, err := b.f.Seek(0, io.SeekCurrent)
	switch {
	case errors.Is(err, syscall.ESPIPE):
		return io.Copy(w, readerOnly{b}) // a pipe: no position to send from
	case err != nil:
		return 0, err
	}
	n, err, handled := b.sendTo(w, pos)
	if n > 0 {
		b.f.Seek(pos+n, io.SeekStart)
	}
	if handled {
		return n, err
	}
	return io.Copy(w, readerOnly{b})
}

// sendTo sends the file from pos to w inside the kernel, if w is a stream
// socket; handled is false if it is not, or the file cannot be sent that
// way and nothing was sent.
func (b boundFile) sendTo(w io.Writer, pos int64) (int64, error, bool) {
	switch w := w.(type) {
	case *netConn: // a Conn's adapter: its write deadline bounds the send too
		ctx, stop := w.wd.within(b.ctx)
		defer stop()
		n, err := w.c.SendFile(ctx, b.f, pos, -1)
		return n, err, true
	case *net.TCPConn, *net.UnixConn:
		if err := b.ctx.Err(); err != nil {
			return 0, err, true
		}
		rc, err := w.(syscall.Conn).SyscallConn()
		if err != nil || !isStream(rc) {
			return 0, nil, false
		}
		if err := b.f.acquire("read"); err != nil {
			return 0, err, true
		}
		defer b.f.release()
		k := kernelCopy{w: wait{ctx: b.ctx}, src: b.f.fd, off: pos, remain: -1}
		err, handled := k.run(rc.Write)
		if err != nil {
			c := w.(net.Conn)
			return k.written, &net.OpError{Op: "sendfile", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}, true
		}
		return k.written, nil, handled
	}
	return 0, nil, false
}

// isStream reports whether the socket behind rc is a stream socket (not a
// datagram one, which sendfile(2) would cut into datagrams).
func isStream(rc syscall.RawConn) bool {
	typ := -1
	rc.Control(func(fd uintptr) { typ, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE) })
	return typ == unix.SOCK_STREAM
}

// readerOnly hides a reader's WriteTo, for io.Copy's buffered path.
type readerOnly struct{ io.Reader }
