package driver

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// config tunes the uring backend; tests and benchmarks use other values.
type config struct {
	entries uint32 // SQ entries = op records = cancel records; the CQ gets cqFactor×
	nowait  bool   // try preadv2/pwritev2 with RWF_NOWAIT inline before using the ring
	// singleIssuer makes the completion thread the ring's only submitter
	// (IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN); otherwise submitting
	// goroutines enter the kernel themselves.
	singleIssuer bool
	// blocking runs a read or write of a regular file as a plain system
	// call when no other op is in flight.
	blocking bool
	// pollReap replaces the completion thread by a goroutine that the Go
	// runtime's network poller wakes through an eventfd registered with
	// the ring, and makes submitters enter the kernel themselves (shared
	// submission). It is the design of the socket ring (socket_ring.go).
	pollReap bool
	// cq is the number of CQ entries to ask for; 0 means cqFactor×entries.
	cq uint32
}

// defaultConfig has 4096 op records and 4096 cancel records, an SQ of
// 4096 entries (256 KiB of SQEs) and a CQ of 65536 (1 MiB), the kernel's
// largest. Its socket ring (socketConfig) has a quarter of the records
// and the same CQ: the room its fixed records leave, about 63,000
// entries, is what receives and accepts waiting on idle ring sockets may
// hold (see slab), so that a server keeps a receive in flight on tens of
// thousands of idle connections while sends and connects still find
// records, and file ops never compete with them.
var defaultConfig = config{entries: 4096, nowait: true, singleIssuer: true, blocking: true}

// cqFactor sizes the CQ against the SQ; IORING_SETUP_CLAMP brings it down
// to the kernel's largest CQ (65536 entries) when that is smaller.
const cqFactor = 16

// Hooks replaced by tests to simulate a kernel that refuses io_uring or
// lacks an opcode.
var (
	setupRing = uring.Setup
	probeRing = (*uring.Ring).Probe
	// submitEnter is the io_uring_enter of the submission path; tests
	// inject transient and fatal errors through it.
	submitEnter = (*uring.Ring).Enter
)

// requiredOps are the opcodes the uring backend uses.
var requiredOps = []struct {
	op   uint8
	name string
}{
	{uring.OpNop, "NOP"},
	{uring.OpRead, "READ"},
	{uring.OpWrite, "WRITE"},
	{uring.OpFsync, "FSYNC"},
	{uring.OpOpenat, "OPENAT"},
	{uring.OpStatx, "STATX"},
	{uring.OpAsyncCancel, "ASYNC_CANCEL"},
	// Sockets (socket_uring.go): a kernel lacking one falls back to the
	// portable backend for everything. All predate STATX and OPENAT.
	{uring.OpAccept, "ACCEPT"},
	{uring.OpConnect, "CONNECT"},
	{uring.OpSend, "SEND"},
	{uring.OpRecv, "RECV"},
}

// requiredFeatures are the setup features the backend relies on: no lost
// CQEs, and offset -1 meaning "current position" for READ/WRITE.
var requiredFeatures = []struct {
	feat uint32
	name string
}{
	{uring.FeatNoDrop, "IORING_FEAT_NODROP"},
	{uring.FeatRWCurPos, "IORING_FEAT_RW_CUR_POS"},
}

