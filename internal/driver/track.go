package driver

import "time"

// tracker counts the ops in flight, per descriptor and in total, so that
// CancelFD and Shutdown can wait for them to end. Both backends embed one
// and call its methods with their mutex held.
type tracker struct {
	fds      map[int32]*fdState
	inflight int
	idle     chan struct{} // closed when inflight drops to 0, if Shutdown waits
}

// fdState is what a tracker knows about one descriptor.
type fdState struct {
	n    int
	seq  uint64        // ops started on the fd while this state existed
	gen  uint64        // portable: bumped by CancelFD, cancels ops started before
	idle chan struct{} // closed when n drops to 0, if CancelFD waits

	// portable: ops of this fd waiting in poll(2).
	waiters map[*waiter]struct{}
}

// begin counts one more op on fd.
func (t *tracker) begin(fd int32) *fdState {
	if t.fds == nil {
		t.fds = make(map[int32]*fdState)
	}
	st := t.fds[fd]
	if st == nil {
		st = &fdState{}
		t.fds[fd] = st
	}
	st.n++
	st.seq++
	t.inflight++
	return st
}

// end counts the op begun on fd with state st as ended, and wakes
// CancelFD and Shutdown if it was the last.
func (t *tracker) end(fd int32, st *fdState) {
	st.n--
	if st.n == 0 {
		if t.fds[fd] == st {
			delete(t.fds, fd)
		}
		if st.idle != nil {
			close(st.idle)
		}
	}
	t.inflight--
	if t.inflight == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// fdIdle returns fd's state and a channel closed when no op is in flight
// on it, or nil, nil if none is.
func (t *tracker) fdIdle(fd int32) (*fdState, chan struct{}) {
	st := t.fds[fd]
	if st == nil {
		return nil, nil
	}
	if st.idle == nil {
		st.idle = make(chan struct{})
	}
	return st, st.idle
}

// allIdle returns a channel closed when no op is in flight, or nil if
// none is.
func (t *tracker) allIdle() chan struct{} {
	if t.inflight == 0 {
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// untilClosed waits for done to be closed, calling again in between after
// a pause that doubles from first up to limit: a cancellation repeated
// until the ops it targets have ended. Once again returns false, it just
// waits.
func untilClosed(done <-chan struct{}, first, limit time.Duration, again func() bool) {
	backoff := first
	for {
		t := time.NewTimer(backoff)
		select {
		case <-done:
			t.Stop()
			return
		case <-t.C:
		}
		if !again() {
			<-done
			return
		}
		backoff = min(2*backoff, limit)
	}
}
