package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// maxRounds bounds -rounds, in every subcommand.
const maxRounds = 20

// checkRounds checks the value of -rounds.
func checkRounds(n int) error {
	if n < 1 || n > maxRounds {
		return usageError{fmt.Errorf("-rounds %d: want between 1 and %d", n, maxRounds)}
	}
	return nil
}

// Every table runs its cells in interleaved rounds (each round runs every
// cell once, so that contenders share the machine's slow and fast moments
// alike) and reports, for each contender, the median of its rounds. The
// helpers below are shared by the file, echo and task tables: a row's
// ratio is the median of its rounds' ratios to the anchor in the same
// round, and its other figures are those of its median round.

// roundFigures returns fig of each round of rs that has one (fig > 0; an
// unavailable round has none), in round order, and their indexes in rs.
func roundFigures[T any](rs []T, fig func(T) float64) (vs []float64, idx []int) {
	for k, r := range rs {
		if v := fig(r); v > 0 {
			vs = append(vs, v)
			idx = append(idx, k)
		}
	}
	return vs, idx
}

// medianRound returns the index in rs of its median round by fig among the
// rounds that have one, or -1 if none has.
func medianRound[T any](rs []T, fig func(T) float64) int {
	vs, idx := roundFigures(rs, fig)
	if len(vs) == 0 {
		return -1
	}
	return idx[medianIndex(vs)]
}

// roundRatios returns fig(rs[k]) / fig(anchor[k]) for each round k in
// which both have the figure, in round order: a ratio is always of two
// figures measured in the same round.
func roundRatios[T any](rs, anchor []T, fig func(T) float64) []float64 {
	var out []float64
	for k := range min(len(rs), len(anchor)) {
		if a, v := fig(anchor[k]), fig(rs[k]); a > 0 && v > 0 {
			out = append(out, v/a)
		}
	}
	return out
}

// summarize reduces one contender's rounds rs to its median round by fig,
// and, for each anchor (an anchor's rounds, in the same order as rs), the
// same-round ratios of fig to the anchor's. ok is false if no round has
// the figure. figs are the rounds' figures, in order.
func summarize[T any](rs []T, fig func(T) float64, anchors ...[]T) (row T, figs []float64, ratios [][]float64, ok bool) {
	k := medianRound(rs, fig)
	if k < 0 {
		return row, nil, nil, false
	}
	figs, _ = roundFigures(rs, fig)
	for _, a := range anchors {
		ratios = append(ratios, roundRatios(rs, a, fig))
	}
	return rs[k], figs, ratios, true
}

// medianIndex returns the index of the median of vs (the lower of the two
// middle values for an even count), which must not be empty.
func medianIndex(vs []float64) int {
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(vs[a], vs[b]) })
	return idx[(len(vs)-1)/2]
}

// median returns the median of vs (see medianIndex), or nil if vs is empty.
func median(vs []float64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	return ptr(vs[medianIndex(vs)])
}

// withRange formats a median with prec decimals followed by the range of
// the rounds it is the median of, "0.84 (0.81–0.86)"; the median alone if
// there is one round or they all agree to prec; "-" for nil.
func withRange(m *float64, rounds []float64, prec int) string {
	if m == nil {
		return "-"
	}
	s := strconv.FormatFloat(*m, 'f', prec, 64)
	if len(rounds) < 2 {
		return s
	}
	lo := strconv.FormatFloat(slices.Min(rounds), 'f', prec, 64)
	hi := strconv.FormatFloat(slices.Max(rounds), 'f', prec, 64)
	if lo == hi {
		return s
	}
	return s + " (" + lo + "–" + hi + ")"
}
