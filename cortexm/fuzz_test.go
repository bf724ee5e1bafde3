package cortexm_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

const (
	fzSlots = 4
	fzLines = 3
	fzPool  = 2 * fzSlots // task objects, so a free one always exists
)

// Plan bits: what a fuzz task does at each poll.
const (
	planWaitMask = 0x07 // wait on the lines of these bits, in line order
	planWake     = 0x08 // Wake itself (yield)
	planRaise    = 0x10 // OnInterrupt(planLine) from inside the poll
	planDone     = 0x20 // finish
	planLineBits = 6    // planLine = plan>>6 % fzLines
)

// Extra bits: what a fuzz task does to another task at each poll. The
// other task is slot extra>>1 & 3, the line extra>>3 % fzLines.
const (
	extraWait   = 0x01 // Wait(other, line)
	extraUnwait = 0x20 // Unwait(other, line)
	extraWake   = 0x40 // Wake(other)
	extraSpawn  = 0x80 // Spawn a task whose plan is extra&planWaitMask
)

// fzTask follows its plan at every poll and checks, around each of its
// Waits, what the executor did with the registration.
type fzTask struct {
	h     *fzHarness
	plan  byte
	extra byte
	id    cortexm.TaskID
	live  bool
}

func (k *fzTask) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	h := k.h
	if !k.live {
		h.t.Fatalf("finished task polled (slot %d)", id)
	}
	if id != k.id {
		h.t.Fatalf("task of slot %d polled as %d", k.id, id)
	}
	h.polled = append(h.polled, id)
	// Stale registrations are gone before a poll.
	if ex.Queued(id) {
		h.t.Fatalf("task %d polled while still queued", id)
	}
	for l := range cortexm.Line(fzLines) {
		if ex.WaitingOn(id, l) {
			h.t.Fatalf("task %d polled while still waiting on line %d", id, l)
		}
	}
	waits := 0
	for l := range cortexm.Line(fzLines) {
		if k.plan&(1<<l) == 0 {
			continue
		}
		latched := ex.Latched(l)
		ex.Wait(id, l)
		switch {
		case latched:
			if ex.Latched(l) || ex.WaitingOn(id, l) || !ex.Queued(id) {
				h.t.Fatalf("task %d: Wait on latched line %d did not consume the latch into a queued poll", id, l)
			}
		case waits == cortexm.MaxWaits:
			if ex.WaitingOn(id, l) || !ex.Queued(id) {
				h.t.Fatalf("task %d: overflowing Wait on line %d not turned into a queued poll", id, l)
			}
		default:
			if !ex.WaitingOn(id, l) {
				h.t.Fatalf("task %d: Wait on line %d did not register", id, l)
			}
			waits++
		}
	}
	if k.plan&planWake != 0 {
		ex.Wake(id)
	}
	other, line := cortexm.TaskID(k.extra>>1)&3, cortexm.Line(k.extra>>3)%fzLines
	if k.extra&extraWait != 0 {
		ex.Wait(other, line)
	}
	if k.extra&extraUnwait != 0 {
		ex.Unwait(other, line)
		h.unwaited = append(h.unwaited, other)
	}
	if k.extra&extraWake != 0 {
		ex.Wake(other)
	}
	if k.extra&extraSpawn != 0 {
		h.spawn(k.extra&planWaitMask, 0)
	}
	if k.plan&planRaise != 0 && h.raiseBudget > 0 {
		h.raiseBudget--
		h.softRaised = true
		ex.OnInterrupt(cortexm.Line(k.plan>>planLineBits) % fzLines)
	}
	if k.plan&planDone != 0 {
		k.live = false
		return true
	}
	return false
}

type fzHarness struct {
	t    *testing.T
	mcu  *sim.MCU
	ex   *cortexm.Executor
	pool [fzPool]fzTask
	slot [fzSlots]*fzTask // the task object in each slot, nil when free
	st   cortexm.State
	mask bool

	polled      []cortexm.TaskID // polls made by the current op
	softRaised  bool             // a poll of the current op called OnInterrupt
	raiseBudget int              // OnInterrupt calls polls may still make in this op
	unwaited    []cortexm.TaskID // tasks a poll of the current op unregistered
}

func newFzHarness(t *testing.T) *fzHarness {
	h := &fzHarness{t: t, mcu: sim.New(fzLines, 0)}
	h.ex = cortexm.NewExecutor(h.mcu, make([]cortexm.Slot, fzSlots), make([]cortexm.WakerList, fzLines))
	for l := range cortexm.Line(fzLines) {
		h.mcu.Handle(l, h.ex.OnInterrupt)
	}
	for i := range h.pool {
		h.pool[i].h = h
	}
	return h
}

