package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"syscall"
	"testing"
	"time"
)

// sameErr fails the test unless ours is the error the os package gives.
func sameErr(t *testing.T, what string, ours, theirs error) {
	t.Helper()
	if !reflect.DeepEqual(ours, theirs) {
		t.Errorf("%s: got %#v (%v), os gives %#v (%v)", what, ours, ours, theirs, theirs)
	}
}

func TestPathOpsErrorsAsOS(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		dir := t.TempDir()
		must(t, os.Mkdir(dir+"/d", 0o755))
		must(t, os.WriteFile(dir+"/d/f", []byte("x"), 0o644))
		must(t, os.WriteFile(dir+"/file", []byte("y"), 0o644))
		mode := func(name string) (fs.FileMode, error) {
			fi, err := Lstat(ctx, name)
			if err != nil {
				return 0, err
			}
			return fi.Mode(), nil
		}
		for _, c := range []struct {
			what         string
			ours, theirs func() error
		}{
			{"Mkdir existing", func() error { return Mkdir(ctx, dir+"/d", 0o755) }, func() error { return os.Mkdir(dir+"/d", 0o755) }},
			{"Mkdir no parent", func() error { return Mkdir(ctx, dir+"/no/x", 0o755) }, func() error { return os.Mkdir(dir+"/no/x", 0o755) }},
			{"Mkdir empty", func() error { return Mkdir(ctx, "", 0o755) }, func() error { return os.Mkdir("", 0o755) }},
			{"MkdirAll through a file", func() error { return MkdirAll(ctx, dir+"/file/a/b", 0o755) }, func() error { return os.MkdirAll(dir+"/file/a/b", 0o755) }},
			{"MkdirAll of a file", func() error { return MkdirAll(ctx, dir+"/file", 0o755) }, func() error { return os.MkdirAll(dir+"/file", 0o755) }},
			{"MkdirAll existing", func() error { return MkdirAll(ctx, dir+"/d/", 0o755) }, func() error { return os.MkdirAll(dir+"/d/", 0o755) }},
			{"Remove missing", func() error { return Remove(ctx, dir+"/missing") }, func() error { return os.Remove(dir + "/missing") }},
			{"Remove non-empty", func() error { return Remove(ctx, dir+"/d") }, func() error { return os.Remove(dir + "/d") }},
			{"Remove through a file", func() error { return Remove(ctx, dir+"/file/x") }, func() error { return os.Remove(dir + "/file/x") }},
			{"Rename missing", func() error { return Rename(ctx, dir+"/missing", dir+"/z") }, func() error { return os.Rename(dir+"/missing", dir+"/z") }},
			{"Rename onto a dir", func() error { return Rename(ctx, dir+"/file", dir+"/d") }, func() error { return os.Rename(dir+"/file", dir+"/d") }},
			{"Rename into missing dir", func() error { return Rename(ctx, dir+"/file", dir+"/no/z") }, func() error { return os.Rename(dir+"/file", dir+"/no/z") }},
			{"Stat missing", func() error { _, err := Stat(ctx, dir+"/missing"); return err }, func() error { _, err := os.Stat(dir + "/missing"); return err }},
			{"Stat through a file", func() error { _, err := Stat(ctx, dir+"/file/x"); return err }, func() error { _, err := os.Stat(dir + "/file/x"); return err }},
			{"Lstat missing", func() error { _, err := Lstat(ctx, dir+"/missing"); return err }, func() error { _, err := os.Lstat(dir + "/missing"); return err }},
			{"Stat NUL", func() error { _, err := Stat(ctx, "a\x00b"); return err }, func() error { _, err := os.Stat("a\x00b"); return err }},
			{"ReadDir missing", func() error { _, err := ReadDir(ctx, dir+"/missing"); return err }, func() error { _, err := os.ReadDir(dir + "/missing"); return err }},
			{"ReadDir of a file", func() error { _, err := ReadDir(ctx, dir+"/file"); return err }, func() error { _, err := os.ReadDir(dir + "/file"); return err }},
			{"ReadFile missing", func() error { _, err := ReadFile(ctx, dir+"/missing"); return err }, func() error { _, err := os.ReadFile(dir + "/missing"); return err }},
			{"ReadFile of a dir", func() error { _, err := ReadFile(ctx, dir+"/d"); return err }, func() error { _, err := os.ReadFile(dir + "/d"); return err }},
			{"WriteFile no parent", func() error { return WriteFile(ctx, dir+"/no/f", nil, 0o644) }, func() error { return os.WriteFile(dir+"/no/f", nil, 0o644) }},
		} {
			sameErr(t, c.what, c.ours(), c.theirs())
		}
		if err := Remove(ctx, dir+"/d"); !errors.Is(err, syscall.ENOTEMPTY) {
			t.Errorf("Remove(non-empty) = %v, want ENOTEMPTY", err)
		}
		if err := Mkdir(ctx, dir+"/d", 0o755); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Mkdir(existing) = %v, want fs.ErrExist", err)
		}
		if _, err := Stat(ctx, dir+"/missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(missing) = %v, want fs.ErrNotExist", err)
		}
		var le *os.LinkError
		if err := Rename(ctx, dir+"/missing", dir+"/z"); !errors.As(err, &le) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Rename(missing) = %#v, want an *os.LinkError wrapping fs.ErrNotExist", err)
		}
		if m, err := mode(dir + "/d"); err != nil || !m.IsDir() {
			t.Errorf("d: %v, %v", m, err)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPathOpsRoundTrip(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		dir := t.TempDir()
		must(t, MkdirAll(ctx, dir+"/a/b/c", 0o750))
		must(t, MkdirAll(ctx, dir+"/a/b/c", 0o750)) // exists: nil
		must(t, Mkdir(ctx, dir+"/a/m", 0o700))
		data := bytes.Repeat([]byte("abcdefgh"), 100_000) // 800 KB
		must(t, WriteFile(ctx, dir+"/a/b/c/f", data, 0o640))
		got, err := ReadFile(ctx, dir+"/a/b/c/f")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFile = %d bytes, %v", len(got), err)
		}
		must(t, WriteFile(ctx, dir+"/a/b/c/f", []byte("short"), 0o640)) // truncates
		if got, err := ReadFile(ctx, dir+"/a/b/c/f"); err != nil || string(got) != "short" {
			t.Fatalf("ReadFile after rewrite = %q, %v", got, err)
		}
		if got, err := ReadFile(ctx, dir+"/a/m/../b/c/f"); err != nil || string(got) != "short" {
			t.Fatalf("ReadFile through .. = %q, %v", got, err)
		}
		// A file that claims size 0 but has data, as in /proc.
		proc, err := ReadFile(ctx, "/proc/self/status")
		if err != nil || !bytes.HasPrefix(proc, []byte("Name:")) {
			t.Fatalf("ReadFile(/proc/self/status) = %.20q, %v", proc, err)
		}
		if got, err := ReadFile(ctx, dir+"/empty-missing"); got != nil || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadFile(missing) = %q, %v", got, err)
		}

		for _, name := range []string{dir + "/a/b/c/f", dir + "/a/b", dir + "/a/m"} {
			ours, err := Stat(ctx, name)
			must(t, err)
			theirs, err := os.Stat(name)
			must(t, err)
			if ours.Name() != theirs.Name() || ours.Size() != theirs.Size() || ours.Mode() != theirs.Mode() ||
				!ours.ModTime().Equal(theirs.ModTime()) || ours.IsDir() != theirs.IsDir() || ours.Sys().(*syscall.Stat_t).Ino != theirs.Sys().(*syscall.Stat_t).Ino {
				t.Errorf("Stat(%s) = %v %d %v %v; os: %v %d %v %v", name, ours.Name(), ours.Size(), ours.Mode(), ours.ModTime(),
					theirs.Name(), theirs.Size(), theirs.Mode(), theirs.ModTime())
			}
		}
		must(t, os.Symlink("b", dir+"/a/link"))
		if fi, err := Lstat(ctx, dir+"/a/link"); err != nil || fi.Mode()&fs.ModeSymlink == 0 || fi.Name() != "link" {
			t.Fatalf("Lstat(link) = %v, %v", fi, err)
		}
		if fi, err := Stat(ctx, dir+"/a/link"); err != nil || !fi.IsDir() {
			t.Fatalf("Stat(link) = %v, %v", fi, err)
		}

		for _, n := range []string{"z", "b0", "a", "m1"} {
			must(t, WriteFile(ctx, dir+"/a/b/"+n, nil, 0o600))
		}
		ents, err := ReadDir(ctx, dir+"/a/b")
		must(t, err)
		var names []string
		for _, de := range ents {
			names = append(names, de.Name())
		}
		if want := []string{"a", "b0", "c", "m1", "z"}; !slices.Equal(names, want) || !ents[2].IsDir() {
			t.Fatalf("ReadDir = %v, want %v sorted", names, want)
		}

		must(t, Rename(ctx, dir+"/a/b/z", dir+"/a/m/z2"))
		must(t, Rename(ctx, dir+"/a/m/z2", dir+"/a/b/a")) // replaces a file
		must(t, Rename(ctx, dir+"/a/m", dir+"/a/n"))      // a directory
		if _, err := os.Stat(dir + "/a/n"); err != nil {
			t.Fatal(err)
		}
		must(t, Remove(ctx, dir+"/a/b/a"))
		must(t, Remove(ctx, dir+"/a/n")) // an empty directory
		for _, gone := range []string{dir + "/a/b/a", dir + "/a/n", dir + "/a/b/z"} {
			if _, err := os.Lstat(gone); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s still there: %v", gone, err)
			}
		}
	})
}

