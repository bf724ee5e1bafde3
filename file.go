package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// File is an open file whose reads, writes and syncs are I/O operations of
// the executor's driver: io_uring submissions on the uring backend, system
// calls with the worker given up on the portable one. A task that waits for
// one gives up its worker; a plain goroutine simply blocks.
//
// Every operation takes a context. If it is done before the operation
// completes, the operation is cancelled and returns an error wrapping the
// context's error, unless the operation completed anyway: then its real
// result is returned. Either way, once the call returns, the kernel no longer
// touches the buffer.
//
// Errors are *fs.PathError values wrapping the errno, as the os package's
// are: errors.Is(err, fs.ErrNotExist), fs.ErrPermission and fs.ErrClosed
// work. A File is safe for concurrent use; Read and Write share the file
// position as read(2) and write(2) do.
type File struct {
	name       string
	fd         int
	d          driver.Driver
	direct     bool // opened with O_DIRECT: never tried inline, see OpenFile
	appendMode bool // opened with O_APPEND: WriteAt is refused, as by os.File

	refs opRefs // operations in progress; Close waits for them
}

// Open opens the named file for reading, like os.Open.
func Open(ctx context.Context, name string) (*File, error) {
	return OpenFile(ctx, name, os.O_RDONLY, 0)
}

// Create creates or truncates the named file, like os.Create (mode 0666
// before umask, opened for reading and writing).
func Create(ctx context.Context, name string) (*File, error) {
	return OpenFile(ctx, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// OpenFile opens the named file with the given flags (os.O_RDONLY etc., and
// syscall.O_DIRECT where the file system supports it) and, when it creates
// the file, permissions perm (before umask), like os.OpenFile. It runs on
// the driver of the executor found in ctx, or of the default executor.
//
// Reads and writes of an O_DIRECT file bypass the page cache: their offset
// and length must be multiples of the device's logical block size, and
// their buffer aligned as the device requires, or they fail with an error
// matching syscall.EINVAL that says so. A BufferPool's buffers are aligned,
// and on io_uring registered with the kernel, which makes each transfer
// cheaper.
func OpenFile(ctx context.Context, name string, flag int, perm fs.FileMode) (*File, error) {
	e := executorOf(ctx)
	d, err := e.driver()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	wt := beginWait(ctx, waitOpen, &name)
	fd, err := d.Open(ctx, unix.AT_FDCWD, name, flag, syscallMode(perm))
	wt.end()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if d.Name() == "portable" {
		pollable(fd)
	}
	f := &File{name: name, fd: fd, d: d, appendMode: flag&os.O_APPEND != 0}
	// A direct read always reaches the device: trying it inline would hold
	// the worker for the device's latency.
	f.direct = flag&syscall.O_DIRECT != 0
	return f, nil
}

// pollable makes a pipe, FIFO, socket or terminal non-blocking, so that the
// portable driver waits for it in poll(2), where cancellation and Close can
// interrupt the wait, as the os package hands such files to its poller. A
// read(2) of a regular file cannot be interrupted either way.
func pollable(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR:
		unix.SetNonblock(fd, true)
	}
}

// syscallMode converts an fs.FileMode to the bits open(2) takes.
func syscallMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		o |= syscall.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		o |= syscall.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		o |= syscall.S_ISVTX
	}
	return o
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Fd returns the file's descriptor. It stays valid until Close; do not close
// it yourself.
func (f *File) Fd() uintptr {
	if f == nil {
		return ^uintptr(0) // as os.File's
	}
	return uintptr(f.fd)
}

// acquire counts an operation in, or fails if the file is closed.
func (f *File) acquire(op string) error {
	if f == nil {
		return &fs.PathError{Op: op, Path: "", Err: fs.ErrInvalid}
	}
	if !f.refs.acquire() {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	return nil
}

// release counts an operation out.
func (f *File) release() { f.refs.release() }

// wrap turns a driver error into the error a user sees.
func (f *File) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECANCELED) || errors.Is(err, driver.ErrClosed):
		// Cancelled by Close, not by the caller's context.
		err = fs.ErrClosed
	case f.direct && (op == "read" || op == "write") && err == syscall.EINVAL:
		// What an O_DIRECT transfer answers, almost always, to a buffer,
		// offset or length that is not aligned: say so.
		err = errDirectAlign
	}
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

// errDirectAlign is the EINVAL of a read or write of an O_DIRECT file.
var errDirectAlign = fmt.Errorf("%w (O_DIRECT: the offset and the length must be multiples of the device's logical block size, and the buffer aligned as the device requires; BufferPool buffers are aligned to %d bytes)", syscall.EINVAL, BufferAlign)

