package cortexm_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

func TestInterruptPollsWaitersOnceInOrder(t *testing.T) {
	r := newRig(t, 4, 2)
	r.spawn("a", wait(0))
	r.spawn("b", wait(1))
	r.spawn("c", wait(0))
	r.ex.RunReady()
	r.expect("a", "b", "c")

	r.mcu.Raise(0)
	r.expect("a", "c")
	r.mcu.Raise(1)
	r.expect("b")
	r.mcu.Raise(1)
	r.mcu.Raise(0)
	r.expect("b", "a", "c")
	if got := r.ex.Stats(); got.Polls != 9 || got.Interrupts != 4 || got.Latched != 0 {
		t.Errorf("stats %+v, want 9 polls, 4 interrupts, 0 latched", got)
	}
}

func TestReRegistrationDuringPassWaitsForNextInterrupt(t *testing.T) {
	r := newRig(t, 2, 1)
	r.spawn("a", wait(0)) // re-registers at every poll
	r.spawn("b", wait(0))
	r.ex.RunReady()
	r.expect("a", "b")

	// a re-registers while b is still on the pass list: a is polled
	// once, not again in the same pass.
	r.mcu.Raise(0)
	r.expect("a", "b")
	if got := r.ex.Waiters(0); !slices.Equal(got, []cortexm.TaskID{0, 1}) {
		t.Errorf("waiters after the pass %v, want [0 1]", got)
	}
	r.mcu.Raise(0)
	r.expect("a", "b")
}

func TestNodeAddedDuringPassByAnotherTask(t *testing.T) {
	r := newRig(t, 3, 2)
	var c cortexm.TaskID
	r.spawn("a", wait(0), then(func(ex *cortexm.Executor, _ cortexm.TaskID) {
		// a registers c, which waits on nothing, on line 0 during the
		// pass: c waits for the next interrupt.
		ex.Wait(c, 0)
	}, finish))
	r.spawn("b", wait(0))
	c = r.spawn("c", wait())
	r.ex.RunReady()
	r.expect("a", "b", "c")

	r.mcu.Raise(0)
	r.expect("a", "b")
	// c registered (by a) before b re-registered.
	r.mcu.Raise(0)
	r.expect("c", "b")
}

func TestLatchedInterruptWakesLateWaiter(t *testing.T) {
	r := newRig(t, 2, 2)
	// Interrupts that fire while nobody waits are latched, and latch
	// once, like a pending bit.
	r.mcu.Raise(0)
	r.mcu.Raise(0)
	if !r.ex.Latched(0) {
		t.Fatal("line 0 not latched")
	}
	r.spawn("a", wait(0), finish)
	r.ex.RunReady()
	// The Wait consumed the latch and queued a for another poll instead
	// of registering it.
	r.expect("a")
	if r.ex.Latched(0) || r.ex.WaitingOn(0, 0) || !r.ex.Queued(0) {
		t.Errorf("after Wait on a latched line: latched %v, waiting %v, queued %v; want false, false, true",
			r.ex.Latched(0), r.ex.WaitingOn(0, 0), r.ex.Queued(0))
	}
	r.ex.RunReady()
	r.expect("a")
	if got := r.ex.Stats().Latched; got != 2 {
		t.Errorf("Stats.Latched %d, want 2", got)
	}
	if r.ex.Live() != 0 {
		t.Errorf("Live %d, want 0", r.ex.Live())
	}
}

func TestLatchIsPerLineAndConsumedOnce(t *testing.T) {
	r := newRig(t, 2, 2)
	r.mcu.Raise(1)
	r.spawn("a", wait(0, 1))
	r.spawn("b", wait(1))
	r.ex.RunReady()
	// a consumed line 1's latch and waits on line 0 only; b registered
	// normally on line 1.
	r.expect("a", "b")
	if !r.ex.Queued(0) || !r.ex.WaitingOn(0, 0) || r.ex.WaitingOn(0, 1) || !r.ex.WaitingOn(1, 1) {
		t.Error("latch of line 1 not consumed by a alone")
	}
	// a's second poll registers on both lines, behind b on line 1.
	r.ex.RunReady()
	r.expect("a")
	r.mcu.Raise(1)
	r.expect("b", "a")
}

