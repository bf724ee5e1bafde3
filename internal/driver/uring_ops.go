package driver

import (
	"context"
	"syscall"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// nowait tries a read or write with RWF_NOWAIT (see TryAt): data in the
// page cache is copied inline at the cost of one system call, without a
// ring round trip and completion-thread wake-up. It never tries O_DIRECT
// descriptors, where RWF_NOWAIT performs the device I/O synchronously. ok
// is false if the kernel would block (EAGAIN) or does not support
// RWF_NOWAIT for this file; a transfer made is counted as inline.
func (d *uringDriver) nowait(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	if d.kind(fd)&kindDirect != 0 {
		return 0, nil, false
	}
	n, err, ok = nowaitRW(fd, p, off, write)
	if ok {
		d.countInline(bufHint(p))
	}
	return n, err, ok
}

// kind returns what fd is, from a per-number cache that the driver
// forgets when it opens or closes that number. A descriptor closed and
// reused behind the driver's back may be misjudged: that costs speed
// (an O_DIRECT read attempted with RWF_NOWAIT blocks; a non-regular
// descriptor taken for a regular file may block in the blocking path,
// only while no other op is in flight), never data.
func (d *uringDriver) kind(fd int) fdKind { return d.kinds.get(fd) }

// blocking runs a read or write of a regular file as a plain system call
// on the calling goroutine when no other op is in flight. A lone op gains
// nothing from the ring but pays two thread wake-ups (the completion
// thread's and the op goroutine's), which doubles its latency; with
// other ops in flight the ring batches and overlaps them. Reads and
// writes of regular files cannot be interrupted by cancellation on the
// ring either (the kernel waits for the device), so the semantics are
// the same. ok is false if the ring must be used.
func (d *uringDriver) blocking(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	if !d.cfg.blocking || d.kind(fd)&kindRegular == 0 {
		return 0, nil, false
	}
	d.mu.Lock()
	if d.track.inflight != 0 {
		d.mu.Unlock()
		return 0, nil, false
	}
	st, err := d.beginLocked(int32(fd))
	d.mu.Unlock()
	if err != nil {
		return 0, err, true
	}
	defer d.end(int32(fd), st)
	d.pacer.pace()
	for {
		switch {
		case write && off < 0:
			n, err = unix.Write(fd, p)
		case write:
			n, err = unix.Pwrite(fd, p, off)
		case off < 0:
			n, err = unix.Read(fd, p)
		default:
			n, err = unix.Pread(fd, p, off)
		}
		if err != syscall.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err, true
		}
	}
}

// rw is ReadAt, WriteAt and WaitAt: a read into p, or with write a write
// of p, tried inline first if tryInline (ReadAt and WriteAt, as configured),
// then run as a lone blocking call or through the ring.
func (d *uringDriver) rw(ctx context.Context, fd int, p []byte, off int64, write, tryInline bool) (int, error) {
	if err := checkFD(fd); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if d.isClosed.Load() {
		return 0, ErrClosed
	}
	if err := doneErr(ctx); err != nil {
		return 0, err
	}
	p = clampRW(p)
	if tryInline {
		if n, err, ok := d.nowait(fd, p, off, write); ok {
			return n, err
		}
	}
	if n, err, ok := d.blocking(fd, p, off, write); ok {
		d.countInline(bufHint(p))
		return n, err
	}
	var sqe uring.SQE
	if d.kind(fd)&kindRegular != 0 {
		if r := d.fixed.lookup(p); r != nil {
			// p lies in the registered buffer r: a READ_FIXED or
			// WRITE_FIXED request, and nothing to pin (the registration
			// keeps the pages pinned, for the kernel and for Go).
			defer r.refs.Add(-1)
			opcode := uring.OpReadFixed
			if write {
				opcode = uring.OpWriteFixed
			}
			sqe.PrepRWFixed(opcode, fd, unsafe.Pointer(&p[0]), uint32(len(p)), uint64(off), r.slot)
			d.fixedOps.Add(1)
			return d.runBuffer(ctx, fd, nil, &sqe, d.acquire)
		}
	}
	opcode := uring.OpRead
	if write {
		opcode = uring.OpWrite
	}
	sqe.PrepRW(opcode, fd, unsafe.Pointer(&p[0]), uint32(len(p)), uint64(off))
	return d.runBuffer(ctx, fd, p, &sqe, d.acquire)
}

