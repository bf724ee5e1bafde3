package executor

import (
	"context"
	"io/fs"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// Truncate changes the size of the file, like os.File.Truncate:
// ftruncate(2), an io_uring request where the kernel has the opcode
// (Linux 6.9), with the task's worker given up while it waits.
func (f *File) Truncate(ctx context.Context, size int64) error {
	return f.fdCall(ctx, "truncate", func(fo driver.FileOps) error {
		return fo.Ftruncate(ctx, f.fd, size)
	})
}

// Allocate makes sure that the n bytes of the file from offset off have
// disk space allocated, growing the file if off+n is past its end:
// fallocate(2) with mode 0, an io_uring request where the kernel has the
// opcode (Linux 5.6). File systems that cannot preallocate fail it with
// an error wrapping syscall.EOPNOTSUPP; n must be positive.
func (f *File) Allocate(ctx context.Context, off, n int64) error {
	return f.fdCall(ctx, "allocate", func(fo driver.FileOps) error {
		return fo.Fallocate(ctx, f.fd, 0, off, n)
	})
}

// fdCall runs call on the open file with the task's worker given up.
func (f *File) fdCall(ctx context.Context, op string, call func(fo driver.FileOps) error) error {
	if err := f.acquire(op); err != nil {
		return err
	}
	defer f.release()
	wt := beginWait(ctx, waitPath, &f.name)
	err := call(f.d.(driver.FileOps)) // both backends have them
	wt.end()
	return f.wrap(op, err)
}

// Seek sets the position of the file's next Read or Write, like
// os.File.Seek: offset is relative to the start (io.SeekStart), the
// current position (io.SeekCurrent) or the end (io.SeekEnd). It returns
// the new position. The position is the descriptor's own (lseek(2)),
// which needs no wait; ReadAt and WriteAt neither use nor move it.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if err := f.acquire("seek"); err != nil {
		return 0, err
	}
	defer f.release()
	pos, err := unix.Seek(f.fd, offset, whence)
	if err != nil {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: err}
	}
	return pos, nil
}
