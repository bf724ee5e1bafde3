package clock

import (
	"testing"
	"time"
)

func TestTimeFollowsTheTimePackage(t *testing.T) {
	before := time.Now()
	start := Now()
	time.Sleep(20 * time.Millisecond)
	end := Now()
	after := time.Now()

	if d := Duration(end - start); d < 20*time.Millisecond || d > after.Sub(before)+time.Millisecond {
		t.Errorf("Duration over a 20ms sleep = %v; the time package saw %v", d, after.Sub(before))
	}
	// Readings convert to times inside the interval the time package saw,
	// give or take the conversion's rounding.
	const slack = 100 * time.Microsecond
	if ts := Time(start); ts.Before(before.Add(-slack)) || ts.After(after.Add(slack)) {
		t.Errorf("Time(start) = %v, not within [%v, %v]", ts, before, after)
	}
	if te := Time(end); te.Before(Time(start)) || te.After(after.Add(slack)) {
		t.Errorf("Time(end) = %v, before Time(start) or after %v", te, after)
	}
}

func TestDurationOfNegativeDifferenceIsZero(t *testing.T) {
	if d := Duration(-5); d != 0 {
		t.Errorf("Duration(-5) = %v; want 0", d)
	}
}

func BenchmarkNow(b *testing.B) {
	var s int64
	for range b.N {
		s += Now()
	}
	_ = s
}

func BenchmarkTimeSince(b *testing.B) {
	var s time.Duration
	for range b.N {
		s += time.Since(base)
	}
	_ = s
}
