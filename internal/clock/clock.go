// Package clock is a cheap monotonic clock for the scheduler's timestamps.
//
// The scheduler stamps every change of a task's state (spawned, queued for
// a worker, running, waiting) and times every wait. Reading the time
// through the time package costs one vDSO clock_gettime call, which on a
// virtual machine's kvm-clock measured about 2.5 times the cost of reading
// the CPU's time-stamp counter directly; on a Yield hand-off of a few
// hundred nanoseconds that difference is the scheduler's whole budget for
// bookkeeping. So on amd64 Now reads the time-stamp counter when the kernel
// itself trusts it (its clock source is "tsc" or "kvm-clock", both built on
// it), and elsewhere the monotonic clock of the time package.
//
// Readings are ticks: nanoseconds, or counter cycles whose length Duration
// and Time measure against the time package's clock the first time they
// are asked after the process has run for a while.
package clock

import (
	"math"
	"sync/atomic"
	"time"
)

// base is the time package's reading at start-up, to which tick readings
// are related; baseTicks is Now at the same moment.
var base, baseTicks = start()

// start is anchor at start-up, where ticks without the counter count from
// base.
func start() (time.Time, int64) {
	if !useTSC {
		return time.Now(), 0
	}
	return anchorTSC()
}

// anchor reads both clocks back to back: the time package's between two
// readings of the counter, whose midpoint it returns, retrying a few times
// if the thread was interrupted in between, so that the pair is the same
// moment to within a microsecond or so.
func anchor() (time.Time, int64) {
	if !useTSC {
		t := time.Now()
		return t, int64(t.Sub(base))
	}
	return anchorTSC()
}

// anchorTSC is anchor with the counter.
func anchorTSC() (time.Time, int64) {
	var t time.Time
	var mid int64
	best := int64(math.MaxInt64)
	for range 4 {
		a := int64(rdtsc())
		now := time.Now()
		b := int64(rdtsc())
		if b-a < best {
			best, t, mid = b-a, now, a+(b-a)/2
		}
		if best < 4096 { // about a microsecond at any clock rate in use
			break
		}
	}
	return t, mid
}

// nsPerTick is the length of a tick in nanoseconds, as float64 bits; 0
// until it has been measured over a long enough interval to keep.
var nsPerTick atomic.Uint64

// keepAfter is how long the counter is measured before its rate is kept:
// reading both clocks costs about 100 ns, so a second makes the rate
// accurate to a few parts in ten million.
const keepAfter = time.Second

// Now returns the current time in ticks.
func Now() int64 {
	if useTSC {
		return int64(rdtsc())
	}
	return int64(time.Since(base)) // base and baseTicks: 0 ticks is base
}

// rate returns the length of a tick in nanoseconds.
func rate() float64 {
	if !useTSC {
		return 1
	}
	if r := nsPerTick.Load(); r != 0 {
		return math.Float64frombits(r)
	}
	t, now := anchor()
	elapsed, ticks := t.Sub(base), now-baseTicks
	if ticks <= 0 {
		return 1
	}
	r := float64(elapsed) / float64(ticks)
	if elapsed >= keepAfter {
		nsPerTick.Store(math.Float64bits(r))
	}
	return r
}

// Scale converts readings with one measurement of the tick's length and
// one anchor, so that the conversions of several readings keep their
// order. (Until the length is kept, a second after start-up, each
// measurement differs slightly from the last.)
//
// Times are converted from the moment Current was called, not from
// start-up: a reading d ago becomes that moment minus d. The counter and
// the time package's clock need not run at quite the same rate (NTP slews
// the latter by up to 500 ppm; the tick's length is measured once), so
// converting from start-up would let the error grow with the process's
// age, until a task's stamps, converted, lay after a time.Now read later
// (it did, by 200 µs, a minute into a loaded test run). From the moment
// of conversion, the error is the rate's error over the reading's age
// only, and a reading never converts to a time after that moment.
type Scale struct {
	nsPerTick float64
	at        time.Time // the moment of the conversion
	atTicks   int64     // Now at that moment
}

// Current returns the scale of the latest measurement, anchored now.
func Current() Scale {
	r := rate()
	t, ticks := anchor()
	return Scale{nsPerTick: r, at: t, atTicks: ticks}
}

// Duration converts a difference of two readings to a duration; a negative
// difference (two cores' counters a few cycles apart) is zero.
func (s Scale) Duration(ticks int64) time.Duration {
	if ticks <= 0 {
		return 0
	}
	return time.Duration(float64(ticks) * s.nsPerTick)
}

// Time converts a reading to a time.Time that carries a monotonic clock
// reading, so that time.Since and Sub on it are exact.
func (s Scale) Time(ticks int64) time.Time {
	d := s.atTicks - ticks
	if d < 0 {
		return s.at.Add(s.Duration(-d))
	}
	return s.at.Add(-s.Duration(d))
}

// Duration converts a difference of two readings with the latest
// measurement of the tick's length, as Current().Duration does, without
// reading the clocks for an anchor that a duration does not use.
func Duration(ticks int64) time.Duration { return Scale{nsPerTick: rate()}.Duration(ticks) }

// Time is Current().Time.
func Time(ticks int64) time.Time { return Current().Time(ticks) }
