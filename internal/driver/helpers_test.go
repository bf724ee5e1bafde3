package driver

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/executor-go/executor/internal/uring"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBenchFile()
		os.Exit(code)
	}))
}

// newTestUring returns a uring driver with cfg, shut down at the end of
// the test, or skips the test where io_uring is refused.
func newTestUring(t testing.TB, cfg config) *uringDriver {
	t.Helper()
	d, err := newUring(cfg)
	if err != nil {
		var se *uring.SetupError
		if errors.As(err, &se) {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return d
}

// eachBackend runs f against the uring backend (with and without the
// RWF_NOWAIT fast path) and the portable backend.
func eachBackend(t *testing.T, f func(t *testing.T, d Driver)) {
	t.Run("uring", func(t *testing.T) { f(t, newTestUring(t, defaultConfig)) })
	t.Run("uring-shared", func(t *testing.T) {
		f(t, newTestUring(t, config{entries: 64, nowait: false}))
	})
	t.Run("uring-single-issuer", func(t *testing.T) {
		f(t, newTestUring(t, config{entries: 64, nowait: false, singleIssuer: true}))
	})
	t.Run("portable", func(t *testing.T) {
		d := newPortable("test")
		t.Cleanup(func() { d.Shutdown() })
		f(t, d)
	})
}

// pipe returns a pipe closed at the end of the test. The read end is
// non-blocking if nonblock is set (the portable backend can only cancel
// waits on non-blocking descriptors).
func pipe(t testing.TB, nonblock bool) (r, w int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	if nonblock {
		if err := unix.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return fds[0], fds[1]
}

// fdCount returns the number of open descriptors of the process.
func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // ReadDir's own descriptor
}

// waitFor waits until cond holds. It is a condition wait, not a timing
// assertion: the deadline only turns a hang into a failure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// tempFile creates a file of size bytes whose byte i is byte(i*7+i/4096).
func tempFile(t testing.TB, size int) (path string, content []byte) {
	t.Helper()
	content = make([]byte, size)
	for i := range content {
		content[i] = byte(i*7 + i/4096)
	}
	path = t.TempDir() + "/data"
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, content
}

// openTemp opens a tempFile of size bytes through d with flags; the
// caller closes fd.
func openTemp(t testing.TB, d Driver, size, flags int) (fd int, content []byte) {
	t.Helper()
	path, content := tempFile(t, size)
	fd, err := d.Open(context.Background(), unix.AT_FDCWD, path, flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd, content
}

func isErrno(err error, e syscall.Errno) bool {
	var got syscall.Errno
	return errors.As(err, &got) && got == e
}
