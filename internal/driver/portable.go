package driver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// portableDriver runs every op as a plain system call on the calling
// goroutine (the Go runtime hands the worker thread's P to another
// goroutine while the call blocks).
//
// Cancellation: a system call that blocks in the kernel (a regular file,
// a blocking pipe or socket) cannot be interrupted; it returns its real
// result when it ends, even if ctx is done or CancelFD was called. On a
// non-blocking descriptor (O_NONBLOCK), an op that would block waits in
// poll(2) together with an eventfd of its own, which ctx cancellation,
// CancelFD and Shutdown signal; such waits end promptly.
type portableDriver struct {
	reason string

	mu     sync.Mutex
	closed bool
	track  tracker

	completed, cancelled atomic.Uint64
	// tried counts the reads and writes TryAt completed, striped like the
	// uring driver's inline count.
	tried stripedCounter
	// pacer paces the system calls of do, every one of which may block.
	pacer pacer
}

// waiter is an op waiting in poll(2) for its descriptor.
type waiter struct {
	efd       int  // eventfd that wakes the poll
	cancelled bool // set under mu by CancelFD or Shutdown
}

func newPortable(reason string) *portableDriver {
	return &portableDriver{reason: reason}
}

func (d *portableDriver) Name() string   { return "portable" }
func (d *portableDriver) Reason() string { return d.reason }

func (d *portableDriver) Stats() Stats {
	d.mu.Lock()
	inflight := d.track.inflight
	d.mu.Unlock()
	c := d.completed.Load() + d.tried.load()
	return Stats{Completed: c, Inline: c, Cancelled: d.cancelled.Load(), InFlight: uint64(inflight)}
}

// begin counts an op on fd as in flight. It returns the descriptor's
// state and its cancel generation at the op's start.
func (d *portableDriver) begin(ctx context.Context, fd int) (*fdState, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, 0, ErrClosed
	}
	st := d.track.begin(int32(fd))
	return st, st.gen, nil
}

// end undoes begin.
func (d *portableDriver) end(fd int, st *fdState) {
	d.completed.Add(1)
	d.mu.Lock()
	d.track.end(int32(fd), st)
	d.mu.Unlock()
}

// do runs call on fd, retrying EINTR, and waiting in poll for events
// when the descriptor is non-blocking and the call reports EAGAIN.
func (d *portableDriver) do(ctx context.Context, fd int, events int16, call func() (int, error)) (int, error) {
	st, gen, err := d.begin(ctx, fd)
	if err != nil {
		return 0, err
	}
	defer d.end(fd, st)
	d.pacer.pace()
	for {
		n, err := call()
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if events == 0 {
				return n, err
			}
			if err := d.wait(ctx, fd, st, gen, events); err != nil {
				return 0, err
			}
			continue
		}
		if n < 0 {
			n = 0 // a failed read(2) returns -1: callers count bytes
		}
		return n, err
	}
}

// wait polls fd for events until it is ready, ctx is done, or the op is
// cancelled by CancelFD or Shutdown. gen is the descriptor's cancel
// generation when the op began: a CancelFD since then cancels it.
func (d *portableDriver) wait(ctx context.Context, fd int, st *fdState, gen uint64, events int16) error {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(efd)
	w := &waiter{efd: efd}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if st.gen != gen {
		d.mu.Unlock()
		return syscall.ECANCELED
	}
	if st.waiters == nil {
		st.waiters = make(map[*waiter]struct{})
	}
	st.waiters[w] = struct{}{}
	d.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { wake(efd) })
	defer stop()

	pfds := []unix.PollFd{{Fd: int32(fd), Events: events}, {Fd: int32(efd), Events: unix.POLLIN}}
	for {
		_, err = unix.Poll(pfds, -1)
		if err != syscall.EINTR {
			break
		}
	}
	d.mu.Lock()
	delete(st.waiters, w)
	cancelled, closed := w.cancelled, d.closed
	d.mu.Unlock()
	switch {
	case err != nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	case closed:
		return ErrClosed
	case cancelled:
		return syscall.ECANCELED
	}
	return nil
}

func wake(efd int) {
	var one = [8]byte{1}
	unix.Write(efd, one[:])
}

// cancelLocked wakes every op polling on st. Called with mu held.
func (d *portableDriver) cancelLocked(st *fdState) {
	for w := range st.waiters {
		if !w.cancelled {
			w.cancelled = true
			d.cancelled.Add(1)
			wake(w.efd)
		}
	}
}

func (d *portableDriver) ReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, fd, p, off, false)
}

func (d *portableDriver) WriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, fd, p, off, true)
}

// rw is ReadAt, WriteAt and WaitAt: one read(2) or pread(2) into p, or with
// write one write(2) or pwrite(2) of p.
func (d *portableDriver) rw(ctx context.Context, fd int, p []byte, off int64, write bool) (int, error) {
	if err := checkFD(fd); err != nil {
		return 0, err
	}
	p = clampRW(p)
	if write {
		return d.do(ctx, fd, unix.POLLOUT, func() (int, error) {
			if off < 0 {
				return unix.Write(fd, p)
			}
			return unix.Pwrite(fd, p, off)
		})
	}
	return d.do(ctx, fd, unix.POLLIN, func() (int, error) {
		if off < 0 {
			return unix.Read(fd, p)
		}
		return unix.Pread(fd, p, off)
	})
}

func (d *portableDriver) Fsync(ctx context.Context, fd int, datasync bool) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	_, err := d.do(ctx, fd, 0, func() (int, error) {
		if datasync {
			return 0, unix.Fdatasync(fd)
		}
		return 0, unix.Fsync(fd)
	})
	return err
}

func (d *portableDriver) Open(ctx context.Context, dirfd int, path string, flags int, mode uint32) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, err
	}
	fd, err := d.do(ctx, -1, 0, func() (int, error) {
		return unix.Openat(dirfd, path, flags|unix.O_CLOEXEC, mode)
	})
	if err != nil {
		return -1, err
	}
	return fd, nil
}

func (d *portableDriver) Stat(ctx context.Context, fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := checkFD(fd); err != nil {
		return st, err
	}
	_, err := d.do(ctx, fd, 0, func() (int, error) { return 0, unix.Fstat(fd, &st) })
	return st, err
}

func (d *portableDriver) CancelFD(fd int) {
	if checkFD(fd) != nil {
		return
	}
	d.mu.Lock()
	st, idle := d.track.fdIdle(int32(fd))
	if st == nil {
		d.mu.Unlock()
		return
	}
	cancel := func() bool {
		st.gen++
		d.cancelLocked(st)
		return true
	}
	cancel()
	d.mu.Unlock()
	// An op that began after the cancel went out has the new generation
	// and would wait on: cancel again until fd has no op left.
	untilClosed(idle, 50*time.Microsecond, 10*time.Millisecond, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return cancel()
	})
}

func (d *portableDriver) Close(fd int) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	d.CancelFD(fd)
	return unix.Close(fd)
}

func (d *portableDriver) Shutdown() error {
	d.mu.Lock()
	d.closed = true
	idle := d.track.allIdle()
	for _, st := range d.track.fds {
		d.cancelLocked(st)
	}
	d.mu.Unlock()
	if idle != nil {
		<-idle
	}
	return nil
}

// RegisterBuffer implements Driver: the portable backend has nothing to
// register memory with.
func (d *portableDriver) RegisterBuffer(p []byte) (int, error) {
	return -1, errors.ErrUnsupported
}

// UnregisterBuffer implements Driver.
func (d *portableDriver) UnregisterBuffer(id int) error {
	return errors.ErrUnsupported
}
