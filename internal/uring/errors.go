package uring

import (
	"errors"
	"fmt"
	"syscall"
)

// SetupError reports that the kernel refused io_uring_setup (or mapping
// the rings it returned). Err is the syscall.Errno, so callers can tell
// ENOSYS (no io_uring), EPERM (kernel.io_uring_disabled or a seccomp
// filter) and ENOMEM (RLIMIT_MEMLOCK or memory pressure) apart with
// errors.Is.
type SetupError struct {
	Op  string // "io_uring_setup" or "mmap"
	Err error
}

func (e *SetupError) Error() string {
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		return fmt.Sprintf("%s: %v (%s)", e.Op, e.Err, errnoName(errno))
	}
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the underlying errno.
func (e *SetupError) Unwrap() error { return e.Err }

// errnoName returns the symbolic name of the errnos a setup refusal
// usually carries, so that messages read "operation not permitted (EPERM)".
func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ENOSYS:
		return "ENOSYS"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ENOMEM:
		return "ENOMEM"
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EFAULT:
		return "EFAULT"
	case syscall.EMFILE:
		return "EMFILE"
	case syscall.ENFILE:
		return "ENFILE"
	case syscall.EACCES:
		return "EACCES"
	}
	return fmt.Sprintf("errno %d", int(e))
}
