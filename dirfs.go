package executor

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// DirFS returns a file system (an fs.FS) for the tree of files rooted at
// dir, like os.DirFS, whose I/O runs on the executor in ctx (or the
// default executor) and, when ctx is a task's, gives the task's worker up
// while it waits. It implements fs.StatFS, fs.ReadFileFS and
// fs.ReadDirFS; its files implement io.ReaderAt and io.Seeker, and
// directories fs.ReadDirFile, so http.FileServerFS serves ranges and
// directory listings from it.
//
// Names are refused, with an error wrapping fs.ErrInvalid, unless
// fs.ValidPath accepts them: no ".." element, no leading slash, so no
// name leads out of dir that way. As with os.DirFS, symbolic links inside
// dir are followed wherever they point.
//
// The methods of fs.FS take no context: ctx is used for all of them, and
// cancelling it makes them fail.
func DirFS(ctx context.Context, dir string) fs.FS {
	checkCtx(ctx)
	return dirFS{ctx, dir}
}

type dirFS struct {
	ctx context.Context
	dir string
}

var (
	_ fs.StatFS     = dirFS{}
	_ fs.ReadFileFS = dirFS{}
	_ fs.ReadDirFS  = dirFS{}
)

// join returns the path of name in the tree, or an error for a path
// error of op.
func (d dirFS) join(op, name string) (string, error) {
	if d.dir == "" {
		return "", &fs.PathError{Op: op, Path: name, Err: errors.New("executor: DirFS with empty root")}
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return d.dir, nil
	}
	if d.dir[len(d.dir)-1] == '/' {
		return d.dir + name, nil
	}
	return d.dir + "/" + name, nil
}

// rename makes err, an error about the full path, name the path in the
// tree, as os.DirFS does.
func rename(err error, name string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = name
	}
	return err
}

// Open opens the named file for reading.
func (d dirFS) Open(name string) (fs.File, error) {
	full, err := d.join("open", name)
	if err != nil {
		return nil, err
	}
	f, err := OpenFile(d.ctx, full, os.O_RDONLY, 0)
	if err != nil {
		return nil, rename(err, name)
	}
	return &fsFile{ctx: d.ctx, f: f, name: name}, nil
}

// ReadFile reads the named file, like ReadFile.
func (d dirFS) ReadFile(name string) ([]byte, error) {
	full, err := d.join("readfile", name)
	if err != nil {
		return nil, err
	}
	b, err := ReadFile(d.ctx, full)
	return b, rename(err, name)
}

// ReadDir reads the named directory, its entries sorted by name.
func (d dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	full, err := d.join("readdir", name)
	if err != nil {
		return nil, err
	}
	ents, err := ReadDir(d.ctx, full)
	return ents, rename(err, name)
}

// Stat returns the named file's fs.FileInfo.
func (d dirFS) Stat(name string) (fs.FileInfo, error) {
	full, err := d.join("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := Stat(d.ctx, full)
	return fi, rename(err, name)
}

// fsFile is a File opened by a dirFS: the io interfaces with the file
// system's context.
type fsFile struct {
	ctx  context.Context
	f    *File
	name string

	dirMu sync.Mutex
	dir   *os.File // reads the directory's entries, made on first ReadDir
}

func (f *fsFile) Stat() (fs.FileInfo, error)                { return f.f.Stat(f.ctx) }
func (f *fsFile) Read(p []byte) (int, error)                { return f.f.Read(f.ctx, p) }
func (f *fsFile) ReadAt(p []byte, off int64) (int, error)   { return f.f.ReadAt(f.ctx, p, off) }
func (f *fsFile) Seek(off int64, whence int) (int64, error) { return f.f.Seek(off, whence) }

// ReadDir reads the directory's next n entries, or all with n <= 0, in
// directory order, as os.File.ReadDir does.
func (f *fsFile) ReadDir(n int) ([]fs.DirEntry, error) {
	f.dirMu.Lock()
	defer f.dirMu.Unlock()
	if f.dir == nil {
		if err := f.f.acquire("readdirent"); err != nil {
			return nil, err
		}
		// A descriptor of its own (sharing the open file's position) for
		// the os package's directory reading: io_uring has no opcode for
		// getdents64(2).
		fd, err := unix.FcntlInt(f.f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		f.f.release()
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: f.name, Err: err}
		}
		f.dir = os.NewFile(uintptr(fd), f.f.Name()) // entries' Info stats by this name
	}
	if err := f.ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "readdirent", Path: f.name, Err: err}
	}
	wt := beginWait(f.ctx, waitPath, &f.name)
	ents, err := f.dir.ReadDir(n)
	wt.end()
	if err != nil && err != io.EOF {
		err = rename(err, f.name)
	}
	return ents, err
}

// Close closes the file.
func (f *fsFile) Close() error {
	f.dirMu.Lock()
	if f.dir != nil {
		f.dir.Close()
	}
	f.dirMu.Unlock()
	return f.f.Close()
}
