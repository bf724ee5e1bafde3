//go:build !tinygo

// TinyGo's testing.F cannot run a fuzz target (its Fuzz fails the test):
// there TestFuzzSeeds runs the seeds.

package cortexm_test

import "testing"

// FuzzExecutor drives random sequences of spawns, waits, removals, wakes,
// interrupts (masked and unmasked, from handlers and from polls), with
// tasks that act on themselves and on each other from inside polls, and
// checks the executor's invariants after each step: every node's list,
// prev and next consistent; no task on two lists for one line; a poll
// starts with no registration; each waiting task polled exactly once, in
// registration order, per interrupt; latches set and consumed; finished
// tasks never polled; no wake-up lost.
func FuzzExecutor(f *testing.F) {
	for _, data := range fzSeeds {
		f.Add(data)
	}
	f.Fuzz(runFuzzInput)
}
