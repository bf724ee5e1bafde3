package executor

import (
	"context"
	"errors"
	"testing"
)

// TestErrShutdownKeepsErrClosed: the deprecated name is the same value, so
// errors.Is matches a shut-down executor's error with either.
func TestErrShutdownKeepsErrClosed(t *testing.T) {
	e, err := New(Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = Spawn(e.Context(), func(ctx context.Context) (int, error) { return 1, nil }).Join(context.Background())
	if !errors.Is(err, ErrShutdown) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Join of a task spawned after Shutdown = %v; want ErrShutdown and ErrClosed", err)
	}
}

// TestBackendWithoutDriver: an executor shut down before any I/O has no
// backend; Backend says "" and BackendReason says why.
func TestBackendWithoutDriver(t *testing.T) {
	e, err := New(Options{Backend: BackendPortable})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, why := e.Backend(), e.BackendReason(); b != "" || why != ErrShutdown.Error() {
		t.Fatalf("after Shutdown: Backend() = %q, BackendReason() = %q; want \"\", %q", b, why, ErrShutdown)
	}
}

// TestBackendConstants: Options.Backend takes the constants, and Backend
// reports the one in use by the same names.
func TestBackendConstants(t *testing.T) {
	for _, b := range []string{BackendUring, BackendPortable} {
		e := newExecutor(t, Options{Backend: b})
		got := e.Backend()
		if got == "" && b == BackendUring {
			t.Logf("io_uring unavailable here: %s", e.BackendReason())
			continue
		}
		if got != b {
			t.Errorf("Options.Backend %q: Backend() = %q (%s)", b, got, e.BackendReason())
		}
	}
}