func TestMaskedInterruptDeliveredOnRestore(t *testing.T) {
	r := newRig(t, 2, 2)
	r.spawn("a", wait(0))
	r.spawn("b", wait(1))
	r.ex.RunReady()
	r.expect("a", "b")

	st := r.mcu.Disable()
	r.mcu.Raise(1)
	r.mcu.Raise(0)
	r.expect()
	r.mcu.Restore(st)
	// Lowest line first, as the simulated NVIC's fixed priority says.
	r.expect("a", "b")
}

func TestCompletedTaskNeverPolledAgain(t *testing.T) {
	r := newRig(t, 1, 2)
	r.spawn("a", wait(0, 1), wait(1, 0), func(ex *cortexm.Executor, id cortexm.TaskID) bool {
		ex.Wait(id, 1) // registrations made by a finishing poll are dropped
		return true
	})
	r.ex.RunReady()
	r.mcu.Raise(0)
	r.mcu.Raise(1)
	r.expect("a", "a", "a")
	r.mcu.Raise(0)
	r.mcu.Raise(1)
	r.ex.RunReady()
	r.expect()
	if r.ex.Live() != 0 || r.ex.WaitingOn(0, 1) {
		t.Errorf("finished task: Live %d, waiting on 1 %v", r.ex.Live(), r.ex.WaitingOn(0, 1))
	}
	// The slot is free again and the new task gets the same id.
	if id := r.spawn("b", wait(1)); id != 0 {
		t.Errorf("respawn got id %d, want 0", id)
	}
	// Line 1 fired while a was gone: b's first Wait consumes that latch.
	r.ex.RunReady()
	r.ex.RunReady()
	r.mcu.Raise(1)
	r.expect("b", "b", "b")
}

func TestSpawnErrors(t *testing.T) {
	r := newRig(t, 2, 1)
	r.spawn("a", finish)
	r.spawn("b", wait(0))
	if _, err := r.ex.Spawn(&scripted{r: r, name: "c", steps: []step{finish}}); !errors.Is(err, cortexm.ErrNoSlot) {
		t.Errorf("Spawn into a full table: %v, want ErrNoSlot", err)
	}
	if _, err := r.ex.Spawn(nil); !errors.Is(err, cortexm.ErrNilTask) {
		t.Errorf("Spawn(nil): %v, want ErrNilTask", err)
	}
	r.ex.RunReady()
	r.expect("a", "b")
	if id := r.spawn("c", finish); id != 0 {
		t.Errorf("Spawn after a finished: id %d, want 0", id)
	}
}

func TestUnwaitIsIdempotent(t *testing.T) {
	r := newRig(t, 2, 2)
	a := r.spawn("a", wait(0, 1))
	r.ex.RunReady()
	r.expect("a")
	r.ex.Unwait(a, 0)
	r.ex.Unwait(a, 0)
	r.ex.Unwait(a, 1)
	r.ex.Unwait(a, 1)
	r.expect()
	r.mcu.Raise(0)
	r.expect()
	if !r.ex.Latched(0) {
		t.Error("interrupt after Unwait not latched")
	}
	if got := r.ex.Stats().Ignored; got != 0 {
		t.Errorf("Stats.Ignored %d after valid Unwaits, want 0", got)
	}
}

func TestUnwaitDuringPassSkipsTask(t *testing.T) {
	r := newRig(t, 2, 1)
	var b cortexm.TaskID
	r.spawn("a", wait(0), then(func(ex *cortexm.Executor, _ cortexm.TaskID) { ex.Unwait(b, 0) }, wait(0)))
	b = r.spawn("b", wait(0))
	r.ex.RunReady()
	r.expect("a", "b")
	r.mcu.Raise(0)
	r.expect("a")
	r.mcu.Raise(0)
	r.expect("a")
}

func TestWaitTwiceOnOneLineRegistersOnce(t *testing.T) {
	r := newRig(t, 1, 1)
	r.spawn("a", wait(0, 0, 0))
	r.ex.RunReady()
	r.mcu.Raise(0)
	r.expect("a", "a")
	if got := r.ex.Waiters(0); len(got) != 1 {
		t.Errorf("waiters %v, want one", got)
	}
}

