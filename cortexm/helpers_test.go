package cortexm_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

// rig is an executor on a simulated MCU whose every line's handler is the
// executor's OnInterrupt, with a log of the polls made.
type rig struct {
	t   testing.TB
	mcu *sim.MCU
	ex  *cortexm.Executor
	log []string
}

func newRig(t testing.TB, slots, lines int) *rig {
	r := &rig{t: t, mcu: sim.New(lines, 256)}
	r.ex = cortexm.NewExecutor(r.mcu, make([]cortexm.Slot, slots), make([]cortexm.WakerList, lines))
	for l := range lines {
		r.mcu.Handle(cortexm.Line(l), r.ex.OnInterrupt)
	}
	return r
}

// step is one poll's behaviour of a scripted task.
type step func(ex *cortexm.Executor, id cortexm.TaskID) (done bool)

// scripted is a task that logs its name on each poll and then runs the
// next step of its script, the last one again once the script runs out.
type scripted struct {
	r     *rig
	name  string
	steps []step
	polls int
}

func (s *scripted) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if !s.r.mcu.Masked() {
		s.r.t.Errorf("%s polled with interrupts unmasked", s.name)
	}
	s.r.log = append(s.r.log, s.name)
	st := s.steps[min(s.polls, len(s.steps)-1)]
	s.polls++
	return st(ex, id)
}

// spawn spawns a scripted task and fails the test on error.
func (r *rig) spawn(name string, steps ...step) cortexm.TaskID {
	r.t.Helper()
	id, err := r.ex.Spawn(&scripted{r: r, name: name, steps: steps})
	if err != nil {
		r.t.Fatalf("Spawn(%s): %v", name, err)
	}
	return id
}

// expect checks the polls logged since the last expect, and the
// executor's invariants.
func (r *rig) expect(want ...string) {
	r.t.Helper()
	if !slices.Equal(r.log, want) {
		r.t.Errorf("polls [%s], want [%s]", strings.Join(r.log, " "), strings.Join(want, " "))
	}
	r.log = r.log[:0]
	if err := r.ex.CheckInvariants(); err != nil {
		r.t.Errorf("invariants: %v", err)
	}
}

// wait returns a step that waits on lines and stays pending.
func wait(lines ...cortexm.Line) step {
	return func(ex *cortexm.Executor, id cortexm.TaskID) bool {
		for _, l := range lines {
			ex.Wait(id, l)
		}
		return false
	}
}

// finish is a step that completes the task.
func finish(*cortexm.Executor, cortexm.TaskID) bool { return true }

// then returns a step that runs f and then s.
func then(f func(ex *cortexm.Executor, id cortexm.TaskID), s step) step {
	return func(ex *cortexm.Executor, id cortexm.TaskID) bool {
		f(ex, id)
		return s(ex, id)
	}
}
