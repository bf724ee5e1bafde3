package driver

import "time"

// InBubble reports whether the calling goroutine runs in a
// testing/synctest bubble. There, the uring backend cannot work: its
// completion thread, started by the first I/O, would be a member of the
// bubble, and a member waiting in a system call is not durably blocked, so
// the bubble would never go idle and its fake clock never advance. The
// executor also asks it at every Sleep, whose timer queue belongs to the
// bubble it was made in.
//
// There is no API to ask, but inside a bubble time.Now reads the bubble's
// fake clock and carries no monotonic reading (the runtime omits it
// there), so stripping the monotonic reading changes nothing; outside a
// bubble time.Now always has one (until the year 2157). No system call:
// cheap enough for every Sleep.
func InBubble() bool {
	now := time.Now()
	return now == now.Round(0)
}

// bubbleReason is the Reason of the portable backend chosen in a bubble.
const bubbleReason = "in a testing/synctest bubble, where io_uring's completion thread would keep the bubble from going idle"