func TestWaitOverflowWakesInsteadOfLosing(t *testing.T) {
	r := newRig(t, 1, 3)
	r.spawn("a", wait(0, 1, 2), finish)
	r.ex.RunReady()
	r.expect("a")
	if !r.ex.WaitingOn(0, 0) || !r.ex.WaitingOn(0, 1) || r.ex.WaitingOn(0, 2) || !r.ex.Queued(0) {
		t.Error("third Wait did not turn into a queued poll")
	}
	if got := r.ex.Stats().Overflows; got != 1 {
		t.Errorf("Stats.Overflows %d, want 1", got)
	}
	r.ex.RunReady()
	r.expect("a")
}

func TestWake(t *testing.T) {
	r := newRig(t, 2, 1)
	a := r.spawn("a", wait(0))
	r.spawn("b", then(func(ex *cortexm.Executor, id cortexm.TaskID) { ex.Wake(id) }, wait()))
	r.ex.RunReady()
	r.expect("a", "b")
	r.ex.Wake(a)
	r.ex.Wake(a)
	// RunReady polls what was queued when it was called: b (which woke
	// itself) and a once; b's new self-wake waits for the next call.
	r.ex.RunReady()
	r.expect("b", "a")
	// a was polled by Run and re-registered: one node, still on line 0.
	if got := r.ex.Waiters(0); !slices.Equal(got, []cortexm.TaskID{a}) {
		t.Errorf("waiters %v, want [%d]", got, a)
	}
}

func TestSoftwareInterruptFromPollIsDeferred(t *testing.T) {
	r := newRig(t, 3, 2)
	r.spawn("a", wait(1))
	r.spawn("b", wait(0), then(func(ex *cortexm.Executor, _ cortexm.TaskID) {
		ex.OnInterrupt(1) // signals a: dispatched after this poll
		r.log = append(r.log, "b-end")
	}, wait(0)))
	r.spawn("c", wait(0))
	r.ex.RunReady()
	r.expect("a", "b", "c")
	// The pass of line 0 ends first (b, then c) and only then line 1 is
	// dispatched.
	r.mcu.Raise(0)
	r.expect("b", "b-end", "c", "a")
	if got := r.ex.Stats().Interrupts; got != 2 {
		t.Errorf("Stats.Interrupts %d, want 2", got)
	}
}

func TestSoftwareInterruptOfLineInPass(t *testing.T) {
	r := newRig(t, 2, 1)
	r.spawn("a", wait(0), then(func(ex *cortexm.Executor, id cortexm.TaskID) {
		ex.OnInterrupt(0) // a's own line: it re-registers, and is polled again by this
	}, wait(0)), wait(0))
	r.spawn("b", wait(0), finish)
	r.ex.RunReady()
	r.mcu.Raise(0)
	r.expect("a", "b", "a", "b", "a")
}

func TestBadInputIsIgnoredAndCounted(t *testing.T) {
	r := newRig(t, 2, 2)
	a := r.spawn("a", wait(0))
	r.ex.RunReady()
	r.expect("a")
	r.ex.Wait(a, 2)   // bad line
	r.ex.Wait(1, 0)   // free slot
	r.ex.Wait(7, 0)   // no such slot
	r.ex.Unwait(a, 9) // bad line
	r.ex.Unwait(9, 0) // no such slot
	r.ex.Wake(1)
	r.ex.OnInterrupt(2)
	r.ex.OnInterrupt(255)
	r.expect()
	if got := r.ex.Stats().Ignored; got != 8 {
		t.Errorf("Stats.Ignored %d, want 8", got)
	}
	if got := r.ex.Stats().Interrupts; got != 0 {
		t.Errorf("Stats.Interrupts %d for bad lines, want 0", got)
	}
}

func TestRunFromPollIsIgnored(t *testing.T) {
	r := newRig(t, 1, 1)
	r.spawn("a", then(func(ex *cortexm.Executor, _ cortexm.TaskID) {
		ex.Run()
		if ex.RunReady() != 1 {
			t.Error("RunReady from a poll does not report the live task")
		}
	}, finish))
	r.ex.Run()
	r.expect("a")
	if got := r.ex.Stats().Ignored; got != 2 {
		t.Errorf("Stats.Ignored %d, want 2", got)
	}
}

