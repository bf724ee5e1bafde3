package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Driver performs I/O operations on raw file descriptors. Every op method
// blocks the calling goroutine until the operation has completed; it is
// safe to call them from many goroutines at once.
//
// Errors: a failed operation returns the raw syscall.Errno (the caller
// adds the path or op name). If ctx is done before the operation starts,
// it is not started and ctx.Err() is returned. If ctx is done while the
// operation is in flight, the operation is cancelled and the method
// returns ctx.Err() — unless the operation completed anyway, in which
// case its real result is returned (a read that transferred bytes
// reports them). An operation that creates a file descriptor (Open) and
// completes after its cancellation has that descriptor closed and
// returns ctx.Err(). Operations cancelled by CancelFD, Close or Shutdown
// (not by their ctx) return syscall.ECANCELED, or ErrClosed after
// Shutdown.
//
// Buffers: once a method returns, the kernel never touches the buffer it
// was given again.
type Driver interface {
	// Name returns "uring" or "portable".
	Name() string
	// Reason says why this backend was chosen, for example
	// "forced by EXECUTOR_BACKEND=portable" or
	// "io_uring_setup: operation not permitted (EPERM)".
	Reason() string

	// ReadAt reads into p at offset off, or at the file's current
	// position if off < 0 (read(2) semantics). It makes one read, which
	// may be short; 0, nil means end of file. The uring backend tries it
	// inline first, as TryAt does.
	ReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error)
	// WriteAt writes p at offset off, or at the current position if
	// off < 0 (write(2) semantics). It makes one write, which may be
	// short; the caller loops. It is tried inline first like ReadAt.
	WriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error)
	// Inliner is ReadAt and WriteAt in two parts, for a caller that acts
	// between the attempt without a wait and the wait.
	Inliner
	// Fsync flushes fd to stable storage: fdatasync(2) if datasync,
	// fsync(2) otherwise.
	Fsync(ctx context.Context, fd int, datasync bool) error
	// Open is openat(2) with O_CLOEXEC always added. It returns the new
	// descriptor.
	Open(ctx context.Context, dirfd int, path string, flags int, mode uint32) (int, error)
	// Stat returns the status of fd (statx(2) with AT_EMPTY_PATH on
	// uring, fstat(2) on portable).
	Stat(ctx context.Context, fd int) (unix.Stat_t, error)

	// CancelFD cancels every operation in flight on fd and returns when
	// all of them have completed. Operations started concurrently with
	// CancelFD may or may not be cancelled; CancelFD returns once fd has
	// no operation in flight.
	CancelFD(fd int)
	// Close is CancelFD followed by close(2).
	Close(fd int) error

	// RegisterBuffer registers p with the kernel, so that reads and
	// writes of regular files into it stop pinning its pages for each
	// request, until UnregisterBuffer(id); the driver keeps p allocated
	// until then (or Shutdown). The portable backend returns
	// errors.ErrUnsupported.
	RegisterBuffer(p []byte) (id int, err error)
	// UnregisterBuffer undoes RegisterBuffer once the reads and writes
	// into the buffer that are in flight have completed.
	UnregisterBuffer(id int) error

	// Stats returns counters since Open.
	Stats() Stats
	// Shutdown cancels the operations still in flight, waits for them to
	// return, stops the backend's goroutines and releases its resources.
	// Afterwards every method returns ErrClosed. Shutdown is idempotent.
	Shutdown() error
}

// Stats are a driver's counters.
type Stats struct {
	Enters    uint64 // io_uring_enter calls (0 on portable)
	Submitted uint64 // requests the kernel consumed from the SQ, cancels included (0 on portable)
	Completed uint64 // operations completed, inline ones included
	Inline    uint64 // reads and writes completed without the ring (RWF_NOWAIT hits, lone blocking calls; every op on portable)
	Cancelled uint64 // cancellation requests made (ctx, CancelFD, Shutdown)
	InFlight  uint64 // operations started and not yet completed
	Fixed     uint64 // reads and writes made into registered buffers (READ_FIXED, WRITE_FIXED; 0 on portable)

	// ThreadCPU is the CPU time the ring's completion thread has run since
	// the ring was set up, user and system (0 on portable, and where the
	// thread's clock cannot be read). It alone submits the ring's
	// requests and delivers their completions, so its time per ring
	// operation bounds what one ring can carry.
	ThreadCPU time.Duration
}

// ErrClosed is returned by a Driver's methods after Shutdown.
var ErrClosed = errors.New("driver: shut down")

// EnvBackend is the environment variable that Open consults when called
// with kind "": "uring" or "portable" force that backend.
const EnvBackend = "EXECUTOR_BACKEND"

