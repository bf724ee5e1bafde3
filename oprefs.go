package executor

import (
	"sync/atomic"
	"time"
)

// opRefs counts the operations in progress on a descriptor (a File, a
// Listener, a Conn) so that Close can cancel them and wait for them before
// it closes the descriptor: its number must not be reused while an
// operation could still start on it.
//
// The count and the closing flag share one atomic word, so that counting an
// operation in and out costs two atomic adds and no lock: many tasks read
// one File at once, and a mutex there was a measurable share of a
// page-cache read.
type opRefs struct {
	state  atomic.Int64  // closingBit | operations counted in
	closed atomic.Bool   // close has been called
	woken  atomic.Bool   // done has been closed
	done   chan struct{} // made by close before it sets closingBit; closed when the count reaches 0
}

const closingBit = 1 << 62

// acquire counts an operation in; false if close has begun.
func (r *opRefs) acquire() bool {
	if r.state.Add(1)&closingBit != 0 {
		r.release() // too late: count this one out again
		return false
	}
	return true
}

// release counts an operation out, waking close after the last one.
func (r *opRefs) release() {
	// Seeing closingBit in the result means close wrote done before it set
	// the bit: the atomic add orders the two.
	if r.state.Add(-1) == closingBit && r.woken.CompareAndSwap(false, true) {
		close(r.done)
	}
}

func (r *opRefs) isClosing() bool { return r.state.Load()&closingBit != 0 }

// close marks the descriptor closing and calls cancel until every operation
// counted in has returned. It reports false if close was called before.
func (r *opRefs) close(cancel func()) bool {
	if !r.closed.CompareAndSwap(false, true) {
		return false
	}
	r.done = make(chan struct{})
	if r.state.Add(closingBit) == closingBit {
		return true // nothing in progress; latecomers see the flag
	}
	// An operation counted in may not have reached the driver yet when a
	// cancel goes out, so cancel until every one has returned.
	backoff := 50 * time.Microsecond
	for {
		cancel()
		timer := time.NewTimer(backoff)
		select {
		case <-r.done:
			timer.Stop()
			return true
		case <-timer.C:
			backoff = min(2*backoff, 10*time.Millisecond)
		}
	}
}