func TestNewExecutorPanicsOnBadSetUp(t *testing.T) {
	mcu := sim.New(1, 0)
	for _, tc := range []struct {
		name  string
		port  cortexm.Port
		slots int
		lines int
	}{
		{"nil port", nil, 1, 1},
		{"too many slots", mcu, cortexm.MaxSlots + 1, 1},
		{"too many lines", mcu, 1, cortexm.MaxLines + 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			cortexm.NewExecutor(tc.port, make([]cortexm.Slot, tc.slots), make([]cortexm.WakerList, tc.lines))
		}()
	}
}

// A timer task: Run polls it, sleeps, is woken by the timer's interrupt,
// and returns when the task finishes.
func TestRunSleepsUntilInterrupts(t *testing.T) {
	r := newRig(t, 2, 2)
	timer := r.mcu.NewTimer(1)
	ticks := []uint64{}
	r.spawn("t", func(ex *cortexm.Executor, id cortexm.TaskID) bool {
		timer.StartPeriodic(100)
		ex.Wait(id, 1)
		return false
	}, func(ex *cortexm.Executor, id cortexm.TaskID) bool {
		ticks = append(ticks, r.mcu.Now())
		if len(ticks) == 3 {
			timer.Stop()
			return true
		}
		ex.Wait(id, 1)
		return false
	})
	r.ex.Run()
	r.expect("t", "t", "t", "t")
	if !slices.Equal(ticks, []uint64{100, 200, 300}) {
		t.Errorf("woken at %v, want [100 200 300]", ticks)
	}
	if got := r.ex.Stats().Sleeps; got != 3 {
		t.Errorf("Stats.Sleeps %d, want 3", got)
	}
}

// sneakyPort raises a line at the worst moment: after Run has found nothing
// to do and before it sleeps. A lost wake-up would leave Run asleep with
// nothing scheduled, which the simulator reports by panicking.
type sneakyPort struct {
	*sim.MCU
	line  cortexm.Line
	armed bool
}

func (p *sneakyPort) WaitForInterrupt() {
	if p.armed {
		p.armed = false
		p.Raise(p.line) // masked: stays pending
	}
	p.MCU.WaitForInterrupt()
}

func TestInterruptJustBeforeSleepIsNotLost(t *testing.T) {
	mcu := sim.New(1, 16)
	port := &sneakyPort{MCU: mcu, armed: true}
	ex := cortexm.NewExecutor(port, make([]cortexm.Slot, 1), make([]cortexm.WakerList, 1))
	mcu.Handle(0, ex.OnInterrupt)
	r := &rig{t: t, mcu: mcu, ex: ex}
	r.spawn("a", wait(0), finish)
	ex.Run()
	r.expect("a", "a")
}

func TestRunWithNoTaskReturns(t *testing.T) {
	r := newRig(t, 1, 1)
	r.ex.Run()
	if got := r.ex.Stats(); got.Sleeps != 0 || got.Polls != 0 {
		t.Errorf("stats %+v, want nothing done", got)
	}
}

func TestInitResetsStorage(t *testing.T) {
	r := newRig(t, 2, 2)
	r.spawn("a", wait(0))
	r.ex.RunReady()
	r.mcu.Raise(1)
	slots := make([]cortexm.Slot, 2)
	lists := make([]cortexm.WakerList, 2)
	r.ex.Init(r.mcu, slots, lists)
	if r.ex.Live() != 0 || r.ex.Stats() != (cortexm.Stats{}) {
		t.Error("Init kept state")
	}
	r.log = nil
	r.expect()
}

func TestWaitForTaskStillOnPassList(t *testing.T) {
	r := newRig(t, 2, 1)
	var b cortexm.TaskID
	r.spawn("a", wait(0), then(func(ex *cortexm.Executor, _ cortexm.TaskID) {
		// b's node is on the pass list: b is about to be polled for
		// this interrupt, so registering it again changes nothing.
		ex.Wait(b, 0)
	}, finish))
	b = r.spawn("b", wait(0), wait())
	r.ex.RunReady()
	r.expect("a", "b")
	r.mcu.Raise(0)
	r.expect("a", "b")
	if got := r.ex.Waiters(0); len(got) != 0 {
		t.Errorf("waiters %v after the pass, want none", got)
	}
}