// Open returns a driver of the given kind:
//
//   - "uring": io_uring, or an error saying why it is unavailable;
//   - "portable": blocking system calls on the calling goroutine;
//   - "": the backend named by $EXECUTOR_BACKEND if set, otherwise
//     io_uring if the kernel allows it and supports every opcode the
//     driver needs, otherwise portable, with Reason saying why.
//
// Called from a testing/synctest bubble, Open chooses portable for "" (and
// for $EXECUTOR_BACKEND=uring) and refuses "uring": see InBubble.
//
// Only a refusal chooses portable for kind "": io_uring_setup failing
// with ENOSYS or EPERM (kernel.io_uring_disabled, seccomp), an opcode or
// feature missing. A shortage (see Transient) is returned as the error,
// whatever the kind: it may pass, and the caller's next Open tries
// io_uring again.
func Open(kind string) (Driver, error) {
	forced := ""
	if kind == "" {
		if env := os.Getenv(EnvBackend); env != "" {
			kind = env
			forced = "forced by " + EnvBackend + "=" + env
		}
	}
	if kind != "portable" && InBubble() {
		// Only the portable backend can serve a synctest bubble (see
		// InBubble). The default, and an environment that asks for
		// io_uring for the whole test run, take it; an explicit request
		// for io_uring is refused rather than left to hang the bubble.
		switch {
		case kind == "uring" && forced == "":
			return nil, errors.New("driver: io_uring cannot run " + bubbleReason + "; use the portable backend")
		case kind == "" || kind == "uring":
			reason := bubbleReason
			if forced != "" {
				reason += " (" + EnvBackend + "=" + kind + " set aside)"
			}
			return newPortable(reason), nil
		}
	}
	switch kind {
	case "":
		d, err := newUring(defaultConfig)
		if err == nil {
			d.reason = "io_uring available"
			return d, nil
		}
		if Transient(err) {
			return nil, err
		}
		return newPortable(err.Error()), nil
	case "uring":
		d, err := newUring(defaultConfig)
		if err != nil {
			return nil, err
		}
		d.reason = "requested"
		if forced != "" {
			d.reason = forced
		}
		return d, nil
	case "portable":
		if forced != "" {
			return newPortable(forced), nil
		}
		return newPortable("requested"), nil
	}
	if forced != "" {
		return nil, fmt.Errorf("driver: unknown backend %q in $%s", kind, EnvBackend)
	}
	return nil, fmt.Errorf("driver: unknown backend %q (want \"\", \"uring\" or \"portable\")", kind)
}

// Transient reports whether err, from Open, is a shortage rather than a
// refusal: the process or the system ran out of descriptors (EMFILE,
// ENFILE) or of memory it may lock or map (ENOMEM, EAGAIN; before Linux
// 5.12 rings count against RLIMIT_MEMLOCK). Such a failure is an error
// for the call that met it, never a reason to give up on io_uring.
func Transient(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EAGAIN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// maxRW caps one read or write, like the os package does, so that the
// length fits the kernel's 32-bit fields and partial transfers stay
// reasonable.
const maxRW = 1 << 30

// clampRW returns p cut to maxRW bytes.
func clampRW(p []byte) []byte {
	if len(p) > maxRW {
		return p[:maxRW]
	}
	return p
}

// checkFD rejects descriptors no system call would accept, before any
// work is queued.
func checkFD(fd int) error {
	if fd < 0 || fd > 1<<31-1 {
		return unix.EBADF
	}
	return nil
}

// statxToStat converts the result of statx(2) to the unix.Stat_t that
// fstat(2) fills in, so that both backends return the same type. The
// field types of Stat_t differ between architectures, hence set.
func statxToStat(sx *unix.Statx_t) unix.Stat_t {
	var st unix.Stat_t
	set(&st.Dev, unix.Mkdev(sx.Dev_major, sx.Dev_minor))
	set(&st.Ino, sx.Ino)
	set(&st.Nlink, uint64(sx.Nlink))
	set(&st.Mode, uint64(sx.Mode))
	set(&st.Uid, uint64(sx.Uid))
	set(&st.Gid, uint64(sx.Gid))
	set(&st.Rdev, unix.Mkdev(sx.Rdev_major, sx.Rdev_minor))
	set(&st.Size, sx.Size)
	set(&st.Blksize, uint64(sx.Blksize))
	set(&st.Blocks, sx.Blocks)
	for _, t := range []struct {
		dst *unix.Timespec
		src unix.StatxTimestamp
	}{{&st.Atim, sx.Atime}, {&st.Mtim, sx.Mtime}, {&st.Ctim, sx.Ctime}} {
		set(&t.dst.Sec, uint64(t.src.Sec))
		set(&t.dst.Nsec, uint64(t.src.Nsec))
	}
	return st
}

func set[T ~int32 | ~int64 | ~uint32 | ~uint64](dst *T, v uint64) { *dst = T(v) }

// yieldEvery is how many blocking system calls a pacer lets through
// between two yields of the calling goroutine.
const yieldEvery = 32

// pacer yields the calling goroutine (runtime.Gosched) once every
// yieldEvery blocking system calls made through it. A goroutine that makes
// back-to-back blocking calls (lone O_DIRECT reads, say) returns from each
// to the same P and so is never descheduled; once it has run for 10 ms on
// the same scheduling tick, the runtime's sysmon takes the P away from
// each later call in the kernel and hands it to another thread, which
// finds nothing to do and sleeps again: a futex wake-up and a futex sleep
// per call. Measured on Go 1.26 with one goroutine reading a virtio disk
// with O_DIRECT: 11.5k reads/s at 52 µs of CPU each, against 12.9k at
// 39 µs with a Gosched every 64 reads, which is what fio gets (13.1k at
// 40 µs, psync engine). A yield every 32 calls keeps the gap between two
// well under 10 ms for devices up to about 300 µs a read, and costs a
// fraction of a microsecond per 32 system calls.
type pacer struct{ n atomic.Uint32 }

// pace counts one blocking system call about to be made.
func (p *pacer) pace() {
	if p.n.Add(1)%yieldEvery == 0 {
		yield()
	}
}

// yield is runtime.Gosched; tests count its calls.
var yield = runtime.Gosched
