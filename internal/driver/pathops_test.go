package driver

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// eachFileOpsBackend runs f on every backend, plus a uring driver whose
// kernel lacks every optional opcode, where FileOps must fall back to the
// plain system calls.
func eachFileOpsBackend(t *testing.T, f func(t *testing.T, d Driver, ringOps bool)) {
	eachBackend(t, func(t *testing.T, d Driver) { f(t, d, d.Name() == "uring") })
	t.Run("uring-old-kernel", func(t *testing.T) {
		old := probeRing
		probeRing = func(*uring.Ring) (*uring.Probe, error) {
			ops := make([]uint8, len(requiredOps))
			for i, op := range requiredOps {
				ops[i] = op.op
			}
			return uring.NewProbe(append(ops, uring.OpPollAdd)...), nil
		}
		d := newTestUring(t, defaultConfig)
		probeRing = old
		f(t, d, false)
	})
}

func TestPathOps(t *testing.T) {
	eachFileOpsBackend(t, func(t *testing.T, d Driver, ringOps bool) {
		fo := d.(FileOps)
		ctx := context.Background()
		dir := t.TempDir()
		before := d.Stats()
		if err := fo.Mkdirat(ctx, unix.AT_FDCWD, dir+"/a", 0o750); err != nil {
			t.Fatal(err)
		}
		if err := fo.Mkdirat(ctx, unix.AT_FDCWD, dir+"/a", 0o750); !isErrno(err, syscall.EEXIST) {
			t.Fatalf("second Mkdirat = %v, want EEXIST", err)
		}
		st, err := fo.Statat(ctx, unix.AT_FDCWD, dir+"/a", 0)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Mode&0o777 != 0o750&^uint32(umask()) {
			t.Fatalf("Statat = %o, %v", st.Mode, err)
		}
		if err := os.WriteFile(dir+"/a/f", []byte("hello"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := fo.Unlinkat(ctx, unix.AT_FDCWD, dir+"/a", unix.AT_REMOVEDIR); !isErrno(err, syscall.ENOTEMPTY) {
			t.Fatalf("Unlinkat(non-empty dir) = %v, want ENOTEMPTY", err)
		}
		if err := fo.Renameat(ctx, unix.AT_FDCWD, dir+"/a/f", unix.AT_FDCWD, dir+"/g"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("g", dir+"/link"); err != nil {
			t.Fatal(err)
		}
		if st, err := fo.Statat(ctx, unix.AT_FDCWD, dir+"/link", 0); err != nil || st.Size != 5 {
			t.Fatalf("Statat(link) = size %d, %v", st.Size, err)
		}
		if st, err := fo.Statat(ctx, unix.AT_FDCWD, dir+"/link", unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Fatalf("Statat(link, NOFOLLOW) = %o, %v", st.Mode, err)
		}
		if _, err := fo.Statat(ctx, unix.AT_FDCWD, dir+"/a/f", 0); !isErrno(err, syscall.ENOENT) {
			t.Fatalf("Statat(renamed) = %v, want ENOENT", err)
		}
		if err := fo.Unlinkat(ctx, unix.AT_FDCWD, dir+"/a", unix.AT_REMOVEDIR); err != nil {
			t.Fatal(err)
		}
		if err := fo.Unlinkat(ctx, unix.AT_FDCWD, dir+"/g", 0); err != nil {
			t.Fatal(err)
		}
		if err := fo.Renameat(ctx, unix.AT_FDCWD, dir+"/g", unix.AT_FDCWD, dir+"/h"); !isErrno(err, syscall.ENOENT) {
			t.Fatalf("Renameat(missing) = %v, want ENOENT", err)
		}
		if err := fo.Mkdirat(ctx, unix.AT_FDCWD, "bad\x00name", 0o700); !isErrno(err, syscall.EINVAL) {
			t.Fatalf("Mkdirat(NUL) = %v, want EINVAL", err)
		}
		after := d.Stats()
		if ringOps && after.Submitted-before.Submitted < 10 {
			t.Errorf("uring: %d requests submitted for 11 operations: not on the ring", after.Submitted-before.Submitted)
		}
		if d.Name() == "uring" && !ringOps && after.Inline-before.Inline < 7 {
			t.Errorf("old kernel: %d inline operations, want the 7 mkdir, unlink and rename calls counted", after.Inline-before.Inline)
		}
	})
}

func umask() int {
	m := unix.Umask(0)
	unix.Umask(m)
	return m
}

func TestFdOps(t *testing.T) {
	eachFileOpsBackend(t, func(t *testing.T, d Driver, _ bool) {
		fo := d.(FileOps)
		ctx := context.Background()
		path, content := tempFile(t, 8192)
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		if err := fo.Fallocate(ctx, fd, 0, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
		if st, _ := d.Stat(ctx, fd); st.Size != 1<<20 {
			t.Fatalf("size after Fallocate: %d", st.Size)
		}
		if err := fo.Ftruncate(ctx, fd, 100); err != nil {
			t.Fatal(err)
		}
		if st, _ := d.Stat(ctx, fd); st.Size != 100 {
			t.Fatalf("size after Ftruncate: %d", st.Size)
		}
		if err := fo.Ftruncate(ctx, fd, -1); !isErrno(err, syscall.EINVAL) {
			t.Fatalf("Ftruncate(-1) = %v, want EINVAL", err)
		}
		if err := fo.Fallocate(ctx, fd, 0, 0, 0); !isErrno(err, syscall.EINVAL) {
			t.Fatalf("Fallocate(n=0) = %v, want EINVAL", err)
		}

		// Splice 50 bytes from offset 10 into a pipe, then wait for the
		// pipe to be readable.
		r, w := pipe(t, true)
		n, err := fo.Splice(ctx, fd, 10, w, -1, 50)
		if err != nil || n != 50 {
			t.Fatalf("Splice = %d, %v", n, err)
		}
		if err := fo.PollWait(ctx, r, unix.POLLIN); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if m, _ := unix.Read(r, buf); m != 50 || string(buf[:50]) != string(content[10:60]) {
			t.Fatalf("pipe holds %d bytes %q", m, buf[:m])
		}
		// A pipe with nothing to read: PollWait waits until ctx ends.
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := fo.PollWait(cctx, r, unix.POLLIN); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PollWait(idle pipe) = %v, want DeadlineExceeded", err)
		}
		// Splicing from the empty non-blocking read end: EAGAIN.
		if _, err := fo.Splice(ctx, r, -1, w, -1, 10); err == nil {
			t.Fatal("Splice pipe to itself succeeded")
		}
	})
}
