//go:build !tinygo

// Under TinyGo, testing.AllocsPerRun always reports 0: this test means
// something on the host only.

package sim_test

import (
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

func TestDoesNotAllocateAfterSetUp(t *testing.T) {
	m := sim.New(2, 16)
	u := m.NewUART("u", 0, 16)
	tm := m.NewTimer(1)
	p := m.NewPin("p")
	h := func(cortexm.Line) {
		u.Read()
		p.Toggle()
	}
	m.Handle(0, h)
	m.Handle(1, h)
	msg := []byte("ok")
	allocs := testing.AllocsPerRun(50, func() {
		m.Reset()
		u.Feed("abc", 1, 3)
		tm.StartPeriodic(4)
		st := m.Disable()
		m.WaitForInterrupt()
		m.Restore(st)
		m.Advance(20)
		u.Write(msg)
		m.Note("n", 1)
	})
	if allocs != 0 {
		t.Errorf("%v allocs per run, want 0", allocs)
	}
}
