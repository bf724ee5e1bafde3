package executor

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// Operations on paths, each the os package's function of the same name
// with a context: it runs on the I/O driver of the executor in ctx (or of
// the default executor), as an io_uring request where the kernel has the
// opcode and as the plain system call otherwise, with the task's worker
// given up while it waits. Errors are the os package's: *fs.PathError or
// *os.LinkError wrapping the errno, so errors.Is(err, fs.ErrNotExist),
// fs.ErrExist, syscall.ENOTEMPTY and the like work. If ctx is done before
// the operation starts, it returns an error wrapping ctx's error; if ctx
// ends while the operation is in flight and the operation completes
// anyway (a directory made, a file renamed), it reports success: nothing
// happens that the caller does not hear of.

// fileOps returns the path operations of the driver of ctx's executor.
func fileOps(ctx context.Context) (driver.FileOps, error) {
	d, err := executorOf(ctx).driver()
	if err != nil {
		return nil, err
	}
	return d.(driver.FileOps), nil
}

// pathErr turns a driver error into the os package's form.
func pathErr(op, path string, err error) error {
	if errors.Is(err, driver.ErrClosed) {
		err = fs.ErrClosed // the executor has shut down, as File.wrap says
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// pathCall runs call with the task's worker given up, and wraps its error
// as op on path.
func pathCall(ctx context.Context, op, path string, call func(fo driver.FileOps) error) error {
	fo, err := fileOps(ctx)
	if err != nil {
		return &fs.PathError{Op: op, Path: path, Err: err}
	}
	wt := beginWait(ctx, waitPath, &path)
	err = call(fo)
	wt.end()
	if err != nil {
		return pathErr(op, path, err)
	}
	return nil
}

// Mkdir creates a directory with permissions perm (before umask), like
// os.Mkdir.
func Mkdir(ctx context.Context, name string, perm fs.FileMode) error {
	return pathCall(ctx, "mkdir", name, func(fo driver.FileOps) error {
		return fo.Mkdirat(ctx, unix.AT_FDCWD, name, syscallMode(perm))
	})
}

// MkdirAll creates a directory and any parents it lacks, like
// os.MkdirAll: nil if the directory exists already, an error wrapping
// syscall.ENOTDIR if path names something else.
func MkdirAll(ctx context.Context, path string, perm fs.FileMode) error {
	checkCtx(ctx)
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	if fi, err := Stat(ctx, path); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: path, Err: syscall.ENOTDIR}
	}
	// Make the parent (the path without its trailing slashes and last
	// element) first.
	i := len(path) - 1
	for i >= 0 && path[i] == '/' {
		i--
	}
	for i >= 0 && path[i] != '/' {
		i--
	}
	if parent := path[:max(i, 0)]; parent != "" {
		if err := MkdirAll(ctx, parent, perm); err != nil {
			return err
		}
	}
	err := Mkdir(ctx, path, perm)
	if err != nil {
		// "a/." and a directory made meanwhile by someone else.
		if fi, err1 := Lstat(ctx, path); err1 == nil && fi.IsDir() {
			return nil
		}
	}
	return err
}

// Remove removes the named file or empty directory, like os.Remove. A
// directory that is not empty yields an error wrapping syscall.ENOTEMPTY.
func Remove(ctx context.Context, name string) error {
	fo, err := fileOps(ctx)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	wt := beginWait(ctx, waitPath, &name)
	defer wt.end()
	err = fo.Unlinkat(ctx, unix.AT_FDCWD, name, 0)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return pathErr("remove", name, err)
	}
	err1 := fo.Unlinkat(ctx, unix.AT_FDCWD, name, unix.AT_REMOVEDIR)
	if err1 == nil {
		return nil
	}
	// Both failed. As the os package reasons: unlink(2) of a directory
	// fails with EISDIR or EPERM depending on the system, but rmdir(2) of
	// anything else fails with ENOTDIR, so unless it did, rmdir's error is
	// the one that describes the problem.
	if !errors.Is(err1, syscall.ENOTDIR) {
		err = err1
	}
	return pathErr("remove", name, err)
}

// Rename renames (moves) oldpath to newpath, replacing newpath if it
// exists and is not a directory, like os.Rename. Errors are
// *os.LinkError values.
func Rename(ctx context.Context, oldpath, newpath string) error {
	linkErr := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, driver.ErrClosed) {
			err = fs.ErrClosed
		}
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	fo, err := fileOps(ctx)
	if err != nil {
		return linkErr(err)
	}
	// As os.Rename: an existing directory is never replaced, even by a
	// directory (rename(2) would replace an empty one), unless both names
	// are the same file.
	if nfi, err := Lstat(ctx, newpath); err == nil && nfi.IsDir() {
		ofi, err := Lstat(ctx, oldpath)
		if err != nil {
			return linkErr(err)
		}
		if newpath == oldpath || !sameFile(nfi, ofi) {
			return linkErr(syscall.EEXIST)
		}
	}
	wt := beginWait(ctx, waitPath, &oldpath)
	err = fo.Renameat(ctx, unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath)
	wt.end()
	if err != nil {
		return linkErr(err)
	}
	return nil
}

