package executor

import "time"

// inSynctestBubble reports whether the calling goroutine runs in a
// testing/synctest bubble, cheaply enough for every Sleep: inside one,
// time.Now reads the bubble's fake clock and carries no monotonic reading
// (the runtime omits it there), so stripping the monotonic reading changes
// nothing. Outside a bubble time.Now always has one (until the year 2157).
// The driver's one-off check at open (internal/driver) compares clocks
// instead; TestInSynctestBubble and TestSynctestWithDefaultOptions fail if
// either stops working.
func inSynctestBubble() bool {
	now := time.Now()
	return now == now.Round(0)
}
