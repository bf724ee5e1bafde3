package clock

import (
	"math"
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

// TestTimeOfRecentReadingIgnoresRateError: the counter's rate, measured
// once, may differ a little from the time package's clock (NTP slews the
// latter). A reading taken just now converts to just now whatever the
// process's age, and never to a time after the conversion.
func TestTimeOfRecentReadingIgnoresRateError(t *testing.T) {
	if !useTSC {
		t.Skip("the clock is the time package's: no rate to get wrong")
	}
	time.Sleep(50 * time.Millisecond) // an age at start-up to go wrong over
	kept := nsPerTick.Load()
	defer nsPerTick.Store(kept)
	r := rate()
	nsPerTick.Store(math.Float64bits(r * 1.01)) // 1% off: 500 µs over 50 ms

	before := time.Now()
	reading := Now()
	ts := Time(reading)
	after := time.Now()
	const slack = 5 * time.Microsecond
	if ts.Before(before.Add(-slack)) || ts.After(after) {
		t.Errorf("Time(Now()) with the rate 1%% off = %v, not within [%v, %v]", ts, before, after)
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
