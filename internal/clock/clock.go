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
var base, baseTicks = anchor()

// anchor reads both clocks back to back.
func anchor() (time.Time, int64) {
	t := time.Now()
	if !useTSC {
		return t, 0
	}
	return t, int64(rdtsc())
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
	elapsed, ticks := time.Since(base), Now()-baseTicks
	if ticks <= 0 {
		return 1
	}
	r := float64(elapsed) / float64(ticks)
	if elapsed >= keepAfter {
		nsPerTick.Store(math.Float64bits(r))
	}
	return r
}

// Scale converts readings with one measurement of the tick's length, so
// that the conversions of several readings keep their order. (Until the
// length is kept, a second after start-up, each measurement differs
// slightly from the last.)
type Scale struct{ nsPerTick float64 }

// Current returns the scale of the latest measurement.
func Current() Scale { return Scale{rate()} }

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
	d := ticks - baseTicks
	if d < 0 {
		return base.Add(-s.Duration(-d))
	}
	return base.Add(s.Duration(d))
}

// Duration is Current().Duration.
func Duration(ticks int64) time.Duration { return Current().Duration(ticks) }

// Time is Current().Time.
func Time(ticks int64) time.Time { return Current().Time(ticks) }
