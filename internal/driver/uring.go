package driver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// config tunes the uring backend; tests and benchmarks use other values.
type config struct {
	entries uint32 // SQ entries = op records = cancel records; the CQ gets 4×
	nowait  bool   // try preadv2/pwritev2 with RWF_NOWAIT inline before using the ring
	// singleIssuer makes the completion thread the ring's only submitter
	// (IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN); otherwise submitting
	// goroutines enter the kernel themselves.
	singleIssuer bool
	// blocking runs a read or write of a regular file as a plain system
	// call when no other op is in flight.
	blocking bool
}

// defaultConfig has 4096 op records because a server keeps a receive in
// flight on every idle connection, each holding a record until data
// arrives: with a few hundred records, receives could hold them all while
// the sends their data depends on wait for one. 4096 records make a CQ
// of 16384 entries (256 KiB) and an SQ of 4096 (256 KiB of SQEs).
var defaultConfig = config{entries: 4096, nowait: true, singleIssuer: true, blocking: true}

// Hooks replaced by tests to simulate a kernel that refuses io_uring or
// lacks an opcode.
var (
	setupRing = uring.Setup
	probeRing = (*uring.Ring).Probe
	// submitEnter is the io_uring_enter of the submission path; tests
	// inject transient and fatal errors through it.
	submitEnter = (*uring.Ring).Enter
)

// testHookSubmitted, if set, runs after an op was queued for submission
// and before its caller starts waiting.
var testHookSubmitted func()

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
// in progress (see submitLocked).
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

	enters, submitted, completed, inline, cancelled, stale atomic.Uint64
	// maxPending is the high-water mark of requests whose CQE was not
	// yet reaped; it never exceeds the CQ size (invariant 6, tested).
	pending, maxPending atomic.Int64

	reaperTid atomic.Int32 // for tests that signal the completion thread
	kinds     sync.Map     // int32 fd → fdKind (see kind)

	// Single issuer: submitters write wakeFd to wake the completion
	// thread, whose read request on it lands in wakeBuf.
	wakeFd  int
	wakeBuf uint64
	wakePin runtime.Pinner
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
	params := uring.Params{Flags: flags, CQEntries: 4 * d.cfg.entries}
	ring, err := setupRing(d.cfg.entries, &params)
	if err != nil && d.cfg.singleIssuer && errors.Is(err, syscall.EINVAL) {
		// Kernels before 6.1 lack DEFER_TASKRUN: submit from any thread.
		d.cfg.singleIssuer = false
		params = uring.Params{Flags: flags &^ (uring.SetupSingleIssuer | uring.SetupDeferTaskrun), CQEntries: 4 * d.cfg.entries}
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
	d.ring = ring
	d.probe = probe
	d.slab = newSlab(n, n)
	d.backlog = make([]uring.SQE, 0, 2*n+2)
	return nil
}

func (d *uringDriver) Name() string   { return "uring" }
func (d *uringDriver) Reason() string { return d.reason }

func (d *uringDriver) Stats() Stats {
	d.mu.Lock()
	inflight := d.track.inflight
	d.mu.Unlock()
	return Stats{
		Enters:    d.enters.Load(),
		Submitted: d.submitted.Load(),
		Completed: d.completed.Load(),
		Inline:    d.inline.Load(),
		Cancelled: d.cancelled.Load(),
		InFlight:  uint64(inflight),
	}
}

