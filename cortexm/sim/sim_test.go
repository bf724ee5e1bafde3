package sim_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

// recorder installs handlers that log "line@tick".
type recorder struct {
	m   *sim.MCU
	log []string
}

func newRecorder(lines int) *recorder {
	r := &recorder{m: sim.New(lines, 64)}
	for l := range cortexm.Line(lines) {
		r.m.Handle(l, r.handle)
	}
	return r
}

func (r *recorder) handle(l cortexm.Line) {
	if !r.m.InHandler() {
		panic("handler outside handler mode")
	}
	r.log = append(r.log, fmt.Sprintf("%d@%d", l, r.m.Now()))
}

func (r *recorder) expect(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(r.log, want) {
		t.Errorf("handled %v, want %v", r.log, want)
	}
	r.log = r.log[:0]
}

func TestRaiseUnmaskedRunsHandlerAtOnce(t *testing.T) {
	r := newRecorder(2)
	r.m.Raise(1)
	r.expect(t, "1@0")
	if r.m.Pending(1) {
		t.Error("taken line still pending")
	}
}

func TestMaskedLinesTakenOnRestoreLowestFirst(t *testing.T) {
	r := newRecorder(3)
	outer := r.m.Disable()
	inner := r.m.Disable()
	r.m.Raise(2)
	r.m.Raise(0)
	r.m.Raise(2) // one pending bit
	r.m.Restore(inner)
	r.expect(t) // still masked by the outer Disable
	if !r.m.Pending(0) || !r.m.Pending(2) || !r.m.Masked() {
		t.Fatal("pending bits or mask lost by nested Restore")
	}
	r.m.Restore(outer)
	r.expect(t, "0@0", "2@0")
	if r.m.Masked() {
		t.Error("still masked after the outer Restore")
	}
}

func TestHandlersDoNotNest(t *testing.T) {
	m := sim.New(2, 0)
	var log []string
	m.Handle(1, func(cortexm.Line) { log = append(log, "1") })
	m.Handle(0, func(cortexm.Line) {
		log = append(log, "0 in")
		st := m.Disable()
		m.Restore(st) // unmasks, but a handler is running
		m.Raise(1)
		log = append(log, "0 out")
	})
	m.Raise(0)
	if want := []string{"0 in", "0 out", "1"}; !slices.Equal(log, want) {
		t.Errorf("log %v, want %v (tail-chained, not nested)", log, want)
	}
}

func TestLineWithoutHandlerIsDisabled(t *testing.T) {
	m := sim.New(2, 0)
	m.Raise(1)
	if !m.Pending(1) {
		t.Fatal("raised line not pending")
	}
	timer := m.NewTimer(0)
	timer.Start(5)
	// The pending disabled line does not wake the processor: only the
	// timer does, and then the handler takes line 0.
	var took []cortexm.Line
	m.Handle(0, func(l cortexm.Line) { took = append(took, l) })
	m.WaitForInterrupt()
	if m.Now() != 5 || !slices.Equal(took, []cortexm.Line{0}) {
		t.Errorf("woke at %d after %v, want 5 after [0]", m.Now(), took)
	}
	// Enabling the line takes its pending interrupt.
	m.Handle(1, func(l cortexm.Line) { took = append(took, l) })
	if !slices.Equal(took, []cortexm.Line{0, 1}) || m.Pending(1) {
		t.Errorf("after Handle: took %v, pending %v", took, m.Pending(1))
	}
}

func TestWaitForInterruptMaskedReturnsOnPending(t *testing.T) {
	r := newRecorder(2)
	timer := r.m.NewTimer(1)
	timer.Start(30)
	st := r.m.Disable()
	r.m.WaitForInterrupt()
	r.expect(t) // masked: pending, not taken
	if r.m.Now() != 30 || !r.m.Pending(1) {
		t.Fatalf("WFI returned at %d, pending %v; want 30, true", r.m.Now(), r.m.Pending(1))
	}
	// Already pending: WFI returns at once, the clock does not move.
	r.m.WaitForInterrupt()
	if r.m.Now() != 30 {
		t.Errorf("WFI with a pending line moved the clock to %d", r.m.Now())
	}
	r.m.Restore(st)
	r.expect(t, "1@30")
	if r.m.Sleeps() != 2 {
		t.Errorf("Sleeps %d, want 2", r.m.Sleeps())
	}
}

func TestWaitForInterruptUnmaskedTakesInterrupt(t *testing.T) {
	r := newRecorder(1)
	r.m.NewTimer(0).Start(7)
	r.m.WaitForInterrupt()
	r.expect(t, "0@7")
}

func TestWaitForInterruptDeadlock(t *testing.T) {
	m := sim.New(1, 0)
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, sim.ErrDeadlock) {
			t.Errorf("recovered %v, want ErrDeadlock", err)
		}
	}()
	m.WaitForInterrupt()
}

func TestTimer(t *testing.T) {
	r := newRecorder(2)
	one, per := r.m.NewTimer(0), r.m.NewTimer(1)
	one.Start(25)
	per.StartPeriodic(10)
	r.m.Advance(35)
	r.expect(t, "1@10", "1@20", "0@25", "1@30")
	if !one.Expired() || !per.Expired() {
		t.Error("expired flags not set")
	}
	one.Clear()
	per.Stop()
	r.m.Advance(100)
	r.expect(t)
	if one.Expired() || !per.Expired() || r.m.Now() != 135 {
		t.Errorf("after Clear/Stop: %v %v at %d", one.Expired(), per.Expired(), r.m.Now())
	}
	one.Start(0) // at least one tick
	if one.Expired() {
		t.Error("Start did not clear the flag")
	}
	r.m.Advance(1)
	r.expect(t, "0@136")
}

