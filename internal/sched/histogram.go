package sched

import (
	"math"
	"math/bits"
	"time"

	"github.com/executor-go/executor/internal/clock"
)

// Histogram counts durations, measured in clock ticks, in buckets four to
// a power of two: a bucket's width is a quarter of its lower bound or less,
// so a quantile read from it is within 25% of the truth. Adding a value is
// a few instructions and never allocates.
type Histogram struct {
	count   int64
	sum     int64 // ticks
	max     int64 // ticks
	buckets [histBuckets]uint64
}

// histBuckets covers every uint64: the last bucket holds 7<<61 and up.
const histBuckets = 4*62 + 4

// bucket returns the index of v's bucket: v itself below 4, then four per
// power of two.
func bucket(v uint64) int {
	if v < 4 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // 2 or more
	return 4*(e-1) + int(v>>(e-2)&3)
}

// lower returns the smallest value of bucket i (as a float64, since the
// bound past the last bucket is 2**64).
func lower(i int) float64 {
	if i < 4 {
		return float64(i)
	}
	e := i/4 + 1
	return math.Ldexp(float64(4+i%4), e-2)
}

func (h *Histogram) add(d int64) {
	d = max(d, 0)
	h.count++
	h.sum += d
	h.max = max(h.max, d)
	h.buckets[bucket(uint64(d))]++
}

// Count returns how many durations h holds.
func (h *Histogram) Count() int64 { return h.count }

// Sum returns the durations added up.
func (h *Histogram) Sum() time.Duration { return clock.Duration(h.sum) }

// Max returns the longest duration.
func (h *Histogram) Max() time.Duration { return clock.Duration(h.max) }

// Quantile returns an estimate of the q-quantile (0 < q <= 1), found by
// interpolating inside its bucket; 0 when h is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	return min(clock.Duration(int64(h.quantile(q))), h.Max())
}

// quantile is Quantile in ticks.
func (h *Histogram) quantile(q float64) float64 {
	rank := q * float64(h.count) // the rank-th smallest value, from 1
	var seen float64
	for i, n := range h.buckets {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo, hi := lower(i), lower(i+1)
			return lo + (hi-lo)*max(0, rank-seen)/float64(n)
		}
		seen += float64(n)
	}
	return float64(h.max)
}
