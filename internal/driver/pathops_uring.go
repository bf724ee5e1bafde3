package driver

import (
	"context"
	"syscall"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// has reports whether the kernel supports the optional opcode op; the
// ring was probed once, when it was set up.
func (d *uringDriver) has(op uint8) bool { return d.probe.Supported(op) }

// ringOp runs one request that prep fills in on record o, counted against
// fd (-1 for path operations, which CancelFD must not wait for), and
// returns its result. Memory that prep makes the SQE point at must be
// pinned with o.pin, which ringOp unpins once the request has completed.
// done, if not nil, reads a successful request's output from o before the
// record is released.
func (d *uringDriver) ringOp(ctx context.Context, fd int, prep func(o *op, sqe *uring.SQE), done func(o *op)) (int, error) {
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer d.slab.release(idx)
	defer o.pin.Unpin()
	var sqe uring.SQE
	prep(o, &sqe)
	r := d.run(ctx, o, idx, int32(fd), &sqe, false)
	n, err := d.finish(ctx, r)
	if err == nil && done != nil {
		done(o)
	}
	return n, err
}

// plain runs call, the system call of an opcode the kernel lacks, on the
// calling goroutine, counted in flight against fd so that CancelFD and
// Shutdown wait for it. The call cannot be interrupted.
func (d *uringDriver) plain(ctx context.Context, fd int, call func() (int, error)) (int, error) {
	if err := doneErr(ctx); err != nil {
		return 0, err
	}
	d.mu.Lock()
	st, err := d.beginLocked(int32(fd))
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	defer d.end(int32(fd), st)
	for {
		n, err := call()
		if err != syscall.EINTR {
			d.countInline(0) // rare: one slot will do
			return n, err
		}
	}
}

// cpath copies path, NUL-terminated, into the record's path buffer and
// pins it.
func cpath(o *op, path string) *byte {
	o.path = append(append(o.path[:0], path...), 0)
	o.pin.Pin(&o.path[0])
	return &o.path[0]
}

// cpath2 is cpath for a second path, in memory of its own.
func cpath2(o *op, path string) *byte {
	b := append([]byte(path), 0)
	o.pin.Pin(&b[0]) // pinned memory is kept alive until Unpin
	return &b[0]
}

func (d *uringDriver) Mkdirat(ctx context.Context, dirfd int, path string, mode uint32) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if !d.has(uring.OpMkdirat) {
		_, err := d.plain(ctx, -1, mkdiratCall(dirfd, path, mode))
		return err
	}
	_, err := d.ringOp(ctx, -1, func(o *op, sqe *uring.SQE) {
		sqe.PrepMkdirat(dirfd, cpath(o, path), mode)
	}, nil)
	return err
}

func (d *uringDriver) Unlinkat(ctx context.Context, dirfd int, path string, flags int) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if !d.has(uring.OpUnlinkat) {
		_, err := d.plain(ctx, -1, unlinkatCall(dirfd, path, flags))
		return err
	}
	_, err := d.ringOp(ctx, -1, func(o *op, sqe *uring.SQE) {
		sqe.PrepUnlinkat(dirfd, cpath(o, path), flags)
	}, nil)
	return err
}

func (d *uringDriver) Renameat(ctx context.Context, olddirfd int, oldpath string, newdirfd int, newpath string) error {
	if err := checkPath(oldpath); err != nil {
		return err
	}
	if err := checkPath(newpath); err != nil {
		return err
	}
	if !d.has(uring.OpRenameat) {
		_, err := d.plain(ctx, -1, renameatCall(olddirfd, oldpath, newdirfd, newpath))
		return err
	}
	_, err := d.ringOp(ctx, -1, func(o *op, sqe *uring.SQE) {
		sqe.PrepRenameat(olddirfd, cpath(o, oldpath), newdirfd, cpath2(o, newpath), 0)
	}, nil)
	return err
}

func (d *uringDriver) Statat(ctx context.Context, dirfd int, path string, flags int) (unix.Stat_t, error) {
	if err := checkPath(path); err != nil {
		return unix.Stat_t{}, err
	}
	var st unix.Stat_t
	_, err := d.ringOp(ctx, -1, func(o *op, sqe *uring.SQE) {
		o.pin.Pin(&o.statx)
		sqe.PrepStatx(dirfd, cpath(o, path), flags, unix.STATX_BASIC_STATS, unsafe.Pointer(&o.statx))
	}, func(o *op) { st = statxToStat(&o.statx) })
	return st, err
}

func (d *uringDriver) Fallocate(ctx context.Context, fd int, mode uint32, off, n int64) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	if !d.has(uring.OpFallocate) {
		_, err := d.plain(ctx, fd, fallocateCall(fd, mode, off, n))
		return err
	}
	_, err := d.ringOp(ctx, fd, func(o *op, sqe *uring.SQE) { sqe.PrepFallocate(fd, mode, off, n) }, nil)
	return err
}

func (d *uringDriver) Ftruncate(ctx context.Context, fd int, size int64) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	if !d.has(uring.OpFtruncate) {
		_, err := d.plain(ctx, fd, ftruncateCall(fd, size))
		return err
	}
	_, err := d.ringOp(ctx, fd, func(o *op, sqe *uring.SQE) { sqe.PrepFtruncate(fd, size) }, nil)
	return err
}

func (d *uringDriver) Splice(ctx context.Context, in int, offIn int64, out int, offOut int64, n int) (int, error) {
	if err := checkFD(in); err != nil {
		return 0, err
	}
	if err := checkFD(out); err != nil {
		return 0, err
	}
	n = min(n, maxRW)
	if !d.has(uring.OpSplice) {
		return d.plain(ctx, out, spliceCall(in, offIn, out, offOut, n))
	}
	return d.ringOp(ctx, out, func(o *op, sqe *uring.SQE) {
		sqe.PrepSplice(in, offIn, out, offOut, uint32(n), unix.SPLICE_F_MOVE)
	}, nil)
}

func (d *uringDriver) PollWait(ctx context.Context, fd int, events int16) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	_, err := d.ringOp(ctx, fd, func(o *op, sqe *uring.SQE) { sqe.PrepPollAdd(fd, uint32(uint16(events))) }, nil)
	return err
}

func (d *uringDriver) Adopt(fd int, flags int, mode uint32) {
	v := kindKnown
	if flags&unix.O_DIRECT != 0 {
		v |= kindDirect
	}
	if mode&unix.S_IFMT == unix.S_IFREG {
		v |= kindRegular
	}
	d.kinds.set(fd, v)
}

// set records fd's kind, found by the caller.
func (k *fdKinds) set(fd int, v fdKind) {
	if uint(fd) < fdKindsDense {
		k.dense[fd].Store(uint32(v))
	} else {
		k.sparse.Store(int32(fd), v)
	}
}