func TestTimersFireInOrderOnTie(t *testing.T) {
	r := newRecorder(2)
	a, b := r.m.NewTimer(1), r.m.NewTimer(0)
	a.Start(5)
	b.Start(5)
	st := r.m.Disable()
	r.m.Advance(5)
	r.m.Restore(st)
	// Both fired at tick 5; lines are taken lowest first.
	r.expect(t, "0@5", "1@5")
}

func TestUART(t *testing.T) {
	m := sim.New(1, 64)
	u := m.NewUART("u", 0, 4)
	var got []byte
	m.Handle(0, func(cortexm.Line) {
		if b, ok := u.Read(); ok {
			got = append(got, b)
		}
	})
	u.Feed("ab", 3, 2)
	m.Advance(10)
	if string(got) != "ab" || u.Overruns() != 0 {
		t.Errorf("received %q, %d overruns", got, u.Overruns())
	}
	if _, ok := u.Read(); ok {
		t.Error("Read of an empty register succeeded")
	}
	if n := u.Write([]byte("hello")); n != 4 || string(u.Output()) != "hell" {
		t.Errorf("Write kept %d bytes, output %q; want 4, \"hell\"", n, u.Output())
	}
}

func TestUARTOverrun(t *testing.T) {
	m := sim.New(1, 64)
	u := m.NewUART("u", 0, 0)
	m.Handle(0, func(cortexm.Line) {}) // never reads
	u.Feed("xyz", 1, 1)
	m.Advance(3)
	if b, ok := u.Read(); !ok || b != 'x' || u.Overruns() != 2 {
		t.Errorf("Read %q %v with %d overruns; want 'x' true 2", b, ok, u.Overruns())
	}
}

func TestResetRestoresPowerOnState(t *testing.T) {
	m := sim.New(2, 4)
	u := m.NewUART("u", 0, 8)
	p := m.NewPin("p")
	tm := m.NewTimer(1)
	taken := 0
	m.Handle(1, func(cortexm.Line) { taken++ })
	u.Feed("abc", 1, 1)
	tm.Start(2)
	p.Toggle()
	u.Write([]byte("x"))
	m.Disable()
	m.Advance(10)
	m.Raise(0)
	m.Reset()
	if m.Now() != 0 || m.Masked() || m.Pending(0) || m.Pending(1) || len(m.Trace()) != 0 ||
		m.Dropped() != 0 || p.High() || tm.Expired() || len(u.Output()) != 0 || u.Overruns() != 0 {
		t.Fatal("Reset left state behind")
	}
	if _, ok := u.Read(); ok {
		t.Error("Reset left a received byte")
	}
	m.Advance(100)
	if taken != 0 {
		t.Error("a timer armed before Reset fired after it")
	}
}

func TestTraceAndDropped(t *testing.T) {
	m := sim.New(1, 5)
	u := m.NewUART("uart", 0, 16)
	led := m.NewPin("led")
	m.Handle(0, func(cortexm.Line) {})
	u.Feed("h", 10, 1)
	m.Advance(10)
	led.Set(true)
	u.Write([]byte("hi"))
	m.Note("step", 7)
	m.Note("dropped", 8)
	var b strings.Builder
	if err := m.WriteTrace(&b); err != nil {
		t.Fatal(err)
	}
	want := `     10 uart rx 'h'
     10 irq 0
     10 led high
     10 uart tx "hi"
(2 events dropped)
`
	if b.String() != want {
		t.Errorf("trace:\n%s\nwant:\n%s", b.String(), want)
	}
	if got := (sim.Event{At: 3, Kind: sim.Note, Name: "n", Value: 4}).String(); got != "      3 n note 4" {
		t.Errorf("Note event formats as %q", got)
	}
	if got := sim.Kind(99).String(); got != "Kind(99)" {
		t.Errorf("unknown kind formats as %q", got)
	}
}

func TestBadLinePanicsAtSetUp(t *testing.T) {
	m := sim.New(1, 0)
	for name, f := range map[string]func(){
		"Raise":    func() { m.Raise(1) },
		"Handle":   func() { m.Handle(5, nil) },
		"NewTimer": func() { m.NewTimer(1) },
		"NewUART":  func() { m.NewUART("u", 1, 0) },
		"New":      func() { sim.New(cortexm.MaxLines+1, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a bad line did not panic", name)
				}
			}()
			f()
		}()
	}
}

// A timer and a UART drive interrupts on a simulated MCU; the trace shows
// what happened when.
func Example() {
	m := sim.New(2, 32)
	timer := m.NewTimer(0)
	uart := m.NewUART("uart", 1, 16)
	led := m.NewPin("led")
	m.Handle(0, func(cortexm.Line) { led.Toggle() })
	m.Handle(1, func(cortexm.Line) {
		if b, ok := uart.Read(); ok {
			uart.Write([]byte{b - 'a' + 'A'})
		}
	})

	timer.StartPeriodic(100)
	uart.Feed("ok", 150, 20)
	for m.Now() < 200 {
		m.WaitForInterrupt() // unmasked: the handlers run inside
	}
	m.WriteTrace(os.Stdout)
	// Output:
	//     100 irq 0
	//     100 led high
	//     150 uart rx 'o'
	//     150 irq 1
	//     150 uart tx "O"
	//     170 uart rx 'k'
	//     170 irq 1
	//     170 uart tx "K"
	//     200 irq 0
	//     200 led low
}
