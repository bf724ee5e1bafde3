package sched

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketBounds(t *testing.T) {
	for _, v := range []uint64{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 1000, 1 << 40, 1<<63 + 12345, 1<<64 - 1} {
		i := bucket(v)
		if i >= histBuckets {
			t.Fatalf("bucket(%d) = %d, past the last bucket", v, i)
		}
		if lo, hi := lower(i), lower(i+1); float64(v) < lo || (float64(v) >= hi && v < 1<<63) {
			t.Errorf("bucket(%d) = %d, whose range starts at %g and the next at %g", v, i, lo, lower(i+1))
		}
	}
	for i := 1; i < histBuckets; i++ {
		if lower(i) <= lower(i-1) {
			t.Fatalf("lower(%d) = %g is not above lower(%d) = %g", i, lower(i), i-1, lower(i-1))
		}
	}
}

func TestQuantileWithinABucket(t *testing.T) {
	// Quantile estimates are in ticks converted by the clock package;
	// compare them in ticks through the bucket arithmetic instead.
	r := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	var h Histogram
	for range 10000 {
		v := int64(r.ExpFloat64() * 1e5)
		vals = append(vals, v)
		h.add(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := vals[int(q*float64(len(vals)))-1]
		b := bucket(uint64(want))
		// The estimate lies in the same bucket or the next, where the
		// interpolation may cross.
		lo, hi := lower(max(b-1, 0)), lower(b+2)
		got := h.quantile(q)
		if got < lo || got > hi {
			t.Errorf("quantile %v: %v ticks, want near %d (bucket %d: [%g, %g))", q, got, want, b, lower(b), lower(b+1))
		}
	}
	if h.Count() != 10000 {
		t.Errorf("Count = %d", h.Count())
	}
}
