// Package executor runs tasks on a bounded pool of workers, with their file
// I/O driven through Linux io_uring and their sockets through the Go
// runtime's network poller.
//
// A task is a Go function started with [Spawn]. It runs on a goroutine of its
// own, but computes only while it holds one of its executor's workers, and it
// gives its worker up at every wait: [JoinHandle.Join], [Sleep], [Yield],
// [Block], [Recv] and [Send], the executor's own locks ([Mutex], [Semaphore],
// [Event], [WaitGroup]), a [TaskResultBundle]'s Wait, and every operation of a
// [File], [Listener] or [Conn]. So the number of workers bounds CPU
// parallelism, not the number of tasks in flight.
//
//	executor.Main(func(ctx context.Context) error {
//		h := executor.Spawn(ctx, func(ctx context.Context) (int, error) {
//			return 123, executor.Sleep(ctx, time.Second)
//		})
//		v, err := h.Join(ctx)
//		fmt.Println(v, err) // 123 <nil>
//		return err
//	})
//
// # Where tasks run
//
// [Spawn] and every wait find their executor in the context they are given:
// a task's own context (the one its function receives), or
// [Executor.Context] for code that is not a task. A context that carries no
// executor, such as [context.Background], means the default executor
// ([Default]): a process-wide executor with GOMAXPROCS workers, started on
// first use. [Main] runs a program's root task on an executor that becomes the
// default for the life of the process, and exits; [Run] does the same without
// exiting and without touching the default, for tests and for embedding. Both
// trip the process shutdown token ([ShutdownToken]) when the root task
// returns and wait up to [Options.ShutdownGrace] for the tasks spawned with
// [AsCleanup], and only those.
//
// A wait that is given a task's context from a goroutine that is not the
// task's own (a context handed to a plain goroutine) is safe: the task's
// worker is given up once and taken back once, whichever goroutine waits.
//
// # Tasks are never cancelled
//
// The executor never cancels a task: not when its [JoinHandle] is dropped,
// not when its spawner's context ends, not at shutdown. A spawned task's
// context keeps the spawner's values but not its cancellation or deadline
// (as [context.WithoutCancel]). A ctx passed to [JoinHandle.Join] bounds the
// wait only: if it ends first, Join returns its error and the task goes on.
// Cancellation is cooperative, through [CancellationToken]s, which are
// contexts: a task watches one (its Done channel, or a wait given
// [CancellationToken.Bind] of the task's context) and decides when to stop.
// A sequence of steps that must not be abandoned half-way can therefore run
// as a task of its own whose handle is dropped.
//
// # Panics
//
// By default a panicking task crashes the process as a panicking goroutine
// does, after printing the task's name. With [Options.RecoverPanics], Join
// returns a [*PanicError] (the value and the stack; [errors.Is] and
// [errors.As] see through a panic(err)), and a recovered panic whose handle
// is dropped without a Join is logged.
//
// # Workers and order
//
// [Options.Workers] (GOMAXPROCS by default) tasks hold a worker at once,
// never more ([Stats].MaxRunning). Tasks waiting for a worker, new ones and
// those whose wait has ended alike, get one in FIFO order: a worker that is
// given up goes straight to the task at the head of the queue, so a newcomer
// never overtakes a queued task. A task that waits on another task never
// deadlocks, even with one worker, since the waiting task gives its worker
// up. A task that blocks outside the executor's waits (a [sync.Mutex], a
// bare channel, a cgo call) keeps its worker; wrap such calls in [Block].
//
// # I/O backends
//
// An executor's file and socket operations go through one of two backends,
// chosen when its first I/O operation runs:
//
//   - "uring": Linux io_uring, with one ring and one completion thread for
//     the whole executor's file operations however many are in flight (and
//     a second ring, reaped through the Go poller, for ring sockets);
//   - "portable": system calls made with the task's worker given up, on any
//     OS, and on Linux where io_uring is refused (seccomp,
//     kernel.io_uring_disabled, an old kernel) or lacks an operation the
//     executor needs.
//
// Both have the same semantics: an operation takes a context that cancels
// it; a cancelled operation returns an error wrapping the context's error,
// unless it completed anyway, in which case its real result is returned;
// either way the kernel is done with the buffer when the call returns; and
// Close cancels the operations in flight first. Errors look like the os and
// net packages' ([*fs.PathError], [*net.OpError], [fs.ErrClosed],
// [net.ErrClosed]), so errors.Is(err, fs.ErrNotExist) works.
//
// [Options.Backend] ([BackendUring] or [BackendPortable]) forces a backend,
// as does the EXECUTOR_BACKEND environment variable ("uring" or "portable")
// when Options.Backend is empty. [Executor.Backend] and
// [Executor.BackendReason] say which backend runs and why. Only a refusal
// of io_uring makes the portable backend an executor's for good: a shortage
// when the backend is first opened (no descriptor or memory to spare) is an
// error for the operation that met it, and the next one tries io_uring
// again. In a testing/synctest bubble the default is the portable backend,
// whose waits let the bubble go idle.
//
// A [BufferPool] gives out buffers aligned for O_DIRECT and, on io_uring,
// registered with the kernel, so that ring reads and writes into them skip
// pinning their pages for each request.
//
// # Sockets
//
// By default a [Listener] or [Conn] wraps a socket of Go's net package, whose
// poller waits for any number of idle connections without an OS thread
// each, on both backends. With [Options.RingSockets] on the uring backend it
// is a non-blocking socket whose accepts, connects, receives and sends are
// driver operations: io_uring requests on a ring of their own (a send or
// an accept is tried first as one non-blocking system call; a receive is
// submitted at once, and the kernel tries it as it takes the request).
//
// Either way a task gives up its worker while it waits, every operation
// takes a context that cancels it, and errors are the net package's:
// [*net.OpError] values wrapping [net.ErrClosed], [*os.SyscallError] (so that
// errors.Is(err, syscall.ECONNRESET) works) or the context's cause.
// [Listener.NetListener] and [Conn.NetConn] adapt them to [net.Listener] and
// [net.Conn], deadlines included, for code such as net/http's server. The
// adapter's deadlines bound its own calls only, never a later Read or Write
// that takes a context.
//
// # Misuse
//
// A nil context is a programming error: every function that takes one
// panics with "executor: nil context", as the standard library panics on
// one. A nil [*File], [*Conn] or [*Listener] answers as a nil [*os.File] or
// [*net.TCPConn] does, with an error ([fs.ErrInvalid], [syscall.EINVAL]).
// The zero [CancellationToken] is a fresh, uncancelled root.
//
// The measurements behind these choices are in the repository's
// docs/ARCHITECTURE.md.
package executor