func TestPathOpsContext(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(e.Context())
		cancel()
		ops := map[string]func() error{
			"Mkdir":     func() error { return Mkdir(ctx, dir+"/x", 0o755) },
			"MkdirAll":  func() error { return MkdirAll(ctx, dir+"/y/z", 0o755) },
			"WriteFile": func() error { return WriteFile(ctx, dir+"/w", []byte("w"), 0o644) },
			"Remove":    func() error { return Remove(ctx, dir) },
			"Rename":    func() error { return Rename(ctx, dir, dir+"2") },
			"Stat":      func() error { _, err := Stat(ctx, dir); return err },
			"Lstat":     func() error { _, err := Lstat(ctx, dir); return err },
			"ReadDir":   func() error { _, err := ReadDir(ctx, dir); return err },
			"ReadFile":  func() error { _, err := ReadFile(ctx, "/proc/self/status"); return err },
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
			}
		}
		// Nothing was done.
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("cancelled operations left %d entries", len(ents))
		}
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("cancelled Remove or Rename acted: %v", err)
		}
	})
}

// TestReadFileFIFOReleasesWorker reads a FIFO, whose open waits for a
// writer, on a one-worker executor whose only other task is that writer:
// it finishes only if ReadFile gives the worker up while it waits (and
// does not take the FIFO for a regular file it can open without a wait).
func TestReadFileFIFOReleasesWorker(t *testing.T) {
	onBackends(t, 1, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		fifo := filepath.Join(t.TempDir(), "fifo")
		must(t, syscall.Mkfifo(fifo, 0o600))
		reader := Spawn(ctx, func(ctx context.Context) ([]byte, error) { return ReadFile(ctx, fifo) })
		writer := Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			Sleep(ctx, 10*time.Millisecond) // let the reader start waiting
			return struct{}{}, WriteFile(ctx, fifo, []byte("through the fifo"), 0)
		})
		if _, err := writer.Join(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := reader.Join(ctx)
		if err != nil || string(got) != "through the fifo" {
			t.Fatalf("ReadFile(fifo) = %q, %v", got, err)
		}
	})
}

