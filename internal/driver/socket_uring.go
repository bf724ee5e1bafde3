package driver

import (
	"context"
	"syscall"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// Inline attempts: a non-blocking system call on the calling goroutine
// before a ring request. They save the ring round trip (queueing, the
// wake-up of the waiting goroutine) when the call can complete at once,
// and cost one failed system call when it cannot. Sends almost always
// complete at once (socket buffer room); accepts do when connections are
// already queued. Receives are not tried inline: the kernel makes the
// same attempt inside the io_uring_enter that submits the request, and a
// receive that finds data completes there and is reaped by its own
// submitter (reapCQ), so an inline attempt would only add a failed system
// call to every receive that has to wait (measured: about one system call
// and 10-20% CPU per request more in ping-pong echo; see socket_ring.go).
// Tests and benchmarks switch them off to measure the ring alone.
var (
	inlineSend   = true
	inlineRecv   = false
	inlineAccept = true
)

func (d *uringDriver) Accept(ctx context.Context, fd int) (int, unix.Sockaddr, error) {
	if err := checkFD(fd); err != nil {
		return -1, nil, err
	}
	if err := doneErr(ctx); err != nil {
		return -1, nil, err
	}
	if d.isClosed.Load() {
		return -1, nil, ErrClosed
	}
	a := new(sockaddrArgs)
	a.n = unix.SizeofSockaddrAny
	if inlineAccept {
		for {
			r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&a.raw)),
				uintptr(unsafe.Pointer(&a.n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
			if errno == syscall.EINTR || errno == syscall.ECONNABORTED {
				a.n = unix.SizeofSockaddrAny
				continue
			}
			if errno == 0 {
				d.countInline(uintptr(fd))
				return int(r), a.decode(), nil
			}
			if errno != syscall.EAGAIN {
				return -1, nil, errno
			}
			a.n = unix.SizeofSockaddrAny
			break
		}
	}
	s, err := d.sockets()
	if err != nil {
		return -1, nil, err
	}
	o, idx, err := s.acquireWaiting(ctx) // an accept waits for a peer
	if err != nil {
		return -1, nil, err
	}
	defer s.slab.release(idx)
	o.pin.Pin(a)
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepAccept(fd, unsafe.Pointer(&a.raw), &a.n, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	r := s.run(ctx, o, idx, int32(fd), &sqe, true)
	if r.completedAfterCancel() {
		// Completed after its cancellation: nobody will own the
		// connection (invariant 4).
		unix.Close(int(r.res))
		return -1, nil, ctx.Err()
	}
	nfd, err := s.finish(ctx, r)
	if err != nil {
		return -1, nil, err
	}
	return nfd, a.decode(), nil
}

func (d *uringDriver) Connect(ctx context.Context, fd int, sa unix.Sockaddr) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	a := new(sockaddrArgs)
	if err := a.encode(sa); err != nil {
		return err
	}
	s, err := d.sockets()
	if err != nil {
		return err
	}
	o, idx, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.slab.release(idx)
	o.pin.Pin(a)
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepConnect(fd, unsafe.Pointer(&a.raw), a.n)
	r := s.run(ctx, o, idx, int32(fd), &sqe, false)
	_, err = s.finish(ctx, r)
	return err
}

func (d *uringDriver) Recv(ctx context.Context, fd int, p []byte) (int, error) {
	return d.sockRW(ctx, uring.OpRecv, fd, p)
}

func (d *uringDriver) Send(ctx context.Context, fd int, p []byte) (int, error) {
	return d.sockRW(ctx, uring.OpSend, fd, p)
}

func (d *uringDriver) sockRW(ctx context.Context, opcode uint8, fd int, p []byte) (int, error) {
	if err := checkFD(fd); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := doneErr(ctx); err != nil {
		return 0, err
	}
	if d.isClosed.Load() {
		return 0, ErrClosed
	}
	p = clampRW(p)
	send := opcode == uring.OpSend
	flags := 0
	if send {
		flags = unix.MSG_NOSIGNAL
	}
	if send && inlineSend || !send && inlineRecv {
		if n, err, ok := d.trySock(fd, p, send); ok {
			return n, err
		}
	}
	var sqe uring.SQE
	if send {
		sqe.PrepSend(fd, unsafe.Pointer(&p[0]), uint32(len(p)), flags)
	} else {
		sqe.PrepRecv(fd, unsafe.Pointer(&p[0]), uint32(len(p)), flags, -1)
	}
	s, err := d.sockets()
	if err != nil {
		return 0, err
	}
	if send {
		return s.runBuffer(ctx, fd, p, &sqe, s.acquire)
	}
	// A receive waits for the peer, for as long as the connection is idle.
	return s.runBuffer(ctx, fd, p, &sqe, s.acquireWaiting)
}

// TrySend implements Sockets: one send with MSG_DONTWAIT.
func (d *uringDriver) TrySend(fd int, p []byte) (int, error, bool) {
	if len(p) == 0 || checkFD(fd) != nil || d.isClosed.Load() {
		return 0, nil, false // let Send report it
	}
	p = clampRW(p)
	return d.trySock(fd, p, true)
}

// trySock is TrySocket, counted in the driver's statistics when it
// completes.
func (d *uringDriver) trySock(fd int, p []byte, send bool) (int, error, bool) {
	n, err, ok := TrySocket(fd, p, send)
	if ok {
		d.countInline(bufHint(p))
	}
	return n, err, ok
}

func (d *uringDriver) ShutdownFD(fd int, how int) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	return unix.Shutdown(fd, how)
}

var _ Sockets = (*uringDriver)(nil)
