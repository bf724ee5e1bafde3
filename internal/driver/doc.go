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
// A read or write has two forms. ReadAt and WriteAt make the whole
// transfer. TryAt and WaitAt (Inliner) make the same transfer in two
// parts, for the caller that gives its worker up only if it must wait:
// TryAt makes it only if it needs no wait (preadv2 or pwritev2 with
// RWF_NOWAIT: a page-cache hit costs that one system call, with no
// allocation and no hand-off of the worker), and WaitAt, called when TryAt
// declined, makes it without trying inline a second time.
//
// # Invariants
//
// Every change keeps these, on both backends unless a rule names one; each
// has a test, named in brackets. Tests and comments cite them by number
// ("invariant 3").
//
//  1. Buffer safety: once an op method returns, the kernel never touches
//     its buffer again. An op whose ctx is done is cancelled (uring:
//     IORING_OP_ASYNC_CANCEL) and waited for until it has ended; if it
//     completed anyway, its real result (the bytes read) is
//     returned, not lost. A buffer is pinned (runtime.Pinner) or
//     registered (invariant 9) while in flight, and every other piece of
//     memory an SQE points at (path, statx buffer, sockaddr) stays valid
//     until the kernel has consumed it. [TestBufferSafetyUnderGC, TestBufferOnMovingStack,
//     TestReadCompletedAfterCancel]
//  2. uring: completion records live in a slab indexed by user_data (index and
//     generation); no Go pointer goes to the kernel as user_data, and a
//     CQE naming a record by an old generation is ignored.
//     [TestStaleGeneration,
//     FuzzUserData]
//  3. uring: requests awaiting a CQE never exceed what the CQ can hold; a full
//     SQ queues requests, it never drops one (a cancel included).
//     [TestTinyRing, TestSubmitFaults]
//  4. An op that creates a resource (open, accept) and completes after its
//     cancellation leaves no descriptor that nobody owns: the uring backend
//     closes it and returns ctx's error; the portable backend, whose
//     blocking call was not interrupted, returns it.
//     [TestOpenCompletedAfterCancel, TestAcceptCompletedAfterCancel,
//     TestOpenCancelRace]
//  5. Closing a descriptor first cancels its ops in flight (CancelFD) and
//     returns once none is left; they return an error.
//     [TestCloseCancelsPendingReads, TestCancelFDWithLateOps]
//  6. No goroutine outlives Shutdown: it ends every op in flight and the
//     completion thread, and later ops get ErrClosed. [TestShutdown, with
//     goleak in TestMain]
//  7. io_uring refused, or lacking an opcode the driver needs, selects the
//     portable backend, with the same semantics; Name and Reason say which
//     and why. A transient shortage (EMFILE, ENFILE, ENOMEM, EAGAIN: see
//     Transient) is an error for that Open, never a permanent fallback; the
//     caller's next Open tries io_uring again. [TestFallbackWhenSetupRefused,
//     TestFallbackWhenOpcodeMissing, TestShortageIsNotAFallback, and the
//     executor package's fault suite]
//  8. Limits never turn into hangs: when every op record is in flight, a
//     caller waits only while something in flight can free one (each op
//     holds at most one record and gives it back when it completes).
//     [TestTinyRing] A receive or accept waiting for a peer may hold its
//     record for as long as the connection is idle, so those take records
//     from a table of their own (the CQ room the fixed records leave
//     in the socket ring, about 63,000 by default): idle connections never starve file ops,
//     sends or connects. [TestIdleReceivesLeaveRecords]
//  9. uring: a fixed-buffer slot (RegisterBuffer) is emptied, or given to
//     another buffer, only once no request naming it is queued or in
//     flight, and the registered memory stays allocated while registered:
//     a READ_FIXED never lands in memory other than its caller's buffer.
//     [TestFixedBufferConcurrent, TestFixedBufferReadWrite]
//
// # The uring backend
//
// An op takes a record from a slab (index + generation, encoded in the
// SQE's user_data; no Go pointer goes to the kernel as user_data), pins
// its buffer (runtime.Pinner) and keeps every other piece of memory the
// SQE points at (path, statx buffer) in the record, queues the SQE and
// waits on the record's channel. The number of records bounds the
// requests in flight so that their CQEs always fit the CQ (16× the SQ,
// clamped to the kernel's largest; each op, cancel and waiting record has
// at most one CQE due); SQEs that do not fit the SQ wait in a backlog and
// are never dropped.
//
// Cancellation (ctx done) queues IORING_OP_ASYNC_CANCEL for the op's
// user_data and then waits for the op's own CQE: the buffer is released
// only when the kernel is done with it, and an op that completed anyway
// returns its real result (an open or accept that did so has its
// descriptor closed and returns ctx's error). A cancel answered EALREADY
// (the op was running: a read of a pipe whose wake-up raced with another
// reader, which then waits again) is repeated until the op completes.
// A read, write, receive, send or accept that the kernel fails with
// EAGAIN on a non-blocking descriptor in that same race is resubmitted,
// since its caller asked to wait. CancelFD uses
// IORING_ASYNC_CANCEL_FD|ALL, repeated until no op on the descriptor is
// in flight; Close is CancelFD
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
//     RWF_NOWAIT (page-cache hits, ready pipes; ReadAt, WriteAt and
//     TryAt), except on O_DIRECT descriptors, where RWF_NOWAIT performs
//     the device I/O synchronously;
//   - a read or write of a regular file while no other op is in flight
//     runs as a plain blocking system call: a lone op gains nothing from
//     the ring and would pay two thread wake-ups.
//
// Fixed buffers (fixed.go): memory registered with RegisterBuffer (the
// executor's BufferPool) fills a slot of a sparse table of 64
// (IORING_REGISTER_BUFFERS2). A ring read or write of a regular file whose
// buffer lies inside a registered one becomes READ_FIXED or WRITE_FIXED,
// found by address with no lock, and pins nothing: the kernel pinned the
// pages once, at registration, and the driver holds the memory. On a
// single-issuer ring only the completion thread may register (the kernel
// answers EEXIST to any other), so registration runs there (onIssuer).
//
// The alternative kept for comparison (config.singleIssuer = false) lets
// submitting goroutines call io_uring_enter themselves, one at a time,
// each carrying everything queued while the previous one was in the
// kernel (flat combining).
//
// Ring sockets (Sockets) run on a second ring, the socket ring
// (socket_ring.go), opened by the first ring socket operation and reaped
// differently: no completion thread. A socket's completion is the kernel
// running the receive as task work on the thread that submitted it; a
// locked thread of ours would then need a P back from the Go scheduler
// before waking the op's goroutine, a park and a hand-off of threads per
// request when the P's are busy. So submitters enter the kernel themselves
// (flat combining, as above), and the CQ is drained by whichever comes
// first: the submitter right after its enter (which delivers a receive that
// found data there, with no wake-up at all), or a goroutine that the Go
// runtime's network poller wakes through an eventfd registered with the
// ring, as net's readiness reaches a goroutine. Receives are not tried
// inline first: the enter makes the same attempt. Its waiting records (the
// CQ room its fixed records leave) are those of invariant 8; its SQ is a
// quarter of the file ring's, its CQ as large.
//
// # Measurements
//
// 4 KiB random reads of a 1 GiB file, 2 vCPU VM with a virtio disk,
// Linux 6.18, Go 1.26, all rows from one run (other work on the machine
// makes absolute figures drift by ±20% between runs; ratios within a run
// hold):
//
//	go test -run '^$' -bench BenchmarkRandRead -benchtime 2s ./internal/driver/
//
// O_DIRECT (ops/s; CPU µs per op; io_uring_enter calls per op):
//
//	goroutines              1                    32                   128
//	os.File.ReadAt       10.9k 42.8  -       34.0k 17.0  -        33.3k 21.8  -
//	portable             11.7k 49.8  -       36.8k 15.2  -        28.5k 25.6  -
//	uring shared          7.6k 79.8 2.00     55.2k  9.0 0.77      75.9k 10.3 0.50
//	uring single          6.7k 86.4 2.00     53.2k  7.3 0.13      77.5k  5.7 0.09
//	uring single+nowait   6.7k 84.2 2.00     49.5k  8.8 0.13      83.1k  5.3 0.09
//	uring default        13.5k 38.4  0       54.7k  7.8 0.13      84.8k  5.7 0.09
//
// Page cache:
//
//	goroutines              1                    32                   128
//	os.File.ReadAt        531k  1.9  -       1052k  1.9  -        1018k  1.9  -
//	portable              535k  1.9  -        767k  2.1  -         885k  2.0  -
//	uring shared           44k 19.0 2.00      153k  8.4 1.41       213k  6.3 1.26
//	uring single           20k 30.0 2.00      280k  4.3 0.07       599k  2.5 0.02
//	uring single+nowait   535k  1.9  0        932k  2.1  0        1058k  1.8  0
//	uring default         520k  2.0  0        944k  2.1  0        1094k  1.8  0
//
// "shared": goroutines enter the kernel themselves (flat combining);
// "single": the completion thread is the only submitter; "+nowait": the
// RWF_NOWAIT inline attempt; "default" (what Open returns) adds the lone
// blocking call. Run alone, O_DIRECT with 128 goroutines ends with 17 OS
// threads in the process for os.File and 7 for the default driver. fio is
// not in this benchmark: the comparison with fio, measured in one run by
// cmd/execbench, is in docs/ARCHITECTURE.md ("Performance and scale").
//
// Reading the tables: for O_DIRECT the ring gives 1.6× os.File's
// throughput at 32 goroutines and 2.5× at 128, for a third to a quarter
// of the CPU per op. Single issuer matches shared
// submission's throughput with 6× fewer io_uring_enter calls and half the
// CPU at 128 goroutines, and is 3× faster on cached data through the ring.
// With the inline fast paths, page-cache reads match os.File, and a
// single goroutine (which through the ring is bound by two thread
// wake-ups per op) matches it on O_DIRECT.
//
// # Paths, space, splicing: which operations run where
//
// FileOps (pathops.go) adds the operations below. On the uring backend
// each is an io_uring request when the probe made at setup found its
// opcode, and otherwise the plain system call on the calling goroutine
// (whose task has released its worker), counted in flight like a ring
// request; the portable backend always makes the system call.
//
//	operation              uring backend, opcode (kernel)      fallback / portable
//	Mkdirat                IORING_OP_MKDIRAT (5.15)            mkdirat(2)
//	Unlinkat               IORING_OP_UNLINKAT (5.11)           unlinkat(2)
//	Renameat               IORING_OP_RENAMEAT (5.11)           renameat(2)
//	Statat                 IORING_OP_STATX (5.6, required)     fstatat(2)
//	Fallocate              IORING_OP_FALLOCATE (5.6)           fallocate(2)
//	Ftruncate              IORING_OP_FTRUNCATE (6.9)           ftruncate(2)
//	Splice                 IORING_OP_SPLICE (5.7)              splice(2)
//	PollWait               IORING_OP_POLL_ADD (5.1)            poll(2) with an eventfd
//
// The root package builds on these: ReadDir has no opcode (getdents64 was
// never added to io_uring) and runs os.ReadDir with the worker released;
// ReadFile first tries openat2(2) with RESOLVE_CACHED inline, as io_uring
// itself does before it hands an open to a worker thread. Datagram sockets
// (UDP, unixgram) are net sockets on both backends: recvfrom(2) and
// sendto(2) inside the net package's RawConn (TryRecvFrom, TrySendTo in
// datagram.go), waiting in Go's network poller; ring datagram operations
// (SENDMSG/RECVMSG) are not implemented, even with ring sockets.
// SendFile on a net socket is sendfile(2) inside the RawConn; on a ring
// socket it is Splice (file to pipe) and a non-blocking splice(2) from
// the pipe to the socket, waiting with PollWait.
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