// opWait is a file operation's wait: the worker is given up the first
// time the operation must wait, and taken back once at the end, so that an
// operation that completes without a wait (a page-cache hit) keeps the
// worker and costs no hand-off.
type opWait struct {
	wait
	missed bool // an inline attempt has just failed: wait at once
}

// transfer makes one read or write of p at off (the file position if
// off < 0): inline if the driver can do it without a wait, otherwise with
// the worker given up.
func (f *File) transfer(w *opWait, p []byte, off int64, write bool) (int, error) {
	if !f.direct && !w.begun && w.ctx.Err() == nil {
		if !w.missed {
			if n, err, ok := f.d.TryAt(f.fd, p, off, write); ok {
				return n, err
			}
		}
		w.missed = false
		w.begin(rwWait(write), &f.name)
		return f.d.WaitAt(w.ctx, f.fd, p, off, write)
	}
	// The worker is given up already, or the file is not tried inline:
	// the driver's whole operation, which tries inline itself if it can.
	w.begin(rwWait(write), &f.name)
	if write {
		return f.d.WriteAt(w.ctx, f.fd, p, off)
	}
	return f.d.ReadAt(w.ctx, f.fd, p, off)
}

// ReadAt reads len(p) bytes at offset off. Like io.ReaderAt, it returns
// fewer bytes only with an error, and io.EOF at the end of the file.
func (f *File) ReadAt(ctx context.Context, p []byte, off int64) (n int, err error) {
	checkCtx(ctx)
	// The common case first: the page cache serves the whole read at once.
	// It takes one attempt and none of the bookkeeping a wait needs.
	done, missed := 0, false
	if f != nil && !f.direct && len(p) > 0 && off >= 0 && ctx.Err() == nil && f.refs.acquire() {
		m, err, ok := f.d.TryAt(f.fd, p, off, false)
		f.refs.release()
		switch {
		case !ok:
			missed = true // the full path waits at once
		case err == nil && m == len(p):
			return m, nil
		case err == nil && m > 0:
			done = m // short: the full path reads the rest
		}
		// An error or the end of the file: the full path makes the call
		// again and reports it.
	}
	n, err = f.readAt(ctx, p[done:], off+int64(done), missed)
	return done + n, err
}