// uringDriver is the io_uring backend. Op goroutines append SQEs to a
// backlog under mu. A dedicated completion goroutine, locked to its
// thread, reaps CQEs and wakes each op's goroutine through its record's
// channel. Who moves the backlog into the SQ and enters the kernel
// depends on cfg.singleIssuer: the completion thread (default; see
// loopSingleIssuer), or the first op goroutine that finds no submission
// in progress (see submitUnlock).
type uringDriver struct {
	reason string
	cfg    config
	ring   *uring.Ring
	slab   *slab
	probe  *uring.Probe // the opcodes the kernel supports (optional ones: see has)

	mu         sync.Mutex
	backlog    []uring.SQE // queued, not yet in the SQ
	submitting bool        // shared design: a goroutine is moving the backlog to the kernel
	sleeping   bool        // single issuer: the completion thread waits in the kernel
	closed     bool        // Shutdown began: no new ops
	track      tracker     // ops in flight, for CancelFD and Shutdown
	failed     []uring.SQE // scratch for requests failed on enter errors

	reaperDone chan struct{}
	stopping   chan struct{} // closed once Shutdown has ended every op
	shutOnce   sync.Once
	shutErr    error
	isClosed   atomic.Bool

	enters, submitted, completed, cancelled, stale atomic.Uint64
	// inline counts the reads and writes done without the ring; they are
	// completed ops too (Stats adds them in). Striped: every core adds to
	// it on every page-cache hit.
	inline stripedCounter
	// maxPending is the high-water mark of requests whose CQE was not
	// yet reaped; it never exceeds the CQ size (invariant 3).
	pending, maxPending atomic.Int64

	reaperTid atomic.Int32 // the completion thread's; for ThreadCPU, and tests that signal it
	// reaperCPU0 is the completion thread's CPU clock, in nanoseconds, as
	// the ring was set up: the thread is one the runtime had, which may
	// have run other goroutines before. reaperCPU is its time since then
	// as it stopped serving the ring, set before reaperGone (threadCPU).
	reaperCPU0, reaperCPU atomic.Int64
	reaperGone            atomic.Bool
	kinds                 fdKinds // see kind

	// Single issuer: submitters write wakeFd to wake the completion
	// thread, whose read request on it lands in wakeBuf.
	wakeFd  int
	wakeBuf uint64
	wakePin runtime.Pinner

	// pollReap: the eventfd the kernel signals for each batch of CQEs,
	// in the Go poller, and the lock that makes one goroutine at a time
	// the CQ's consumer (see reapCQ).
	evFile *os.File
	reapMu sync.Mutex

	// sock is the socket ring (socket_ring.go), opened by the first ring
	// socket operation (sockets): an executor whose sockets wait in the
	// net package's poller, the default, never pays its descriptors and
	// its memory. Always nil in the socket ring itself. sockMu serializes
	// its opening with Shutdown.
	sock   atomic.Pointer[uringDriver]
	sockMu sync.Mutex

	// fixed is the ring's registered buffers (fixed.go). calls are the
	// functions queued for the completion thread (onIssuer), guarded by
	// mu; issuerGone is set under mu once that thread has stopped.
	fixed      fixedTable
	calls      []issuerCall
	issuerGone bool
	// fixedOps counts the reads and writes made as READ_FIXED or
	// WRITE_FIXED.
	fixedOps atomic.Uint64
	// pacer paces the lone blocking calls (see blocking).
	pacer pacer
}

// sockets returns the socket ring, opening it on first use. An error
// opening it (a shortage of descriptors or memory, say) is this call's
// only: the next call tries again.
func (d *uringDriver) sockets() (*uringDriver, error) {
	if s := d.sock.Load(); s != nil {
		return s, nil
	}
	d.sockMu.Lock()
	defer d.sockMu.Unlock()
	if s := d.sock.Load(); s != nil {
		return s, nil
	}
	if d.isClosed.Load() {
		return nil, ErrClosed
	}
	s, err := newUring(socketConfig(d.cfg))
	if err != nil {
		return nil, fmt.Errorf("driver: opening the socket ring: %w", err)
	}
	d.sock.Store(s)
	return s, nil
}