// waiters returns the tasks waiting on the given lines, in dispatch order.
func (h *fzHarness) waiters(lines ...cortexm.Line) []cortexm.TaskID {
	var ids []cortexm.TaskID
	for _, l := range lines {
		ids = append(ids, h.ex.Waiters(l)...)
	}
	return ids
}

// checkWoken checks that every task of want was polled, in order and once
// each when no poll raised a software interrupt, and that the lines nobody
// waited on are latched.
func (h *fzHarness) checkWoken(what string, want []cortexm.TaskID, lines ...cortexm.Line) {
	if len(h.unwaited) > 0 {
		// A poll may have removed a task of the pass before its turn.
		want = slices.DeleteFunc(slices.Clone(want), func(id cortexm.TaskID) bool {
			return slices.Contains(h.unwaited, id)
		})
		h.softRaised = true
	}
	if h.softRaised {
		for _, id := range want {
			if !slices.Contains(h.polled, id) {
				h.t.Fatalf("%s: task %d waited and was not polled (polled %v)", what, id, h.polled)
			}
		}
		return
	}
	if len(lines) == 1 {
		if !slices.Equal(h.polled, want) {
			h.t.Fatalf("%s: polled %v, want %v", what, h.polled, want)
		}
		if len(want) == 0 && !h.ex.Latched(lines[0]) {
			h.t.Fatalf("%s: interrupt with nobody waiting not latched", what)
		}
		return
	}
	for _, id := range want {
		if !slices.Contains(h.polled, id) {
			h.t.Fatalf("%s: task %d waited and was not polled (polled %v)", what, id, h.polled)
		}
	}
}

// op runs one fuzz operation: code selects it, arg parameterises it.
func (h *fzHarness) op(code, arg byte) {
	h.polled, h.softRaised, h.raiseBudget, h.unwaited = h.polled[:0], false, 3, h.unwaited[:0]
	id := cortexm.TaskID(code>>4) % (fzSlots + 2) // sometimes out of range
	line := cortexm.Line(arg) % (fzLines + 1)     // sometimes out of range
	switch code % 10 {
	case 0: // spawn a task with plan arg
		h.spawn(arg, 0)
	case 1: // raise a line
		l := line % fzLines
		want := h.waiters(l)
		h.mcu.Raise(l)
		if !h.mask {
			h.checkWoken("raise", want, l)
		} else if len(h.polled) != 0 {
			h.t.Fatalf("raise while masked polled %v", h.polled)
		}
	case 2: // change a task's plan
		if k := h.slot[id%fzSlots]; k != nil {
			k.plan = arg
		}
	case 3:
		h.ex.Wait(id, line)
	case 4:
		h.ex.Unwait(id, line)
		if int(id) < fzSlots && line < fzLines && h.ex.WaitingOn(id, line) {
			h.t.Fatalf("task %d still waits on line %d after Unwait", id, line)
		}
	case 5:
		h.ex.Wake(id)
	case 6: // poll the queued tasks
		if h.mask {
			return
		}
		var want []cortexm.TaskID
		for i := range cortexm.TaskID(fzSlots) {
			if h.slot[i] != nil && h.ex.Queued(i) {
				want = append(want, i)
			}
		}
		h.ex.RunReady()
		h.softRaised = true // order is not checked, only presence
		h.checkWoken("RunReady", want)
	case 7: // mask, or unmask and take what is pending
		if !h.mask {
			h.st, h.mask = h.mcu.Disable(), true
			return
		}
		var pending []cortexm.Line
		for l := range cortexm.Line(fzLines) {
			if h.mcu.Pending(l) {
				pending = append(pending, l)
			}
		}
		want := h.waiters(pending...)
		h.mcu.Restore(h.st)
		h.mask = false
		h.checkWoken("restore", want, pending...)
	case 8: // the handler's call, even while masked
		if line >= fzLines {
			h.ex.OnInterrupt(line) // ignored
			return
		}
		want := h.waiters(line)
		h.ex.OnInterrupt(line)
		h.checkWoken("OnInterrupt", want, line)
	case 9: // change what a task does to others
		if k := h.slot[id%fzSlots]; k != nil {
			k.extra = arg
		}
	}
}

// spawn spawns a task from the pool and checks the result against the
// slots the harness knows to be live.
func (h *fzHarness) spawn(plan, extra byte) {
	live := 0
	for _, k := range h.slot {
		if k != nil && k.live {
			live++
		}
	}
	k := h.freeTask()
	k.plan, k.extra = plan, extra
	got, err := h.ex.Spawn(k)
	if live == fzSlots {
		if !errors.Is(err, cortexm.ErrNoSlot) {
			h.t.Fatalf("Spawn into a full table: %v", err)
		}
		return
	}
	if err != nil || (h.slot[got] != nil && h.slot[got].live) {
		h.t.Fatalf("Spawn: id %d, err %v", got, err)
	}
	k.id, k.live = got, true
	h.slot[got] = k
}

