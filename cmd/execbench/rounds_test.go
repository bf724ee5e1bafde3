package main

import (
	"slices"
	"testing"
)

func TestRoundHelpers(t *testing.T) {
	fig := func(v float64) float64 { return v }
	// Round 2 of the contender and round 3 of the anchor are missing (0).
	rs := []float64{100, 300, 0, 200, 50}
	anchor := []float64{100, 100, 100, 0, 25}
	if vs, idx := roundFigures(rs, fig); !slices.Equal(vs, []float64{100, 300, 200, 50}) || !slices.Equal(idx, []int{0, 1, 3, 4}) {
		t.Errorf("roundFigures = %v, %v", vs, idx)
	}
	// Sorted 50, 100, 200, 300: the lower middle, 100, is round 0.
	if k := medianRound(rs, fig); k != 0 {
		t.Errorf("medianRound = %d, want 0", k)
	}
	if k := medianRound([]float64{0, 0}, fig); k != -1 {
		t.Errorf("medianRound of no figures = %d, want -1", k)
	}
	// Only rounds 0, 1 and 4 have both.
	if got := roundRatios(rs, anchor, fig); !slices.Equal(got, []float64{1, 3, 2}) {
		t.Errorf("roundRatios = %v", got)
	}
	// An anchor with fewer rounds (or none) gives fewer ratios.
	if got := roundRatios(rs, nil, fig); got != nil {
		t.Errorf("roundRatios without an anchor = %v", got)
	}
	row, figs, ratios, ok := summarize(rs, fig, anchor, nil)
	if !ok || row != 100 || !slices.Equal(figs, []float64{100, 300, 200, 50}) || len(ratios) != 2 ||
		!slices.Equal(ratios[0], []float64{1, 3, 2}) || ratios[1] != nil {
		t.Errorf("summarize = %v, %v, %v, %v", row, figs, ratios, ok)
	}
	if _, _, _, ok := summarize([]float64{0}, fig); ok {
		t.Error("summarize of a round without figures is ok")
	}
	if m := median([]float64{3, 1, 2}); m == nil || *m != 2 {
		t.Errorf("median = %v", m)
	}
	if median(nil) != nil {
		t.Error("median of nothing is not nil")
	}
}

func TestWithRange(t *testing.T) {
	for _, tt := range []struct {
		m      *float64
		rounds []float64
		want   string
	}{
		{nil, []float64{1, 2}, "-"},
		{ptr(0.844), nil, "0.84"},
		{ptr(0.844), []float64{0.844}, "0.84"},
		{ptr(0.844), []float64{0.81, 0.844, 0.86}, "0.84 (0.81–0.86)"},
		{ptr(1.0), []float64{1.001, 0.999, 1}, "1.00"}, // equal to the precision shown
	} {
		if got := withRange(tt.m, tt.rounds, 2); got != tt.want {
			t.Errorf("withRange(%v, %v) = %q, want %q", tt.m, tt.rounds, got, tt.want)
		}
	}
	if err := checkRounds(0); err == nil {
		t.Error("checkRounds(0) = nil")
	}
	if err := checkRounds(maxRounds); err != nil {
		t.Errorf("checkRounds(%d) = %v", maxRounds, err)
	}
}
