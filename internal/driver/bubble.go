package driver

import (
	"time"

	"golang.org/x/sys/unix"
)

// inBubble reports whether the calling goroutine runs in a testing/synctest
// bubble. There, the uring backend cannot work: its completion thread,
// started by the first I/O, would be a member of the bubble, and a member
// waiting in a system call is not durably blocked, so the bubble would
// never go idle and its fake clock never advance.
//
// There is no API to ask, so it compares the clocks: inside a bubble
// time.Now reads the bubble's fake clock, which starts at midnight UTC
// 2000-01-01 (the testing/synctest documentation) and moves only when
// the bubble is idle, while the kernel's CLOCK_REALTIME, read by a system
// call, is the real time. Outside a bubble both read the same clock, so
// time.Now falls between two readings of it (a second's slack allows for
// preemption between the calls; taking the two readings around it allows
// for a clock step). A bubble is missed only if a test has advanced its
// fake clock to within a second of the real time; the cost is two system
// calls, once per driver open.
func inBubble() bool {
	var a, b unix.Timespec
	if unix.ClockGettime(unix.CLOCK_REALTIME, &a) != nil {
		return false
	}
	now := time.Now()
	if unix.ClockGettime(unix.CLOCK_REALTIME, &b) != nil {
		return false
	}
	lo, hi := time.Unix(a.Unix()), time.Unix(b.Unix())
	if hi.Before(lo) {
		lo, hi = hi, lo
	}
	return now.Before(lo.Add(-time.Second)) || now.After(hi.Add(time.Second))
}

// bubbleReason is the Reason of the portable backend chosen in a bubble.
const bubbleReason = "in a testing/synctest bubble, where io_uring's completion thread would keep the bubble from going idle"
