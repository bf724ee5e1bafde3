package driver

import (
	"errors"
	"syscall"
	"testing"

	"github.com/executor-go/executor/internal/uring"
)

// TestShortageIsNotAFallback is the second half of invariant 7 (see the
// package doc): a set-up that fails for want of a resource that may come
// back (descriptors, memory) is an error of that Open, not a reason to
// choose the portable backend, and the next Open sets io_uring up again.
func TestShortageIsNotAFallback(t *testing.T) {
	t.Setenv(EnvBackend, "")
	if d, err := Open("uring"); err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	} else {
		d.Shutdown()
	}
	real := setupRing
	defer func() { setupRing = real }()
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EAGAIN} {
		setupRing = func(uint32, *uring.Params) (*uring.Ring, error) {
			return nil, &uring.SetupError{Op: "io_uring_setup", Err: errno}
		}
		for _, kind := range []string{"", "uring"} {
			d, err := Open(kind)
			if err == nil {
				t.Errorf("setup failed with %v: Open(%q) chose %s (%s); want the error", errno, kind, d.Name(), d.Reason())
				d.Shutdown()
				continue
			}
			if !errors.Is(err, errno) || !Transient(err) {
				t.Errorf("setup failed with %v: Open(%q) = %v (transient %v); want a transient error wrapping it", errno, kind, err, Transient(err))
			}
		}
		setupRing = real
		d, err := Open("")
		if err != nil || d.Name() != "uring" {
			t.Fatalf("after the shortage passed: Open(\"\") = %v, %v; want uring", d, err)
		}
		d.Shutdown()
	}
	for _, errno := range []syscall.Errno{syscall.ENOSYS, syscall.EPERM, syscall.EINVAL} {
		if Transient(&uring.SetupError{Op: "io_uring_setup", Err: errno}) {
			t.Errorf("%v counts as transient; it is a refusal", errno)
		}
	}
	if Transient(errors.New("io_uring lacks IORING_OP_STATX")) {
		t.Error("a missing opcode counts as transient")
	}
}
