package driver

import (
	"context"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Inliner splits a read or write in two at the point where it would have
// to wait, for a caller that has something to do there: the executor gives
// the task's worker up only when the operation must wait, so that one the
// page cache serves (a hit, a write the cache absorbs) costs no hand-off of
// the worker. Both backends implement it; Driver embeds it.
//
// TryAt is the first part, WaitAt the rest: TryAt, and WaitAt if TryAt
// returned ok == false, make the same read or write as ReadAt or WriteAt,
// without the system call a second inline attempt would waste. A caller
// with nothing to do between the two calls ReadAt or WriteAt.
type Inliner interface {
	// TryAt makes the read into p, or with write the write of p, that
	// ReadAt or WriteAt would make (at offset off, or at the file position
	// if off < 0), but only if it completes without a wait: on the calling
	// goroutine, with preadv2 or pwritev2 and RWF_NOWAIT. ok is false if it
	// would have had to wait, or cannot be tried (an O_DIRECT descriptor
	// the driver opened, whose reads always reach the device; an empty p):
	// then nothing was transferred. Otherwise n and err are the result.
	//
	// The portable backend does not know which descriptors are O_DIRECT:
	// the caller does not try those, since RWF_NOWAIT may make a direct
	// read wait for the device.
	TryAt(fd int, p []byte, off int64, write bool) (n int, err error, ok bool)
	// WaitAt is ReadAt, or with write WriteAt, for a caller whose TryAt of
	// the same transfer has just returned ok == false: it makes no inline
	// attempt of its own, since the same system call would fail again.
	WaitAt(ctx context.Context, fd int, p []byte, off int64, write bool) (int, error)
}

// TryAt implements Inliner.
func (d *uringDriver) TryAt(fd int, p []byte, off int64, write bool) (int, error, bool) {
	if len(p) == 0 || checkFD(fd) != nil || d.isClosed.Load() {
		return 0, nil, false // let the full operation report it
	}
	return d.nowait(fd, clampRW(p), off, write)
}

// WaitAt implements Inliner.
func (d *uringDriver) WaitAt(ctx context.Context, fd int, p []byte, off int64, write bool) (int, error) {
	return d.rw(ctx, fd, p, off, write, false)
}

// TryAt implements Inliner.
func (d *portableDriver) TryAt(fd int, p []byte, off int64, write bool) (int, error, bool) {
	if len(p) == 0 || checkFD(fd) != nil {
		return 0, nil, false
	}
	p = clampRW(p)
	n, err, ok := nowaitRW(fd, p, off, write)
	if ok {
		d.tried.add(bufHint(p))
	}
	return n, err, ok
}

// WaitAt implements Inliner; the portable ReadAt and WriteAt make no inline
// attempt of their own.
func (d *portableDriver) WaitAt(ctx context.Context, fd int, p []byte, off int64, write bool) (int, error) {
	return d.rw(ctx, fd, p, off, write)
}

// rawNowaitMax is the largest transfer that cannot wait (RWF_NOWAIT,
// MSG_DONTWAIT) made as a raw system call: copying 64 KiB takes a few
// microseconds.
const rawNowaitMax = 64 << 10

// nowaitSyscall returns how to make a system call that cannot wait and
// moves n bytes. It needs no hand-off of the thread's P: a small one is
// made as a raw system call, which skips the runtime's
// entersyscall/exitsyscall bookkeeping (a measurable share of a 4 KiB
// page-cache read or a 1 KiB socket receive). A large copy is not, so that
// a long memcpy in the kernel does not hold up the P (and a stop-the-world)
// unannounced.
func nowaitSyscall(n int) func(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if n <= rawNowaitMax {
		return unix.RawSyscall6
	}
	return unix.Syscall6
}

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
	syscall6 := nowaitSyscall(len(p))
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