// acquire takes a free op record, waiting while all are in flight (this
// bounds in-flight requests by what the CQ can hold). It gives up if ctx
// is done first.
func (d *uringDriver) acquire(ctx context.Context) (*op, uint32, error) {
	if d.isClosed.Load() {
		return nil, 0, ErrClosed
	}
	select {
	case idx := <-d.slab.freeOps:
		return &d.slab.ops[idx], idx, nil
	default:
	}
	select {
	case idx := <-d.slab.freeOps:
		return &d.slab.ops[idx], idx, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// run submits sqe, the request of record idx, on behalf of descriptor fd
// and waits for its completion, cancelling it if ctx is done first. It
// returns the CQE result and whether the op was cancelled through ctx.
// The record stays owned by the caller, which releases it.
//
// With retryAgain (reads, writes, receives, sends, accepts), a result of
// EAGAIN is not returned but the request made again: the kernel can fail
// such a request on a non-blocking descriptor although it waited for
// readiness (another reader took the data between the wake-up and the
// retry; io_uring then hands the request to a worker, where O_NONBLOCK
// forbids waiting), which is no answer for a caller that asked to wait.
// The op stays counted in flight across the retry, and the retry counts
// as a new op on fd, so a concurrent CancelFD cancels it too.
func (d *uringDriver) run(ctx context.Context, o *op, idx uint32, fd int32, sqe *uring.SQE, retryAgain bool) (res int32, ctxDone bool, err error) {
	if err := doneErr(ctx); err != nil {
		return 0, true, err
	}
	st, err := d.start(o, idx, fd, sqe, stateWait)
	if err != nil {
		return 0, false, err
	}
	defer d.end(fd, st)

	if testHookSubmitted != nil {
		testHookSubmitted()
	}
	for {
		// ctx is checked before waiting so that a ctx that is already
		// done always takes the cancel path, whatever the select below
		// would pick.
		select {
		case <-ctx.Done():
			ctxDone = true
		default:
			select {
			case <-o.done:
			case <-ctx.Done():
				ctxDone = true
			}
		}
		if ctxDone {
			d.cancelAndWait(o, d.slab.ud(idx))
		}
		if ctxDone || !retryAgain || o.res != -int32(syscall.EAGAIN) {
			return o.res, ctxDone, nil
		}
		// Make the request again under a new generation of the record.
		o.gen.Add(1)
		sqe.UserData = d.slab.ud(idx)
		o.state.Store(stateWait)
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			o.state.Store(stateIdle)
			return -int32(syscall.ECANCELED), false, nil
		}
		st.seq++
		d.submitLocked(sqe)
	}
}

// start queues sqe as the request of record idx, counted against fd, to
// be delivered according to state (stateWait or stateMulti).
func (d *uringDriver) start(o *op, idx uint32, fd int32, sqe *uring.SQE, state uint32) (*fdState, error) {
	o.fd = fd
	sqe.UserData = d.slab.ud(idx)
	o.state.Store(state)
	d.mu.Lock()
	st, err := d.beginLocked(fd)
	if err != nil {
		d.mu.Unlock()
		o.state.Store(stateIdle)
		return nil, err
	}
	d.submitLocked(sqe)
	return st, nil
}

// beginLocked counts an op on fd as in flight, for CancelFD and Shutdown.
// Called with mu held.
func (d *uringDriver) beginLocked(fd int32) (*fdState, error) {
	if d.closed {
		return nil, ErrClosed
	}
	return d.track.begin(fd), nil
}

// end undoes beginLocked once the op has completed.
func (d *uringDriver) end(fd int32, st *fdState) {
	d.mu.Lock()
	d.track.end(fd, st)
	d.mu.Unlock()
}

// submitLocked queues sqe (copied) for the kernel. It is called with mu
// held and returns with mu released.
//
// Single issuer: the completion thread submits; wake it if it sleeps.
// Shared: if no other goroutine is submitting, the caller becomes the
// submitter and enters the kernel until the backlog is empty (flat
// combining: while it is in the kernel, others queue behind it, and its
// next enter carries them all).
func (d *uringDriver) submitLocked(sqe *uring.SQE) {
	d.backlog = append(d.backlog, *sqe)
	if d.cfg.singleIssuer {
		wake := d.sleeping
		d.sleeping = false
		d.mu.Unlock()
		if wake {
			one := uint64(1)
			unix.Write(d.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
		}
		return
	}
	if d.submitting {
		d.mu.Unlock()
		return
	}
	d.submitting = true
	backoff := time.Duration(0)
	for {
		d.moveBacklogLocked()
		toSubmit := d.ring.Flush()
		if toSubmit == 0 {
			d.submitting = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()

		consumed, err := submitEnter(d.ring, toSubmit, 0, 0)
		d.enters.Add(1)
		if consumed > 0 {
			d.submitted.Add(uint64(consumed))
			d.addPending(int64(consumed))
			backoff = 0
		}

		d.mu.Lock()
		switch {
		case err == nil && consumed > 0:
		case err == nil || transient(err):
			// The kernel is short of memory or of CQ room (which the
			// record bound should prevent): leave the requests queued and
			// retry shortly. A full queue never drops a request.
			d.mu.Unlock()
			if backoff < time.Millisecond {
				backoff += 50 * time.Microsecond
			}
			time.Sleep(backoff)
			d.mu.Lock()
		default:
			d.failQueuedLocked(err)
		}
	}
}

// moveBacklogLocked moves as much of the backlog as fits into the SQ.
func (d *uringDriver) moveBacklogLocked() {
	moved := 0
	for moved < len(d.backlog) {
		s := d.ring.NextSQE()
		if s == nil {
			break
		}
		*s = d.backlog[moved]
		moved++
	}
	n := copy(d.backlog, d.backlog[moved:])
	d.backlog = d.backlog[:n]
}

// transient reports whether an io_uring_enter error means "try again".
func transient(err error) bool {
	return err == syscall.EAGAIN || err == syscall.EBUSY || err == syscall.ENOMEM || err == syscall.EINTR
}

// failQueuedLocked handles an unrecoverable io_uring_enter error (a driver
// bug such as EINVAL or EFAULT): every op or cancel request not yet
// consumed by the kernel fails with the errno, rather than being retried
// forever. The driver's own requests (stop, wake-up) are queued again.
func (d *uringDriver) failQueuedLocked(err error) {
	d.failed = d.ring.Unflush(d.failed[:0])
	d.failed = append(d.failed, d.backlog...)
	d.backlog = d.backlog[:0]
	errno, _ := err.(syscall.Errno)
	if errno == 0 {
		errno = syscall.EIO
	}
	for i := range d.failed {
		ud := d.failed[i].UserData
		if idx, _ := splitUserData(ud); idx == udInternal {
			d.backlog = append(d.backlog, d.failed[i])
			continue
		}
		d.addPending(1)
		d.complete(ud, -int32(errno), 0)
	}
}

func (d *uringDriver) addPending(n int64) {
	p := d.pending.Add(n)
	for {
		m := d.maxPending.Load()
		if p <= m || d.maxPending.CompareAndSwap(m, p) {
			return
		}
	}
}

// cancelOp asks the kernel to cancel the request with user_data target.
// The cancel request is fire-and-forget: its record is released by the
// completion thread. The caller (a multishot request's owner) then waits
// for the target's last CQE. It never waits for long for a cancel record:
// there are as many as op records and each op holds at most one.
func (d *uringDriver) cancelOp(target uint64) {
	d.submitCancel(<-d.slab.freeCncls, target, 0, 0, stateAuto)
}

// cancelAndWait cancels the request with user_data target, whose record
// is o, and returns once the request has completed. The kernel answers
// EALREADY when the request is running, which for a request that waits
// for readiness (a read of a pipe whose wake-up raced with another
// reader) means it may re-arm itself and wait on; so unless the request
// completes, the cancel is repeated, with a growing pause.
func (d *uringDriver) cancelAndWait(o *op, target uint64) {
	backoff := 50 * time.Microsecond
	for {
		idx := <-d.slab.freeCncls
		d.submitCancel(idx, target, 0, 0, stateWait)
		c := &d.slab.ops[idx]
		<-c.done
		res := c.res
		d.slab.release(idx)
		if res != -int32(syscall.EALREADY) {
			<-o.done
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-o.done:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 10*time.Millisecond)
	}
}

// cancelWait submits a cancel request with the given fd and flags and
// waits for its CQE. If stoppable, it gives up (returning false) when
// Shutdown begins while it waits for a cancel record, as Shutdown cancels
// everything itself.
func (d *uringDriver) cancelWait(fd int, flags uint32, stoppable bool) bool {
	var idx uint32
	if stoppable {
		select {
		case idx = <-d.slab.freeCncls:
		case <-d.stopping:
			return false
		}
	} else {
		idx = <-d.slab.freeCncls
	}
	d.submitCancel(idx, 0, fd, flags, stateWait)
	<-d.slab.ops[idx].done
	d.slab.release(idx)
	return true
}

// submitCancel queues an IORING_OP_ASYNC_CANCEL in cancel record idx.
func (d *uringDriver) submitCancel(idx uint32, target uint64, fd int, flags uint32, state uint32) {
	c := &d.slab.ops[idx]
	var sqe uring.SQE
	sqe.PrepCancel(target, fd, flags)
	sqe.UserData = d.slab.ud(idx)
	c.state.Store(state)
	d.cancelled.Add(1)
	d.mu.Lock()
	d.submitLocked(&sqe)
}

// reap is the completion thread: it creates the ring, reports the
// outcome on ready, then runs until Shutdown's stop request.
func (d *uringDriver) reap(ready chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(d.reaperDone)
	if err := d.setup(); err != nil {
		ready <- err
		return
	}
	d.reaperTid.Store(int32(unix.Gettid()))
	ready <- nil
	if d.cfg.singleIssuer {
		d.loopSingleIssuer()
	} else {
		d.loopShared()
	}
}

// drain delivers every CQE in the CQ. It reports whether it reaped any,
// and the stop and wake-up requests among them.
func (d *uringDriver) drain() (n int, stop, woken bool) {
	for cqe := d.ring.PeekCQE(); cqe != nil; cqe = d.ring.PeekCQE() {
		ud, res, flags := cqe.UserData, cqe.Res, cqe.Flags
		d.ring.CQAdvance(1)
		n++
		switch ud {
		case udStop:
			d.pending.Add(-1)
			stop = true
		case udWake:
			d.pending.Add(-1)
			woken = true
		default:
			d.complete(ud, res, flags)
		}
	}
	return n, stop, woken
}

// loopShared reaps for the shared-submission design, where submitting
// goroutines enter the kernel themselves (submitLocked).
func (d *uringDriver) loopShared() {
	for {
		n, stop, _ := d.drain()
		if stop {
			return
		}
		if d.ring.SQFlags()&uring.SQCQOverflow != 0 {
			// FEAT_NODROP kept CQEs the CQ had no room for; move them in.
			d.ring.FlushOverflow()
			d.enters.Add(1)
			continue
		}
		if n == 0 {
			d.ring.Enter(0, 1, uring.EnterGetEvents)
			d.enters.Add(1)
		}
	}
}

// loopSingleIssuer is the completion thread of the single-issuer design:
// it alone submits (the ring has SINGLE_ISSUER and DEFER_TASKRUN, so all
// completion work runs here, in io_uring_enter, and never interrupts
// other threads). Submitting goroutines queue SQEs in the backlog and, if
// this thread sleeps in the kernel, wake it through an eventfd that a
// read request on the ring watches. One io_uring_enter both submits the
// backlog and waits.
func (d *uringDriver) loopSingleIssuer() {
	armed := false      // the wake-up read is in flight
	stopping := false   // the stop request was reaped
	cancelSent := false // the wake-up read was cancelled for stopping
	backoff := time.Duration(0)
	for {
		d.mu.Lock()
		switch {
		case !armed && !stopping:
			if s := d.ring.NextSQE(); s != nil {
				s.PrepRW(uring.OpRead, d.wakeFd, unsafe.Pointer(&d.wakeBuf), 8, ^uint64(0))
				s.UserData = udWake
				armed = true
			}
		case armed && stopping && !cancelSent:
			if s := d.ring.NextSQE(); s != nil {
				s.PrepCancel(udWake, 0, 0)
				s.UserData = udStop
				cancelSent = true
			}
		}
		d.moveBacklogLocked()
		toSubmit := d.ring.Flush()
		// Submit and wait in one enter when nothing else is to be done:
		// a submitter that queues more meanwhile wakes us through the
		// eventfd read (armed, or about to be submitted in this call).
		var wait uint32
		if len(d.backlog) == 0 && d.ring.CQReady() == 0 && (armed || toSubmit == 0) {
			wait = 1
			d.sleeping = true
		}
		d.mu.Unlock()

		if toSubmit > 0 || wait > 0 || d.ring.SQFlags()&uring.SQCQOverflow != 0 {
			consumed, err := submitEnter(d.ring, toSubmit, wait, uring.EnterGetEvents)
			d.enters.Add(1)
			if consumed > 0 {
				d.submitted.Add(uint64(consumed))
				d.addPending(int64(consumed))
			}
			if wait != 0 {
				d.mu.Lock()
				d.sleeping = false
				d.mu.Unlock()
			}
			switch {
			case err == nil:
				backoff = 0
			case transient(err):
				if backoff < time.Millisecond {
					backoff += 50 * time.Microsecond
				}
				time.Sleep(backoff)
			default:
				d.mu.Lock()
				d.failQueuedLocked(err)
				d.mu.Unlock()
			}
		}

		_, stop, woken := d.drain()
		if woken {
			armed = false
		}
		if stop {
			stopping = true
		}
		if stopping && !armed {
			return
		}
	}
}

// complete delivers one CQE to its record.
func (d *uringDriver) complete(ud uint64, res int32, flags uint32) {
	d.pending.Add(-1)
	o := d.slab.lookup(ud)
	if o == nil {
		d.stale.Add(1)
		return
	}
	d.completed.Add(1)
	if flags&uring.CQEFMore != 0 && o.state.Load() == stateMulti {
		d.pending.Add(1) // more CQEs of this request will follow
		o.push(res, flags)
		return
	}
	switch o.state.Swap(stateIdle) {
	case stateMulti:
		o.push(res, flags) // the request's last CQE
	case stateAuto:
		idx, _ := splitUserData(ud)
		d.slab.release(idx)
	case stateWait:
		o.res, o.flags = res, flags
		o.done <- struct{}{} // buffered: never blocks
	default:
		// A second CQE for a one-shot request: ignore it.
		d.stale.Add(1)
	}
}

// result turns a CQE result into the op methods' (n, error) convention.
func result(res int32, ctxDone bool, ctx context.Context, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	if res >= 0 {
		return int(res), nil
	}
	errno := syscall.Errno(-res)
	// EAGAIN: a cancelled request the kernel had failed as in run's
	// retryAgain. None of these transferred anything.
	if ctxDone && (errno == syscall.ECANCELED || errno == syscall.EINTR || errno == syscall.EAGAIN) {
		return 0, ctx.Err()
	}
	return 0, errno
}

func (d *uringDriver) finish(res int32, ctxDone bool, ctx context.Context, err error) (int, error) {
	n, err := result(res, ctxDone, ctx, err)
	if err == syscall.ECANCELED && d.isClosed.Load() {
		err = ErrClosed
	}
	return n, err
}

// nowait tries a read or write with RWF_NOWAIT: data in the page cache is
// copied inline at the cost of one system call, without a ring round trip
// and completion-thread wake-up. ok is false if the kernel would block
// (EAGAIN) or does not support RWF_NOWAIT for this file.
func (d *uringDriver) nowait(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	if !d.cfg.nowait {
		return 0, nil, false
	}
	return d.tryNowait(fd, p, off, write)
}

// tryNowait is nowait whatever the configuration (see Inliner).
func (d *uringDriver) tryNowait(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	if d.kind(fd)&kindDirect != 0 {
		return 0, nil, false
	}
	return nowaitRW(fd, p, off, write)
}

// fdKind is what the driver remembers about a descriptor number.
type fdKind uint8

const (
	kindDirect  fdKind = 1 << iota // O_DIRECT is set
	kindRegular                    // a regular file
)

// kind returns what fd is, from a per-number cache that the driver
// forgets when it opens or closes that number. A descriptor closed and
// reused behind the driver's back may be misjudged: that costs speed
// (an O_DIRECT read attempted with RWF_NOWAIT blocks; a non-regular
// descriptor taken for a regular file may block in the blocking path,
// only while no other op is in flight), never data.
func (d *uringDriver) kind(fd int) fdKind {
	if v, ok := d.kinds.Load(int32(fd)); ok {
		return v.(fdKind)
	}
	var k fdKind
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_DIRECT != 0 {
		k |= kindDirect
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		k |= kindRegular
	}
	d.kinds.Store(int32(fd), k)
	return k
}

// blocking runs a read or write of a regular file as a plain system call
// on the calling goroutine when no other op is in flight. A lone op gains
// nothing from the ring but pays two thread wake-ups (the completion
// thread's and the op goroutine's), which doubles its latency; with
// other ops in flight the ring batches and overlaps them. Reads and
// writes of regular files cannot be interrupted by cancellation on the
// ring either (the kernel waits for the device), so the semantics are
// the same. ok is false if the ring must be used.
func (d *uringDriver) blocking(fd int, p []byte, off int64, write bool) (n int, err error, ok bool) {
	if !d.cfg.blocking || d.kind(fd)&kindRegular == 0 {
		return 0, nil, false
	}
	d.mu.Lock()
	if d.track.inflight != 0 {
		d.mu.Unlock()
		return 0, nil, false
	}
	st, err := d.beginLocked(int32(fd))
	d.mu.Unlock()
	if err != nil {
		return 0, err, true
	}
	defer d.end(int32(fd), st)
	for {
		switch {
		case write && off < 0:
			n, err = unix.Write(fd, p)
		case write:
			n, err = unix.Pwrite(fd, p, off)
		case off < 0:
			n, err = unix.Read(fd, p)
		default:
			n, err = unix.Pread(fd, p, off)
		}
		if err != syscall.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err, true
		}
	}
}

func (d *uringDriver) rw(ctx context.Context, opcode uint8, fd int, p []byte, off int64, tryInline bool) (int, error) {
	if err := checkFD(fd); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if d.isClosed.Load() {
		return 0, ErrClosed
	}
	if err := doneErr(ctx); err != nil {
		return 0, err
	}
	if len(p) > maxRW {
		p = p[:maxRW]
	}
	// tryInline is false when the caller's TryReadAt/TryWriteAt has just
	// failed: the same system call would fail again.
	if tryInline {
		if n, err, ok := d.nowait(fd, p, off, opcode == uring.OpWrite); ok {
			d.countInline()
			return n, err
		}
	}
	if n, err, ok := d.blocking(fd, p, off, opcode == uring.OpWrite); ok {
		d.countInline()
		return n, err
	}
	var sqe uring.SQE
	sqe.PrepRW(opcode, fd, unsafe.Pointer(&p[0]), uint32(len(p)), uint64(off))
	return d.runBuffer(ctx, fd, p, &sqe)
}

// runBuffer runs sqe, a read, write, receive or send of p on fd, in a
// record of its own, with p pinned while the request is in flight; EAGAIN
// makes the request again (see run).
func (d *uringDriver) runBuffer(ctx context.Context, fd int, p []byte, sqe *uring.SQE) (int, error) {
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer d.slab.release(idx)
	o.pin.Pin(&p[0])
	defer o.pin.Unpin()
	res, ctxDone, err := d.run(ctx, o, idx, int32(fd), sqe, true)
	return d.finish(res, ctxDone, ctx, err)
}

// countInline counts an operation completed without the ring.
func (d *uringDriver) countInline() {
	d.inline.Add(1)
	d.completed.Add(1)
}

func (d *uringDriver) ReadAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, uring.OpRead, fd, p, off, true)
}