// sameFile is os.SameFile for this package's FileInfos.
func sameFile(a, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// statSys returns st as the *syscall.Stat_t that the Sys method of the os
// package's FileInfos returns, so that code written for those works on
// ours. Both types are the kernel's struct stat.
func statSys(st *unix.Stat_t) *syscall.Stat_t {
	return (*syscall.Stat_t)(unsafe.Pointer(st))
}

// The two must have the same size (a negative length does not compile).
var _ [unsafe.Sizeof(syscall.Stat_t{}) - unsafe.Sizeof(unix.Stat_t{})]struct{}
var _ [unsafe.Sizeof(unix.Stat_t{}) - unsafe.Sizeof(syscall.Stat_t{})]struct{}

// Stat returns the fs.FileInfo of the named file, following symbolic
// links, like os.Stat.
func Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	return stat(ctx, "stat", name, 0)
}

// Lstat returns the fs.FileInfo of the named file; a symbolic link is
// described, not followed, like os.Lstat.
func Lstat(ctx context.Context, name string) (fs.FileInfo, error) {
	return stat(ctx, "lstat", name, unix.AT_SYMLINK_NOFOLLOW)
}

func stat(ctx context.Context, op, name string, flags int) (fs.FileInfo, error) {
	var st unix.Stat_t
	err := pathCall(ctx, op, name, func(fo driver.FileOps) (err error) {
		st, err = fo.Statat(ctx, unix.AT_FDCWD, name, flags)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newFileInfo(name, &st), nil
}

// ReadDir reads the named directory and returns its entries sorted by
// file name, like os.ReadDir. io_uring has no opcode for reading a
// directory, so the system calls run with the task's worker given up; as
// with os.ReadDir, an entry's Info method makes an lstat(2) of its own
// when called.
func ReadDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	checkCtx(ctx)
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	wt := beginWait(ctx, waitPath, &name)
	ents, err := os.ReadDir(name)
	wt.end()
	return ents, err
}

// WriteFile writes data to the named file, creating it with permissions
// perm (before umask) if needed and truncating it otherwise, like
// os.WriteFile.
func WriteFile(ctx context.Context, name string, data []byte, perm fs.FileMode) error {
	f, err := OpenFile(ctx, name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(ctx, data)
	if err1 := f.Close(); err1 != nil && err == nil {
		err = err1
	}
	return err
}

// ReadFile reads the named file and returns its contents, like
// os.ReadFile: a nil error at the end of the file, not io.EOF.
//
// A file whose path the kernel has in its caches is opened without giving
// the task's worker up (openat2(2) with RESOLVE_CACHED, as io_uring
// itself first tries an open), and its data read from the page cache the
// same way; only an open or a read that must wait for the disk gives it
// up.
func ReadFile(ctx context.Context, name string) ([]byte, error) {
	f, size, err := openForRead(ctx, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// As os.ReadFile: the size the file claims plus one byte, to see the
	// end of the file without growing; at least 512 bytes, for files
	// (in /proc) that claim 0 and do not read well in small pieces.
	n := 512
	if int64(int(size)) == size && int(size) >= n {
		n = int(size) + 1
	}
	data := make([]byte, 0, n)
	for {
		m, err := f.Read(ctx, data[len(data):cap(data)])
		data = data[:len(data)+m]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return data, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// openForRead opens name read-only for ReadFile and returns the size the
// file claims (0 if unknown).
func openForRead(ctx context.Context, name string) (*File, int64, error) {
	e := executorOf(ctx)
	d, err := e.driver()
	if err != nil {
		return nil, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if ctx.Err() == nil {
		fd, st, err, ok := openCached(name)
		if ok {
			if err != nil {
				return nil, 0, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			d.(driver.FileOps).Adopt(fd, unix.O_RDONLY, st.Mode)
			f := &File{name: name, fd: fd, d: d}
			return f, st.Size, nil
		}
	}
	f, err := OpenFile(ctx, name, os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, err
	}
	var size int64
	if fi, err := f.Stat(ctx); err == nil {
		size = fi.Size()
	}
	return f, size, nil
}

// resolveCached is RESOLVE_CACHED (linux/openat2.h, Linux 5.12), which
// golang.org/x/sys does not define: fail with EAGAIN unless every path
// component is in the kernel's lookup caches.
const resolveCached = 0x20

// noCachedOpen is set once openat2 with RESOLVE_CACHED turns out to be
// missing (Linux before 5.12, or a seccomp filter): ReadFile then always
// opens through the driver.
var noCachedOpen atomic.Bool

// openCached opens a regular file read-only if that needs no wait: every
// path component in the kernel's caches, and no blocking open (a FIFO's,
// which O_NONBLOCK prevents and the type check then sends to the driver).
// ok is false if the open must go through the driver; otherwise err is
// the open's real failure (a cached ENOENT, EACCES ...) or fd and st the
// descriptor and its status.
func openCached(name string) (fd int, st unix.Stat_t, err error, ok bool) {
	if noCachedOpen.Load() {
		return -1, st, nil, false
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK,
		Resolve: resolveCached,
	}
	for {
		fd, err = unix.Openat2(unix.AT_FDCWD, name, &how)
		if err != syscall.EINTR {
			break
		}
	}
	switch err {
	case nil:
	case syscall.EAGAIN:
		return -1, st, nil, false
	case syscall.ENOSYS, syscall.EINVAL, syscall.EPERM, syscall.E2BIG:
		// No openat2 or no RESOLVE_CACHED here (EINVAL is also what a
		// name with a NUL byte gets: the driver's open reports that).
		if err != syscall.EINVAL {
			noCachedOpen.Store(true)
		}
		return -1, st, nil, false
	default:
		return -1, st, err, true
	}
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, nil, false
	}
	// Reads must wait as os.File's do, not fail with EAGAIN.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, unix.O_RDONLY); err != nil {
		unix.Close(fd)
		return -1, st, nil, false
	}
	return fd, st, nil, true
}