// freeTask returns a task object that no slot holds.
func (h *fzHarness) freeTask() *fzTask {
	for i := range h.pool {
		if k := &h.pool[i]; !k.live && !slices.Contains(h.slot[:], k) {
			return k
		}
	}
	panic("no free task object") // fzPool >= 2*fzSlots
}

// sync forgets the task objects that finished during the last op.
func (h *fzHarness) sync() {
	live := 0
	for i, k := range h.slot {
		if k != nil && !k.live {
			h.slot[i] = nil
		}
		if h.slot[i] != nil {
			live++
		}
	}
	if got := h.ex.Live(); got != live {
		h.t.Fatalf("Live %d, want %d", got, live)
	}
	if err := h.ex.CheckInvariants(); err != nil {
		h.t.Fatal(err)
	}
}

// finish unmasks, makes every task finish at its next poll, wakes them all
// and checks that Run returns with nothing left.
func (h *fzHarness) finish() {
	if h.mask {
		h.mcu.Restore(h.st)
		h.mask = false
		h.sync()
	}
	for i, k := range h.slot {
		if k != nil {
			k.plan, k.extra = planDone, 0
			h.ex.Wake(cortexm.TaskID(i))
		}
	}
	h.ex.Run()
	h.sync()
	if n := h.ex.Live(); n != 0 {
		h.t.Fatalf("%d tasks left after Run", n)
	}
}

// Fuzz operation codes (the low bits of an input's even bytes; the high
// nibble picks a task), as decoded by fzHarness.op.
const (
	opSpawn   = 0
	opRaise   = 1
	opPlan    = 2
	opWait    = 3
	opUnwait  = 4
	opWake    = 5
	opReady   = 6
	opMask    = 7
	opHandler = 8
	opExtra   = 9
)

// fzSeeds are the inputs FuzzExecutor starts from. TestFuzzSeeds runs them
// everywhere, TinyGo included, whose testing.F cannot run a fuzz target.
// A plan 0x01, 0x03 or 0x07 waits on lines {0}, {0, 1} or {0, 1, 2}.
var fzSeeds = [][]byte{
	{opSpawn, 0x01, opSpawn, 0x01, opReady, 0, opRaise, 0, opRaise, 0},
	{opRaise, 1, opSpawn, 0x03, opReady, 0, opReady, 0, opRaise, 1, opRaise, 0},
	{opSpawn, 0x07, opReady, 0, opReady, 0, opRaise, 2, opRaise, 0},
	{opSpawn, 0x01, opReady, 0, opMask, 0, opRaise, 0, opRaise, 1, opMask, 0},
	{opSpawn, 0x01 | planRaise | 1<<planLineBits, opSpawn, 0x02, opReady, 0, opRaise, 0},
	{opSpawn, 0x01 | planRaise, opReady, 0, opRaise, 0, opHandler, 0},
	{opSpawn, 0x03, opSpawn, 0x03, opSpawn, 0x01, opSpawn, 0, opSpawn, 0x01, opReady, 0,
		opUnwait, 0, opUnwait | 1<<4, 1, opRaise, 0, opRaise, 1},
	{opSpawn, 0x01 | planWake, opReady, 0, opReady, 0, opWake | 1<<4, 0, opReady, 0},
	{opSpawn, 0x01, opReady, 0, opPlan, planDone, opRaise, 0, opSpawn, 0x01, opReady, 0, opRaise, 0},
	{opSpawn, 0, opWait, 2, opWait, 1, opWait, 0, opRaise, 2, opWait | 5<<4, 0, opHandler, 3, opUnwait | 4<<4, 3},
	// Task 0 waits on line 0 and, at each poll, registers task 1 on line 0
	// (task 1 still on the pass list) or removes it before its turn.
	{opSpawn, 0x01, opSpawn, 0x01, opReady, 0, opExtra, extraWait | 1<<1, opRaise, 0, opRaise, 0},
	{opSpawn, 0x01, opSpawn, 0x01, opReady, 0, opExtra, extraUnwait | 1<<1, opRaise, 0, opRaise, 0},
	{opSpawn, 0x01, opReady, 0, opExtra, extraSpawn | extraWake | 1, opRaise, 0, opReady, 0, opRaise, 0},
}

// runFuzzInput runs one input, two bytes per operation, checking the
// invariants after each.
func runFuzzInput(t *testing.T, data []byte) {
	h := newFzHarness(t)
	for i := 0; i+1 < len(data); i += 2 {
		h.op(data[i], data[i+1])
		h.sync()
	}
	h.finish()
}

// TestFuzzSeeds runs FuzzExecutor's seed inputs as plain tests.
func TestFuzzSeeds(t *testing.T) {
	for i, data := range fzSeeds {
		t.Run(fmt.Sprintf("seed%d", i), func(t *testing.T) { runFuzzInput(t, data) })
	}
}