// runBuffer runs sqe, a read, write, receive or send of p on fd, in a
// record of its own taken with acquire, with p pinned while the request is
// in flight (p is nil for a buffer the ring has registered, which needs no
// pin); EAGAIN makes the request again (see run).
func (d *uringDriver) runBuffer(ctx context.Context, fd int, p []byte, sqe *uring.SQE,
	acquire func(context.Context) (*op, uint32, error)) (int, error) {
	o, idx, err := acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer d.slab.release(idx)
	if p != nil {
		o.pin.Pin(&p[0])
		defer o.pin.Unpin()
	}
	r := d.run(ctx, o, idx, int32(fd), sqe, true)
	return d.finish(ctx, r)
}

// countInline counts an operation completed without the ring; hint
// spreads concurrent callers over the counter's slots (see stripedCounter).
func (d *uringDriver) countInline(hint uintptr) { d.inline.add(hint) }

func (d *uringDriver) ReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, fd, p, off, false, d.cfg.nowait)
}

func (d *uringDriver) WriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, fd, p, off, true, d.cfg.nowait)
}

func (d *uringDriver) Fsync(ctx context.Context, fd int, datasync bool) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return err
	}
	defer d.slab.release(idx)
	var flags uint32
	if datasync {
		flags = uring.FsyncDatasync
	}
	var sqe uring.SQE
	sqe.PrepFsync(fd, flags)
	r := d.run(ctx, o, idx, int32(fd), &sqe, false)
	_, err = d.finish(ctx, r)
	return err
}

func (d *uringDriver) Open(ctx context.Context, dirfd int, path string, flags int, mode uint32) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return -1, err
	}
	defer d.slab.release(idx)
	o.path = append(append(o.path[:0], path...), 0)
	o.pin.Pin(&o.path[0])
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepOpenat(dirfd, &o.path[0], flags|unix.O_CLOEXEC, mode)
	// Opens are counted against no descriptor: CancelFD(dirfd) must not
	// wait for them.
	r := d.run(ctx, o, idx, -1, &sqe, false)
	if r.completedAfterCancel() {
		// Completed after its cancellation: nobody will own the fd.
		unix.Close(int(r.res))
		return -1, ctx.Err()
	}
	fd, err := d.finish(ctx, r)
	if err != nil {
		return -1, err
	}
	d.kinds.forget(fd)
	return fd, nil
}

func (d *uringDriver) Stat(ctx context.Context, fd int) (unix.Stat_t, error) {
	if err := checkFD(fd); err != nil {
		return unix.Stat_t{}, err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer d.slab.release(idx)
	o.path = append(o.path[:0], 0)
	o.pin.Pin(&o.path[0])
	o.pin.Pin(&o.statx)
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepStatx(fd, &o.path[0], unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, unsafe.Pointer(&o.statx))
	r := d.run(ctx, o, idx, int32(fd), &sqe, false)
	if _, err := d.finish(ctx, r); err != nil {
		return unix.Stat_t{}, err
	}
	return statxToStat(&o.statx), nil
}

func (d *uringDriver) Close(fd int) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	d.CancelFD(fd)
	d.kinds.forget(fd)
	// A plain close(2): after CancelFD the ring holds no reference to fd
	// that an IORING_OP_CLOSE would have to order against, and the
	// system call is cheaper than a ring round trip.
	if err := unix.Close(fd); err != nil {
		return err
	}
	return nil
}

// checkPath rejects paths the kernel cannot be given.
func checkPath(path string) error {
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
