// Package driver performs the executor's I/O operations on raw file
// descriptors through one small interface, Driver, with two backends:
//
//   - uring: Linux io_uring (package internal/uring), one ring per
//     driver, batched submission, one completion thread;
//   - portable: plain blocking system calls on the calling goroutine,
//     used where io_uring is refused or lacks an opcode, or when forced
//     with EXECUTOR_BACKEND=portable.
//
// The driver knows nothing of the task scheduler: every op method blocks
// its calling goroutine until the op completes. The caller (the root
// package) releases the task's worker permit around the call.
//
// # The uring backend
//
// An op takes a record from a slab (index + generation, encoded in the
// SQE's user_data; no Go pointer goes to the kernel as user_data), pins
// its buffer (runtime.Pinner) and keeps every other piece of memory the
// SQE points at (path, statx buffer) in the record, queues the SQE and
// waits on the record's channel. The number of records bounds the
// requests in flight so that their CQEs always fit the CQ (4× the SQ;
// each op record and each cancel record has at most one CQE due); SQEs
// that do not fit the SQ wait in a backlog and are never dropped.
//
// Cancellation (ctx done) queues IORING_OP_ASYNC_CANCEL for the op's
// user_data and then waits for the op's own CQE: the buffer is released
// only when the kernel is done with it, and an op that completed anyway
// returns its real result (an open that did so has its descriptor closed
// and returns ctx's error). CancelFD uses IORING_ASYNC_CANCEL_FD|ALL and
// waits until no op on the descriptor is in flight; Close is CancelFD
// followed by a plain close(2) (after CancelFD the ring holds no
// reference that IORING_OP_CLOSE would have to order against, and the
// system call is cheaper than a ring round trip).
//
// Submission design, chosen by measurement (below): the completion
// thread is the ring's only submitter (IORING_SETUP_SINGLE_ISSUER |
// DEFER_TASKRUN), so all completion work runs in its io_uring_enter and
// never interrupts other threads. Op goroutines append SQEs to a backlog
// under a mutex and, only if the completion thread sleeps in the kernel,
// wake it by writing an eventfd on which a read request is always
// armed. Each enter submits the whole backlog and waits for completions.
// Two fast paths avoid the ring where it cannot help:
//
//   - reads and writes are first tried inline with preadv2/pwritev2 and
//     RWF_NOWAIT (page-cache hits, ready pipes), except on O_DIRECT
//     descriptors, where RWF_NOWAIT performs the device I/O synchronously;
//   - a read or write of a regular file while no other op is in flight
//     runs as a plain blocking system call: a lone op gains nothing from
//     the ring and would pay two thread wake-ups.
//
// The alternative kept for comparison (config.singleIssuer = false) lets
// submitting goroutines call io_uring_enter themselves, one at a time,
// each carrying everything queued while the previous one was in the
// kernel (flat combining).
//
// # Measurements
//
// 4 KiB random reads of a 1 GiB file, 2 vCPU VM with a virtio disk,
// Linux 6.18, Go 1.26, all rows of one table from one run (load from
// other work on the machine makes absolute figures drift ±20%):
//
//	go test -run '^$' -bench BenchmarkRandRead -benchtime 2s ./internal/driver/
//
// O_DIRECT (ops/s; CPU µs per op; io_uring_enter calls per op):
//
//	goroutines              1                   32                   128
//	os.File.ReadAt       13.6k 39.3  -      35.5k 21.0  -       32.9k 21.0  -
//	portable             16.1k 30.0  -      36.4k 19.9  -       39.9k 18.1  -
//	uring shared          8.4k 65.3 2.00    53.7k 10.5 0.73     75.7k  6.9 0.46
//	uring single          7.7k 71.3 2.00    52.5k  8.2 0.14     68.4k  5.5 0.16
//	uring default        12.3k 39.9  0      49.7k  7.5 0.14     65.0k  7.1 0.13
//
// Page cache:
//
//	goroutines              1                   32                   128
//	os.File.ReadAt        521k  1.6  -       396k  1.7  -        660k  1.5  -
//	portable              265k  1.9  -       467k  1.5  -        485k  1.8  -
//	uring shared           64k 10.0 2.00     152k  6.7 1.55      145k  6.1 1.05
//	uring single           22k 27.3 2.00     190k  4.0 0.07      357k  2.7 0.02
//	uring single+nowait   377k  1.8  0       570k  1.7  0        530k  1.9  0
//	uring default         294k  1.7  0       652k  1.6  0        504k  2.0  0
//
// "default" is single issuer + RWF_NOWAIT + lone blocking call. Reference
// figures on the same machine: fio io_uring O_DIRECT qd128 ≈ 104k IOPS,
// qd32 ≈ 97k; fio io_uring page cache qd32 ≈ 503k.
//
// Reading the table: through the ring, O_DIRECT throughput is 1.4× to 2×
// os.File's at 32 and 128 goroutines for a third of the CPU per op; the
// single-issuer design needs 5× fewer io_uring_enter calls and less CPU
// than shared submission at equal throughput, and is 2.5× faster on
// cached data through the ring; with the inline fast paths the page-cache
// case matches os.File. A single goroutine is bound by thread wake-ups
// through the ring, hence the lone-op blocking path. The remaining gap to
// fio at qd128 (~65–75k vs 104k) is the cost of waking one goroutine per
// completion through the Go scheduler.
//
// # The portable backend
//
// Ops are the plain system calls (pread, pwrite, openat, fstat, fsync),
// EINTR retried. A call that blocks in the kernel cannot be interrupted:
// cancellation, CancelFD and Shutdown wait for it, and it returns its
// real result. On a non-blocking descriptor (O_NONBLOCK) an op that
// would block waits in poll(2) together with an eventfd of its own,
// which ctx cancellation, CancelFD and Shutdown signal, so such waits
// end promptly; pipes and sockets should be non-blocking on this
// backend.
package driver
