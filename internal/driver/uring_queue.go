package driver

import (
	"context"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// testHookSubmitted, if set, runs after an op was queued for submission
// and before its caller starts waiting.
var testHookSubmitted func()

// acquire takes a free op record, waiting while all are in flight (this
// bounds in-flight requests by what the CQ can hold). It gives up if ctx
// is done first.
func (d *uringDriver) acquire(ctx context.Context) (*op, uint32, error) {
	if d.isClosed.Load() {
		return nil, 0, ErrClosed
	}
	select {
	case idx := <-d.slab.freeOps:
		return d.slab.op(idx), idx, nil
	default:
	}
	select {
	case idx := <-d.slab.freeOps:
		return d.slab.op(idx), idx, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// acquireWaiting is acquire for an operation that waits for a peer (a
// receive, an accept): its record comes from the slab's table of waiting
// records, so that idle connections never hold the records that other
// operations need.
func (d *uringDriver) acquireWaiting(ctx context.Context) (*op, uint32, error) {
	if d.isClosed.Load() {
		return nil, 0, ErrClosed
	}
	select {
	case d.slab.waitSlots <- struct{}{}:
	default:
		select {
		case d.slab.waitSlots <- struct{}{}:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	idx := d.slab.takeWaiting()
	return d.slab.op(idx), idx, nil
}

// outcome is how a request made by run ended: with err set if it was
// not made (ctx done first, the driver closed), else with the CQE's
// result res (-ECANCELED if the driver closed before a retry); ctxDone
// says ctx was done, so the request was cancelled or never made.
type outcome struct {
	res     int32
	ctxDone bool
	err     error
}

// completedAfterCancel reports whether the request succeeded although ctx
// had cancelled it: a descriptor it created (open, accept) has no owner
// and must be closed.
func (r outcome) completedAfterCancel() bool { return r.err == nil && r.ctxDone && r.res >= 0 }

// run submits sqe, the request of record idx, on behalf of descriptor fd
// and waits for its completion, cancelling it if ctx is done first. The
// record stays owned by the caller, which releases it.
//
// With retryAgain (reads, writes, receives, sends, accepts), a result of
// EAGAIN is not returned but the request made again: the kernel can fail
// such a request on a non-blocking descriptor although it waited for
// readiness (another reader took the data between the wake-up and the
// retry; io_uring then hands the request to a worker, where O_NONBLOCK
// forbids waiting), which is no answer for a caller that asked to wait.
// The op stays counted in flight across the retry, and the retry counts
// as a new op on fd, so a concurrent CancelFD cancels it too.
func (d *uringDriver) run(ctx context.Context, o *op, idx uint32, fd int32, sqe *uring.SQE, retryAgain bool) outcome {
	if err := doneErr(ctx); err != nil {
		return outcome{ctxDone: true, err: err}
	}
	st, err := d.start(o, idx, fd, sqe)
	if err != nil {
		return outcome{err: err}
	}
	defer d.end(fd, st)

	if testHookSubmitted != nil {
		testHookSubmitted()
	}
	ctxDone := false
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
			return outcome{res: o.res, ctxDone: ctxDone}
		}
		// Make the request again under a new generation of the record.
		o.gen.Add(1)
		sqe.UserData = d.slab.ud(idx)
		o.state.Store(stateWait)
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			o.state.Store(stateIdle)
			return outcome{res: -int32(syscall.ECANCELED)}
		}
		st.seq++
		d.submitUnlock(sqe)
	}
}

// start queues sqe as the request of record idx, counted against fd, for
// its owner to wait on.
func (d *uringDriver) start(o *op, idx uint32, fd int32, sqe *uring.SQE) (*fdState, error) {
	o.fd = fd
	sqe.UserData = d.slab.ud(idx)
	o.state.Store(stateWait)
	d.mu.Lock()
	st, err := d.beginLocked(fd)
	if err != nil {
		d.mu.Unlock()
		o.state.Store(stateIdle)
		return nil, err
	}
	d.submitUnlock(sqe)
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

// submitUnlock queues sqe (copied) for the kernel and unlocks mu: the
// caller must hold mu, and submitUnlock returns with it released. It
// never holds mu inside io_uring_enter, so others queue meanwhile.
//
// Single issuer: the completion thread submits; wake it if it sleeps.
// Shared: if no other goroutine is submitting, the caller becomes the
// submitter and enters the kernel until the backlog is empty (flat
// combining: while it is in the kernel, others queue behind it, and its
// next enter carries them all).
func (d *uringDriver) submitUnlock(sqe *uring.SQE) {
	d.backlog = append(d.backlog, *sqe)
	if d.cfg.singleIssuer {
		d.wakeIssuerUnlock()
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
			if d.cfg.pollReap {
				// What the enters completed at once (a receive that
				// found data), and the task work they ran on this
				// thread, is in the CQ: deliver it now rather than
				// through the poller.
				d.reapCQ(false)
			}
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

// wakeIssuerUnlock unlocks mu and wakes the completion thread of a
// single-issuer ring if it sleeps in the kernel, for it to submit the
// backlog or run the queued calls. The caller holds mu.
func (d *uringDriver) wakeIssuerUnlock() {
	wake := d.sleeping
	d.sleeping = false
	d.mu.Unlock()
	if wake {
		one := uint64(1)
		unix.Write(d.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
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
		d.submitCancel(idx, target, 0, 0)
		c := d.slab.op(idx)
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
	d.submitCancel(idx, 0, fd, flags)
	<-d.slab.op(idx).done
	d.slab.release(idx)
	return true
}

// submitCancel queues an IORING_OP_ASYNC_CANCEL in cancel record idx.
func (d *uringDriver) submitCancel(idx uint32, target uint64, fd int, flags uint32) {
	c := d.slab.op(idx)
	var sqe uring.SQE
	sqe.PrepCancel(target, fd, flags)
	sqe.UserData = d.slab.ud(idx)
	c.state.Store(stateWait)
	d.cancelled.Add(1)
	d.mu.Lock()
	d.submitUnlock(&sqe)
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
	d.startThreadCPU()
	defer d.endThreadCPU()
	ready <- nil
	if d.cfg.singleIssuer {
		d.loopSingleIssuer()
		d.endCalls()
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
// goroutines enter the kernel themselves (submitUnlock).
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
		calls := d.calls // run below, with mu released
		d.calls = nil
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
		// Calls queued from now on wake us like a submission: sleeping
		// is set.
		for _, c := range calls {
			c.done <- c.fn()
		}

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
	switch o.state.Swap(stateIdle) {
	case stateWait:
		o.res, o.flags = res, flags
		o.done <- struct{}{} // buffered: never blocks
	default:
		// A second CQE for a one-shot request: ignore it.
		d.stale.Add(1)
	}
}

// result turns r into the op methods' (n, error) convention.
func (r outcome) result(ctx context.Context) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.res >= 0 {
		return int(r.res), nil
	}
	errno := syscall.Errno(-r.res)
	// EAGAIN: a cancelled request the kernel had failed as in run's
	// retryAgain. None of these transferred anything.
	if r.ctxDone && (errno == syscall.ECANCELED || errno == syscall.EINTR || errno == syscall.EAGAIN) {
		return 0, ctx.Err()
	}
	return 0, errno
}

// finish is r.result(ctx), with a request cancelled by Shutdown reported
// as ErrClosed.
func (d *uringDriver) finish(ctx context.Context, r outcome) (int, error) {
	n, err := r.result(ctx)
	if err == syscall.ECANCELED && d.isClosed.Load() {
		err = ErrClosed
	}
	return n, err
}

func (d *uringDriver) CancelFD(fd int) {
	if checkFD(fd) != nil {
		return
	}
	if s := d.sock.Load(); s != nil {
		s.CancelFD(fd)
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
