package driver

import (
	"context"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// Inliner is implemented by drivers that can try an operation at once, on
// the calling goroutine, when it can complete without waiting: a read the
// page cache can serve, a write the page cache can absorb. The executor
// tries it before it gives a task's worker up, so that an operation that
// needs no wait costs no hand-off of the worker either.
type Inliner interface {
	// TryReadAt is ReadAt done only if it needs no wait. ok is false if it
	// would have had to wait (nothing was read); otherwise n and err are
	// the result of the read.
	TryReadAt(fd int, p []byte, off int64) (n int, err error, ok bool)
	// TryWriteAt is WriteAt done only if it needs no wait, like TryReadAt.
	TryWriteAt(fd int, p []byte, off int64) (n int, err error, ok bool)
	// WaitReadAt and WaitWriteAt are ReadAt and WriteAt for a caller whose
	// TryReadAt or TryWriteAt just returned ok == false: they skip the
	// driver's own inline attempt.
	WaitReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error)
	WaitWriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error)
}

// WaitReadAt implements Inliner.
func (d *uringDriver) WaitReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, uring.OpRead, fd, p, off, false)
}

// WaitWriteAt implements Inliner.
func (d *uringDriver) WaitWriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, uring.OpWrite, fd, p, off, false)
}

// WaitReadAt implements Inliner; the portable ReadAt makes no inline
// attempt of its own.
func (d *portableDriver) WaitReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.ReadAt(ctx, fd, p, off)
}

// WaitWriteAt implements Inliner, like WaitReadAt.
func (d *portableDriver) WaitWriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.WriteAt(ctx, fd, p, off)
}

// TryReadAt implements Inliner with preadv2(RWF_NOWAIT); it never tries
// O_DIRECT descriptors, whose reads always reach the device.
func (d *uringDriver) TryReadAt(fd int, p []byte, off int64) (int, error, bool) {
	return d.try(fd, p, off, false)
}

// TryWriteAt implements Inliner with pwritev2(RWF_NOWAIT).
func (d *uringDriver) TryWriteAt(fd int, p []byte, off int64) (int, error, bool) {
	return d.try(fd, p, off, true)
}

func (d *uringDriver) try(fd int, p []byte, off int64, write bool) (int, error, bool) {
	if len(p) == 0 || checkFD(fd) != nil || d.isClosed.Load() {
		return 0, nil, false // let the full operation report it
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	n, err, ok := d.tryNowait(fd, p, off, write)
	if ok {
		d.countInline(bufHint(p))
	}
	return n, err, ok
}

// TryReadAt implements Inliner with preadv2(RWF_NOWAIT). The caller must not
// use it for O_DIRECT descriptors: the portable driver does not track them,
// and a direct read may wait for the device even with RWF_NOWAIT.
func (d *portableDriver) TryReadAt(fd int, p []byte, off int64) (int, error, bool) {
	return d.try(fd, p, off, false)
}

// TryWriteAt implements Inliner with pwritev2(RWF_NOWAIT), with the same
// caveat as TryReadAt.
func (d *portableDriver) TryWriteAt(fd int, p []byte, off int64) (int, error, bool) {
	return d.try(fd, p, off, true)
}

func (d *portableDriver) try(fd int, p []byte, off int64, write bool) (int, error, bool) {
	if len(p) == 0 || checkFD(fd) != nil {
		return 0, nil, false
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	n, err, ok := nowaitRW(fd, p, off, write)
	if ok {
		d.tried.add(bufHint(p))
	}
	return n, err, ok
}

// rawNowaitMax is the largest RWF_NOWAIT transfer made as a raw system
// call: copying 64 KiB takes a few microseconds.
const rawNowaitMax = 64 << 10

// nowaitRW is one preadv2 or pwritev2 with RWF_NOWAIT. ok is false if the
// kernel would have had to wait (EAGAIN), or does not support RWF_NOWAIT
// for this descriptor.
func nowaitRW(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	iov := unix.Iovec{Base: &p[0]}
	iov.SetLen(len(p))
	trap := uintptr(unix.SYS_PREADV2)
	if write {
		trap = unix.SYS_PWRITEV2
	}
	// A call that cannot wait needs no hand-off of the thread's P: a small
	// one is made as a raw system call, which skips the runtime's
	// entersyscall/exitsyscall bookkeeping (a measurable share of a 4 KiB
	// page-cache read). A large copy is not, so that a long memcpy in the
	// kernel does not hold up the P (and a stop-the-world) unannounced.
	syscall6 := unix.Syscall6
	if len(p) <= rawNowaitMax {
		syscall6 = unix.RawSyscall6
	}
	for {
		r, _, errno := syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1,
			uintptr(off), uintptr(uint64(off)>>32>>32), unix.RWF_NOWAIT)
		runtime.KeepAlive(p)
		switch errno {
		case 0:
			return int(r), nil, true // a 0-byte read is end of file: EAGAIN reports giving up
		case syscall.EINTR:
			continue
		case syscall.EAGAIN, syscall.EOPNOTSUPP, syscall.EINVAL:
			return 0, nil, false
		default:
			return 0, errno, true
		}
	}
}