// readAt is ReadAt in full. missed reports that an inline attempt at p
// and off has just found the data not in the page cache.
func (f *File) readAt(ctx context.Context, p []byte, off int64, missed bool) (n int, err error) {
	if err := f.acquire("read"); err != nil {
		return 0, err
	}
	defer f.release()
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	w := opWait{wait: wait{ctx: ctx}, missed: missed}
	defer w.end()
	for len(p) > 0 {
		m, err := f.transfer(&w, p, off, false)
		if err != nil {
			return n, f.wrap("read", err)
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
		p = p[m:]
		off += int64(m)
	}
	return n, nil
}

// Read reads up to len(p) bytes at the file's position and advances it. At
// the end of the file it returns 0, io.EOF.
func (f *File) Read(ctx context.Context, p []byte) (int, error) {
	checkCtx(ctx)
	if err := f.acquire("read"); err != nil {
		return 0, err
	}
	defer f.release()
	if len(p) == 0 {
		return 0, nil
	}
	w := opWait{wait: wait{ctx: ctx}}
	n, err := f.transfer(&w, p, -1, false)
	w.end()
	if err != nil {
		return n, f.wrap("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteAt writes all of p at offset off, or returns an error saying why it
// could not. A file opened with O_APPEND refuses WriteAt, as in the os
// package.
func (f *File) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	checkCtx(ctx)
	if err := f.acquire("write"); err != nil {
		return 0, err
	}
	defer f.release()
	if f.appendMode {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: errWriteAtInAppendMode}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: errors.New("negative offset")}
	}
	return f.write(ctx, p, off)
}

// errWriteAtInAppendMode is the os package's error for the same misuse:
// pwrite(2) on an O_APPEND file appends on Linux, whatever the offset.
var errWriteAtInAppendMode = errors.New("invalid use of WriteAt on file opened with O_APPEND")

// Write writes all of p at the file's position (at its end, for O_APPEND)
// and advances it, or returns an error saying why it could not.
func (f *File) Write(ctx context.Context, p []byte) (int, error) {
	checkCtx(ctx)
	if err := f.acquire("write"); err != nil {
		return 0, err
	}
	defer f.release()
	return f.write(ctx, p, -1)
}

// write writes all of p at off (the file position if off < 0).
func (f *File) write(ctx context.Context, p []byte, off int64) (n int, err error) {
	w := opWait{wait: wait{ctx: ctx}}
	defer w.end()
	for len(p) > 0 {
		m, err := f.transfer(&w, p, off, true)
		if err != nil {
			return n, f.wrap("write", err)
		}
		if m == 0 {
			return n, f.wrap("write", io.ErrShortWrite)
		}
		n += m
		p = p[m:]
		if off >= 0 {
			off += int64(m)
		}
	}
	return n, nil
}

// Sync commits the file's contents to stable storage (fsync(2)).
func (f *File) Sync(ctx context.Context) error {
	checkCtx(ctx)
	if err := f.acquire("sync"); err != nil {
		return err
	}
	defer f.release()
	wt := beginWait(ctx, waitSync, &f.name)
	err := f.d.Fsync(ctx, f.fd, false)
	wt.end()
	return f.wrap("sync", err)
}

// Stat returns the file's fs.FileInfo.
func (f *File) Stat(ctx context.Context) (fs.FileInfo, error) {
	checkCtx(ctx)
	if err := f.acquire("stat"); err != nil {
		return nil, err
	}
	defer f.release()
	wt := beginWait(ctx, waitStat, &f.name)
	st, err := f.d.Stat(ctx, f.fd)
	wt.end()
	if err != nil {
		return nil, f.wrap("stat", err)
	}
	return newFileInfo(f.name, &st), nil
}

// Close cancels the file's operations in flight, waits for them to return
// (they fail with fs.ErrClosed, or return their real result if they
// completed anyway), and closes the descriptor. Operations started after
// Close fail with fs.ErrClosed; a second Close returns an error wrapping
// fs.ErrClosed.
func (f *File) Close() error {
	if f == nil {
		return &fs.PathError{Op: "close", Path: "", Err: fs.ErrInvalid}
	}
	if !f.refs.close(func() { f.d.CancelFD(f.fd) }) {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	if err := f.d.Close(f.fd); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// ReaderAt returns an io.ReaderAt whose reads use ctx.
func (f *File) ReaderAt(ctx context.Context) io.ReaderAt { return f.bind(ctx) }

// WriterAt returns an io.WriterAt whose writes use ctx.
func (f *File) WriterAt(ctx context.Context) io.WriterAt { return f.bind(ctx) }

// Reader returns an io.Reader that reads from the file's position with ctx.
func (f *File) Reader(ctx context.Context) io.Reader { return f.bind(ctx) }

// Writer returns an io.Writer that writes at the file's position with ctx.
func (f *File) Writer(ctx context.Context) io.Writer { return f.bind(ctx) }

// bind returns f with ctx, refusing a nil ctx now rather than at the
// first call.
func (f *File) bind(ctx context.Context) boundFile {
	checkCtx(ctx)
	return boundFile{ctx, f}
}

// boundFile is a File with a context, for the io interfaces.
type boundFile struct {
	ctx context.Context
	f   *File
}

func (b boundFile) ReadAt(p []byte, off int64) (int, error)  { return b.f.ReadAt(b.ctx, p, off) }
func (b boundFile) WriteAt(p []byte, off int64) (int, error) { return b.f.WriteAt(b.ctx, p, off) }
func (b boundFile) Read(p []byte) (int, error)               { return b.f.Read(b.ctx, p) }
func (b boundFile) Write(p []byte) (int, error)              { return b.f.Write(b.ctx, p) }

// fileInfo is the fs.FileInfo of a File, built from stat(2)'s fields the
// way the os package builds its own.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
	sys     unix.Stat_t
}

func newFileInfo(name string, st *unix.Stat_t) *fileInfo {
	fi := &fileInfo{
		name:    basename(name),
		size:    st.Size,
		modTime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		sys:     *st,
		mode:    fs.FileMode(st.Mode & 0o777),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		fi.mode |= fs.ModeDevice
	case unix.S_IFCHR:
		fi.mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		fi.mode |= fs.ModeDir
	case unix.S_IFIFO:
		fi.mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		fi.mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		fi.mode |= fs.ModeSocket
	}
	if st.Mode&unix.S_ISGID != 0 {
		fi.mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISUID != 0 {
		fi.mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		fi.mode |= fs.ModeSticky
	}
	return fi
}

func basename(name string) string {
	i := len(name) - 1
	for i > 0 && name[i] == '/' {
		name = name[:i]
		i--
	}
	for i--; i >= 0; i-- {
		if name[i] == '/' {
			name = name[i+1:]
			break
		}
	}
	return name
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.modTime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return statSys(&fi.sys) }