func TestFileTruncateAllocateSeek(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		name := filepath.Join(t.TempDir(), "f")
		f, err := Create(ctx, name)
		must(t, err)
		if _, err := f.Write(ctx, []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		// Seek moves the position Read and Write use.
		if pos, err := f.Seek(2, io.SeekStart); pos != 2 || err != nil {
			t.Fatalf("Seek(2, start) = %d, %v", pos, err)
		}
		buf := make([]byte, 3)
		if n, err := f.Read(ctx, buf); n != 3 || err != nil || string(buf) != "234" {
			t.Fatalf("Read after Seek = %q, %v", buf[:n], err)
		}
		if pos, err := f.Seek(0, io.SeekCurrent); pos != 5 || err != nil {
			t.Fatalf("Seek(0, current) = %d, %v", pos, err)
		}
		if pos, err := f.Seek(-1, io.SeekEnd); pos != 9 || err != nil {
			t.Fatalf("Seek(-1, end) = %d, %v", pos, err)
		}
		if _, err := f.Write(ctx, []byte("XY")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(-1, io.SeekStart); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Seek(-1, start) = %v, want EINVAL", err)
		}
		var pe *fs.PathError
		if _, err := f.Seek(0, 7); !errors.As(err, &pe) || pe.Op != "seek" {
			t.Fatalf("Seek(whence 7) = %v, want a *fs.PathError", err)
		}

		must(t, f.Truncate(ctx, 4))
		if got, _ := os.ReadFile(name); string(got) != "0123" {
			t.Fatalf("after Truncate(4): %q", got)
		}
		must(t, f.Truncate(ctx, 6)) // grows with zeros
		if got, _ := os.ReadFile(name); string(got) != "0123\x00\x00" {
			t.Fatalf("after Truncate(6): %q", got)
		}
		if err := f.Truncate(ctx, -1); !errors.As(err, &pe) || !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Truncate(-1) = %v, want a *fs.PathError wrapping EINVAL", err)
		}

		switch err := f.Allocate(ctx, 0, 1<<20); {
		case errors.Is(err, syscall.EOPNOTSUPP):
			t.Logf("the file system cannot preallocate: %v", err)
		case err != nil:
			t.Fatal(err)
		default:
			fi, err := f.Stat(ctx)
			must(t, err)
			st := fi.Sys().(*syscall.Stat_t) // as os.FileInfo's
			if fi.Size() != 1<<20 || st.Blocks*512 < 1<<20 {
				t.Fatalf("after Allocate: size %d, %d blocks", fi.Size(), st.Blocks)
			}
		}
		if err := f.Allocate(ctx, 0, 0); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("Allocate(n=0) = %v, want EINVAL", err)
		}

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := f.Truncate(cctx, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Truncate with a cancelled context = %v", err)
		}
		must(t, f.Close())
		for what, err := range map[string]error{
			"Truncate": f.Truncate(ctx, 0),
			"Allocate": f.Allocate(ctx, 0, 1),
			"Seek":     func() error { _, err := f.Seek(0, 0); return err }(),
		} {
			if !errors.Is(err, fs.ErrClosed) {
				t.Errorf("%s after Close = %v, want fs.ErrClosed", what, err)
			}
		}
	})
}

// TestIOStatsThreadCPU: the completion thread's CPU time grows as it serves
// path operations through the ring, and the portable backend, which has
// no such thread, reports none.
func TestIOStatsThreadCPU(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		dir := t.TempDir()
		before := e.IOStats()
		for i := range 200 {
			name := fmt.Sprintf("%s/d%d", dir, i)
			must(t, Mkdir(ctx, name, 0o700))
			must(t, Remove(ctx, name))
		}
		after := e.IOStats()
		ring := after.Completed - after.Inline - (before.Completed - before.Inline)
		switch e.Backend() {
		case BackendUring:
			if ring < 400 || after.ThreadCPU <= before.ThreadCPU {
				t.Errorf("%d operations through the ring; ThreadCPU %v → %v", ring, before.ThreadCPU, after.ThreadCPU)
			}
		default:
			if after.ThreadCPU != 0 {
				t.Errorf("portable ThreadCPU = %v", after.ThreadCPU)
			}
		}
	})
}