func newUring(cfg config) (*uringDriver, error) {
	if cfg.entries == 0 || cfg.entries&(cfg.entries-1) != 0 {
		return nil, fmt.Errorf("driver: ring entries %d not a power of two", cfg.entries)
	}
	d := &uringDriver{
		cfg:        cfg,
		reaperDone: make(chan struct{}),
		stopping:   make(chan struct{}),
		wakeFd:     -1,
	}
	if cfg.pollReap {
		cfg.singleIssuer = false
		d.cfg = cfg
		if err := d.setup(); err != nil {
			return nil, err
		}
		go d.loopPoller()
		return d, nil
	}
	// The ring is created on the completion thread: with
	// IORING_SETUP_SINGLE_ISSUER the creating thread is the only one
	// allowed to submit.
	ready := make(chan error)
	go d.reap(ready)
	if err := <-ready; err != nil {
		<-d.reaperDone
		return nil, err
	}
	return d, nil
}

// setup creates and checks the ring. It runs on the completion thread.
func (d *uringDriver) setup() error {
	flags := uring.SetupCQSize | uring.SetupSubmitAll | uring.SetupClamp
	if d.cfg.singleIssuer {
		flags |= uring.SetupSingleIssuer | uring.SetupDeferTaskrun
	}
	cq := d.cfg.cq
	if cq == 0 {
		cq = cqFactor * d.cfg.entries
	}
	params := uring.Params{Flags: flags, CQEntries: cq}
	ring, err := setupRing(d.cfg.entries, &params)
	if err != nil && d.cfg.singleIssuer && errors.Is(err, syscall.EINVAL) {
		// Kernels before 6.1 lack DEFER_TASKRUN: submit from any thread.
		d.cfg.singleIssuer = false
		params = uring.Params{Flags: flags &^ (uring.SetupSingleIssuer | uring.SetupDeferTaskrun), CQEntries: cq}
		ring, err = setupRing(d.cfg.entries, &params)
	}
	if err != nil {
		return err
	}
	fail := func(err error) error {
		ring.Close()
		return err
	}
	for _, f := range requiredFeatures {
		if ring.Features()&f.feat == 0 {
			return fail(fmt.Errorf("io_uring lacks %s", f.name))
		}
	}
	probe, err := probeRing(ring)
	if err != nil {
		return fail(fmt.Errorf("io_uring probe: %w", err))
	}
	for _, op := range requiredOps {
		if !probe.Supported(op.op) {
			return fail(fmt.Errorf("io_uring lacks IORING_OP_%s", op.name))
		}
	}
	n := ring.SQEntries()
	if ring.CQEntries() < 3*n {
		// Each op record and each cancel record has at most one CQE
		// outstanding, plus the stop NOP and the wake-up read: 2n+2 ≤ 3n.
		return fail(fmt.Errorf("io_uring CQ of %d entries too small for %d SQ entries", ring.CQEntries(), n))
	}
	if d.cfg.singleIssuer {
		d.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			return fail(fmt.Errorf("eventfd: %w", err))
		}
		d.wakePin.Pin(&d.wakeBuf)
	}
	if d.cfg.pollReap {
		if d.evFile, err = registerEventfd(ring); err != nil {
			return fail(err)
		}
	}
	d.ring = ring
	d.probe = probe
	// Records that wait for a peer get the CQ room the others leave: in
	// flight requests never exceed what the CQ holds.
	d.slab = newSlab(n, n, ring.CQEntries()-2*n-2)
	d.backlog = make([]uring.SQE, 0, 2*n+2)
	return nil
}

func (d *uringDriver) Name() string   { return "uring" }
func (d *uringDriver) Reason() string { return d.reason }

// threadCPU returns the CPU time the completion thread has run since the
// ring was set up: read from its clock while it serves the ring (one
// clock_gettime, no cost to the thread), as it left it once it has
// stopped, 0 before it started. The thread goes back to the runtime when
// it stops, to run other goroutines: a clock read that may have come after
// that (reaperGone set by then) is not used.
func (d *uringDriver) threadCPU() time.Duration {
	tid := d.reaperTid.Load()
	if tid == 0 {
		return 0
	}
	if !d.reaperGone.Load() {
		var ts unix.Timespec
		if unix.ClockGettime(threadClock(int(tid)), &ts) == nil && !d.reaperGone.Load() {
			return time.Duration(max(0, ts.Nano()-d.reaperCPU0.Load()))
		}
	}
	return time.Duration(d.reaperCPU.Load())
}