func (d *uringDriver) WriteAt(ctx context.Context, fd int, p []byte, off int64) (int, error) {
	return d.rw(ctx, uring.OpWrite, fd, p, off, true)
}

func (d *uringDriver) Fsync(ctx context.Context, fd int, datasync bool) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return err
	}
	defer d.slab.release(idx)
	var flags uint32
	if datasync {
		flags = uring.FsyncDatasync
	}
	var sqe uring.SQE
	sqe.PrepFsync(fd, flags)
	res, ctxDone, err := d.run(ctx, o, idx, int32(fd), &sqe, false)
	_, err = d.finish(res, ctxDone, ctx, err)
	return err
}

func (d *uringDriver) Open(ctx context.Context, dirfd int, path string, flags int, mode uint32) (int, error) {
	if err := checkPath(path); err != nil {
		return -1, err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return -1, err
	}
	defer d.slab.release(idx)
	o.path = append(append(o.path[:0], path...), 0)
	o.pin.Pin(&o.path[0])
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepOpenat(dirfd, &o.path[0], flags|unix.O_CLOEXEC, mode)
	// Opens are counted against no descriptor: CancelFD(dirfd) must not
	// wait for them.
	res, ctxDone, err := d.run(ctx, o, idx, -1, &sqe, false)
	if err == nil && ctxDone && res >= 0 {
		// Completed after its cancellation: nobody will own the fd.
		unix.Close(int(res))
		return -1, ctx.Err()
	}
	fd, err := d.finish(res, ctxDone, ctx, err)
	if err != nil {
		return -1, err
	}
	d.kinds.Delete(int32(fd))
	return fd, nil
}

