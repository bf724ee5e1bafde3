package driver

import (
	"context"

	"golang.org/x/sys/unix"
)

// FileOps is implemented by both backends: operations on paths, and on
// descriptors beyond Driver's reads and writes. The conventions are
// Driver's: raw syscall.Errno errors, ctx.Err() when ctx is done before
// the operation started or while it was in flight and it did not
// complete, its real result when it completed anyway (a directory that
// was made, a file that was renamed: nothing happens that the caller does
// not hear of).
//
// On the uring backend each operation is an io_uring request when the
// kernel has its opcode (probed once, when the ring is set up), and
// otherwise the plain system call on the calling goroutine, whose caller
// has released its worker; on the portable backend it is always the
// plain system call. See the package doc for the table.
type FileOps interface {
	// Mkdirat is mkdirat(2) (IORING_OP_MKDIRAT, Linux 5.15).
	Mkdirat(ctx context.Context, dirfd int, path string, mode uint32) error
	// Unlinkat is unlinkat(2); flags may hold unix.AT_REMOVEDIR
	// (IORING_OP_UNLINKAT, Linux 5.11).
	Unlinkat(ctx context.Context, dirfd int, path string, flags int) error
	// Renameat is renameat2(2) with no flags (IORING_OP_RENAMEAT, Linux
	// 5.11).
	Renameat(ctx context.Context, olddirfd int, oldpath string, newdirfd int, newpath string) error
	// Statat is statx(2) of path relative to dirfd (IORING_OP_STATX);
	// flags may hold unix.AT_SYMLINK_NOFOLLOW.
	Statat(ctx context.Context, dirfd int, path string, flags int) (unix.Stat_t, error)
	// Fallocate is fallocate(2) (IORING_OP_FALLOCATE, Linux 5.6).
	Fallocate(ctx context.Context, fd int, mode uint32, off, n int64) error
	// Ftruncate is ftruncate(2) (IORING_OP_FTRUNCATE, Linux 6.9).
	Ftruncate(ctx context.Context, fd int, size int64) error
	// Splice is one splice(2) of up to n bytes from in to out, at offIn
	// and offOut (-1: none, as pipes require), with SPLICE_F_MOVE
	// (IORING_OP_SPLICE, Linux 5.7). It is meant for a source that may
	// have to wait for a device (a regular file) into a pipe with room:
	// a non-blocking end that is not ready fails it with EAGAIN, for the
	// caller to wait with PollWait.
	Splice(ctx context.Context, in int, offIn int64, out int, offOut int64, n int) (int, error)
	// PollWait waits until fd reports one of events (unix.POLLIN,
	// unix.POLLOUT), or an error or hang-up (IORING_OP_POLL_ADD; poll(2)
	// on the portable backend).
	PollWait(ctx context.Context, fd int, events int16) error
	// Adopt tells the driver about fd, opened outside it with the open
	// flags and found to have the file mode (st_mode), so that it replaces
	// what it may have cached about an earlier descriptor of that number
	// (whether it was O_DIRECT, a regular file) without asking the kernel.
	Adopt(fd int, flags int, mode uint32)
}

var (
	_ FileOps = (*uringDriver)(nil)
	_ FileOps = (*portableDriver)(nil)
)

// The plain system calls behind FileOps, in do's form (EINTR is retried
// by the caller).

func mkdiratCall(dirfd int, path string, mode uint32) func() (int, error) {
	return func() (int, error) { return 0, unix.Mkdirat(dirfd, path, mode) }
}

func unlinkatCall(dirfd int, path string, flags int) func() (int, error) {
	return func() (int, error) { return 0, unix.Unlinkat(dirfd, path, flags) }
}

func renameatCall(olddirfd int, oldpath string, newdirfd int, newpath string) func() (int, error) {
	return func() (int, error) { return 0, unix.Renameat(olddirfd, oldpath, newdirfd, newpath) }
}

func statatCall(dirfd int, path string, flags int, st *unix.Stat_t) func() (int, error) {
	return func() (int, error) { return 0, unix.Fstatat(dirfd, path, st, flags) }
}

func fallocateCall(fd int, mode uint32, off, n int64) func() (int, error) {
	return func() (int, error) { return 0, unix.Fallocate(fd, mode, off, n) }
}

func ftruncateCall(fd int, size int64) func() (int, error) {
	return func() (int, error) { return 0, unix.Ftruncate(fd, size) }
}

func spliceCall(in int, offIn int64, out int, offOut int64, n int) func() (int, error) {
	return func() (int, error) {
		var pin, pout *int64
		if offIn >= 0 {
			pin = &offIn
		}
		if offOut >= 0 {
			pout = &offOut
		}
		m, err := unix.Splice(in, pin, out, pout, n, unix.SPLICE_F_MOVE)
		return int(m), err
	}
}

// pollNow reports whether fd is ready for events now, as do's call: EAGAIN
// if not, so that do waits in poll(2).
func pollNow(fd int, events int16) func() (int, error) {
	return func() (int, error) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
		n, err := unix.Poll(pfd, 0)
		if err == nil && n == 0 {
			err = unix.EAGAIN
		}
		return 0, err
	}
}

func (d *portableDriver) Mkdirat(ctx context.Context, dirfd int, path string, mode uint32) error {
	return d.pathCall(ctx, path, mkdiratCall(dirfd, path, mode))
}

func (d *portableDriver) Unlinkat(ctx context.Context, dirfd int, path string, flags int) error {
	return d.pathCall(ctx, path, unlinkatCall(dirfd, path, flags))
}

func (d *portableDriver) Renameat(ctx context.Context, olddirfd int, oldpath string, newdirfd int, newpath string) error {
	if err := checkPath(newpath); err != nil {
		return err
	}
	return d.pathCall(ctx, oldpath, renameatCall(olddirfd, oldpath, newdirfd, newpath))
}

func (d *portableDriver) Statat(ctx context.Context, dirfd int, path string, flags int) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := d.pathCall(ctx, path, statatCall(dirfd, path, flags, &st))
	return st, err
}

// pathCall runs a path operation's system call, counted against no
// descriptor, as Open does.
func (d *portableDriver) pathCall(ctx context.Context, path string, call func() (int, error)) error {
	if err := checkPath(path); err != nil {
		return err
	}
	_, err := d.do(ctx, -1, 0, call)
	return err
}

func (d *portableDriver) Fallocate(ctx context.Context, fd int, mode uint32, off, n int64) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	_, err := d.do(ctx, fd, 0, fallocateCall(fd, mode, off, n))
	return err
}

func (d *portableDriver) Ftruncate(ctx context.Context, fd int, size int64) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	_, err := d.do(ctx, fd, 0, ftruncateCall(fd, size))
	return err
}

func (d *portableDriver) Splice(ctx context.Context, in int, offIn int64, out int, offOut int64, n int) (int, error) {
	if err := checkFD(in); err != nil {
		return 0, err
	}
	if err := checkFD(out); err != nil {
		return 0, err
	}
	return d.do(ctx, out, 0, spliceCall(in, offIn, out, offOut, min(n, maxRW)))
}

func (d *portableDriver) PollWait(ctx context.Context, fd int, events int16) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	_, err := d.do(ctx, fd, events, pollNow(fd, events))
	return err
}

func (d *portableDriver) Adopt(int, int, uint32) {}