// startThreadCPU notes the completion thread's CPU clock once the ring is
// set up, and makes its time readable. It runs on that thread.
func (d *uringDriver) startThreadCPU() {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) == nil {
		d.reaperCPU0.Store(ts.Nano())
	}
	d.reaperTid.Store(int32(unix.Gettid()))
}

// threadClock returns the clock of thread tid's CPU time (of this process),
// as glibc's pthread_getcpuclockid makes it: CPUCLOCK_SCHED for thread
// ~tid, with the per-thread bit.
func threadClock(tid int) int32 {
	const cpuclockSched, cpuclockPerThread = 2, 4
	return int32(^tid<<3 | cpuclockSched | cpuclockPerThread)
}

// endThreadCPU records the completion thread's CPU time as it stops
// serving the ring, before the runtime may give the thread other work. It
// runs on that thread.
func (d *uringDriver) endThreadCPU() {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) == nil {
		d.reaperCPU.Store(max(0, ts.Nano()-d.reaperCPU0.Load()))
	}
	d.reaperGone.Store(true)
}

// Stats returns the driver's counters, the socket ring's included.
func (d *uringDriver) Stats() Stats {
	d.mu.Lock()
	inflight := d.track.inflight
	d.mu.Unlock()
	inline := d.inline.load()
	st := Stats{
		Enters:    d.enters.Load(),
		Submitted: d.submitted.Load(),
		Completed: d.completed.Load() + inline,
		Inline:    inline,
		Cancelled: d.cancelled.Load(),
		InFlight:  uint64(inflight),
		Fixed:     d.fixedOps.Load(),
		ThreadCPU: d.threadCPU(),
	}
	if s := d.sock.Load(); s != nil {
		ss := s.Stats()
		st.Enters += ss.Enters
		st.Submitted += ss.Submitted
		st.Completed += ss.Completed
		st.Inline += ss.Inline
		st.Cancelled += ss.Cancelled
		st.InFlight += ss.InFlight
	}
	return st
}

func (d *uringDriver) Shutdown() error {
	d.shutOnce.Do(func() {
		d.sockMu.Lock()
		d.isClosed.Store(true) // under sockMu: sockets opens no ring from now on
		d.sockMu.Unlock()
		// The socket ring first: its ops end with ErrClosed like ours.
		if s := d.sock.Load(); s != nil {
			d.shutErr = s.Shutdown()
		}
		d.mu.Lock()
		d.closed = true
		idle := d.track.allIdle()
		d.mu.Unlock()
		if idle != nil {
			d.cancelWait(0, uring.AsyncCancelAny|uring.AsyncCancelAll, false)
			d.waitCancelling(idle, 0, uring.AsyncCancelAny|uring.AsyncCancelAll, false)
		}
		close(d.stopping)
		// Wait for the cancel records too (a cancel whose CQE is still
		// due), so that the ring is quiet when it closes.
		for i := 0; i < cap(d.slab.freeCncls); i++ {
			<-d.slab.freeCncls
		}
		if d.cfg.pollReap {
			// Every op and cancel has completed: nothing is due in the
			// CQ. Closing the eventfd ends the reaper's wait.
			d.evFile.Close()
		} else {
			stop := uring.SQE{UserData: udStop}
			stop.PrepNop()
			d.mu.Lock()
			d.submitUnlock(&stop)
		}
		<-d.reaperDone
		d.shutErr = errors.Join(d.shutErr, d.ring.Close())
		if d.wakeFd >= 0 {
			unix.Close(d.wakeFd)
			d.wakePin.Unpin()
		}
	})
	return d.shutErr
}