func (d *uringDriver) Stat(ctx context.Context, fd int) (unix.Stat_t, error) {
	if err := checkFD(fd); err != nil {
		return unix.Stat_t{}, err
	}
	o, idx, err := d.acquire(ctx)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer d.slab.release(idx)
	o.path = append(o.path[:0], 0)
	o.pin.Pin(&o.path[0])
	o.pin.Pin(&o.statx)
	defer o.pin.Unpin()
	var sqe uring.SQE
	sqe.PrepStatx(fd, &o.path[0], unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, unsafe.Pointer(&o.statx))
	res, ctxDone, err := d.run(ctx, o, idx, int32(fd), &sqe, false)
	if _, err := d.finish(res, ctxDone, ctx, err); err != nil {
		return unix.Stat_t{}, err
	}
	return statxToStat(&o.statx), nil
}

func (d *uringDriver) CancelFD(fd int) {
	if checkFD(fd) != nil {
		return
	}
	key := int32(fd)
	for {
		d.mu.Lock()
		st, idle := d.track.fdIdle(key)
		if st == nil {
			d.mu.Unlock()
			return
		}
		seq := st.seq
		d.mu.Unlock()

		cancelled := d.cancelWait(fd, uring.AsyncCancelFd|uring.AsyncCancelAll, true)

		d.mu.Lock()
		again := cancelled && d.track.fds[key] == st && st.seq != seq
		d.mu.Unlock()
		if !again {
			// Every op that was in flight when the cancel was queued was
			// submitted before it, so it has been cancelled, is
			// completing on its own, or was running and may have re-armed
			// itself (EALREADY): repeat the cancel until none is left.
			d.waitCancelling(idle, fd, uring.AsyncCancelFd|uring.AsyncCancelAll, true)
			return
		}
		// Ops were started on fd while the cancel was queued; the cancel
		// may have missed them. Cancel again.
	}
}

