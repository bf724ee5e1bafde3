package executor

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

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
	if written, err, handled := c.impl.sendFile(ctx, f.fd, off, n); handled {
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
	w        wait // the call's wait, which the caller ends
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
	switch {
	case err != nil:
		return rawErr(err), true
	case k.err != nil:
		return os.NewSyscallError("sendfile", k.err), true
	}
	return nil, !k.fallback
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
		defer k.w.end()
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