// waitCancelling waits until idle is closed, repeating the cancel
// request (fd, flags) with a growing pause meanwhile, for requests that
// were running when the previous one came and re-armed themselves.
func (d *uringDriver) waitCancelling(idle chan struct{}, fd int, flags uint32, stoppable bool) {
	untilClosed(idle, time.Millisecond, 100*time.Millisecond, func() bool {
		return d.cancelWait(fd, flags, stoppable)
	})
}

func (d *uringDriver) Close(fd int) error {
	if err := checkFD(fd); err != nil {
		return err
	}
	d.CancelFD(fd)
	d.kinds.Delete(int32(fd))
	// A plain close(2): after CancelFD the ring holds no reference to fd
	// that an IORING_OP_CLOSE would have to order against, and the
	// system call is cheaper than a ring round trip.
	if err := unix.Close(fd); err != nil {
		return err
	}
	return nil
}

func (d *uringDriver) Shutdown() error {
	d.shutOnce.Do(func() {
		d.isClosed.Store(true)
		d.mu.Lock()
		d.closed = true
		idle := d.track.allIdle()
		d.mu.Unlock()
		if idle != nil {
			d.cancelWait(0, uring.AsyncCancelAny|uring.AsyncCancelAll, false)
			d.waitCancelling(idle, 0, uring.AsyncCancelAny|uring.AsyncCancelAll, false)
		}
		close(d.stopping)
		// Wait for the cancel records too (fire-and-forget cancels whose
		// CQE is still due), so that the ring is quiet when it closes.
		for i := 0; i < cap(d.slab.freeCncls); i++ {
			<-d.slab.freeCncls
		}
		stop := uring.SQE{UserData: udStop}
		stop.PrepNop()
		d.mu.Lock()
		d.submitLocked(&stop)
		<-d.reaperDone
		d.shutErr = d.ring.Close()
		if d.wakeFd >= 0 {
			unix.Close(d.wakeFd)
			d.wakePin.Unpin()
		}
	})
	return d.shutErr
}

// doneErr returns ctx.Err() if ctx is done. Unlike calling ctx.Err()
// directly, it takes no lock when ctx is not done.
func doneErr(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

// checkPath rejects paths the kernel cannot be given.
func checkPath(path string) error {
	for i := 0; i < len(path); i++ {
		if path[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
