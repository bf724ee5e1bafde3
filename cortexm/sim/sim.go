// Package sim simulates a single-core microcontroller on the host, so that
// programs written for package cortexm can be run and tested without
// hardware.
//
// An MCU has a fixed number of interrupt lines, each with a pending bit and
// an optional handler; a PRIMASK-like global mask; a deterministic clock
// counted in ticks; and peripherals (Timer, UART, Pin) that raise lines
// when the clock reaches their next event. The clock moves only when the
// program sleeps in WaitForInterrupt or calls Advance, so every run of a
// program is the same sequence of interrupts.
//
// MCU implements cortexm.Port. Handlers run synchronously, on the calling
// goroutine, at the points where real hardware would take the interrupt:
// when a line is raised while unmasked, and when Restore unmasks with lines
// pending. Handlers do not nest: one priority level, as if every line had
// the same NVIC priority. A line without a handler is disabled, as in the
// NVIC: its pending bit is kept but it is neither taken nor wakes the
// processor.
//
// After set-up (New, Handle, the peripheral constructors) nothing in this
// package allocates except the formatting of the trace (Event.String,
// WriteTrace), so that tests can check that a program running on the
// simulator does not allocate either. An MCU is not safe for use by more
// than one goroutine: like the hardware it models, it has a single core.
package sim

import (
	"errors"

	"github.com/executor-go/executor/cortexm"
)

// ErrDeadlock is the value WaitForInterrupt panics with when no interrupt is
// pending and no peripheral has an event scheduled: the processor would
// sleep forever.
var ErrDeadlock = errors.New("sim: WaitForInterrupt with no interrupt pending or scheduled: the MCU would sleep forever")

// A device is a peripheral driven by the clock.
type device interface {
	// next reports the tick of the device's next event, if it has one.
	next() (at uint64, ok bool)
	// fire runs the event reported by next; the clock is at that tick.
	fire()
	// reset puts the device back in its power-on state.
	reset()
}

// An MCU is a simulated single-core microcontroller. Create one with New.
type MCU struct {
	now      uint64
	masked   bool
	active   bool // a handler is running
	taken    uint64
	sleeps   uint64
	pending  []bool
	handlers []func(cortexm.Line)
	devices  []device
	trace    []Event
	dropped  int
}

// New returns an MCU with the given number of interrupt lines (at most
// cortexm.MaxLines) whose trace keeps up to traceCap events. Interrupts
// start unmasked and the clock at tick 0.
func New(lines, traceCap int) *MCU {
	if lines < 0 || lines > cortexm.MaxLines {
		panic("sim: bad number of lines")
	}
	return &MCU{
		pending:  make([]bool, lines),
		handlers: make([]func(cortexm.Line), lines),
		trace:    make([]Event, 0, traceCap),
	}
}

// Lines reports the number of interrupt lines.
func (m *MCU) Lines() int { return len(m.pending) }

// Handle installs h as the handler of line and enables the line, like
// TinyGo's interrupt.New followed by Enable; a nil h disables the line.
// If the line is already pending and unmasked, h runs at once.
func (m *MCU) Handle(line cortexm.Line, h func(cortexm.Line)) {
	m.check(line)
	m.handlers[line] = h
	m.deliver()
}

// Disable masks every interrupt and returns the previous mask.
func (m *MCU) Disable() cortexm.State {
	var s cortexm.State
	if m.masked {
		s = 1
	}
	m.masked = true
	return s
}

// Restore reinstates a mask returned by Disable. If that unmasks, the
// pending enabled lines are taken, lowest line first.
func (m *MCU) Restore(s cortexm.State) {
	m.masked = s != 0
	m.deliver()
}

// Masked reports whether interrupts are masked.
func (m *MCU) Masked() bool { return m.masked }

// InHandler reports whether an interrupt handler is running.
func (m *MCU) InHandler() bool { return m.active }

// Raise sets line's pending bit, as a peripheral or a write to the NVIC's
// pending register would. The interrupt is taken at once if interrupts are
// unmasked and no handler is running, else when they become so.
func (m *MCU) Raise(line cortexm.Line) {
	m.check(line)
	m.pending[line] = true
	m.deliver()
}

// Pending reports line's pending bit.
func (m *MCU) Pending(line cortexm.Line) bool {
	m.check(line)
	return m.pending[line]
}

// WaitForInterrupt sleeps, letting the clock run to the peripherals'
// events, until an enabled interrupt is pending or has been taken. Like the
// Cortex-M WFI instruction it returns at once when an enabled interrupt is
// already pending, even with interrupts masked; the interrupt is then taken
// by the Restore that unmasks. It panics with ErrDeadlock when it would
// sleep forever.
func (m *MCU) WaitForInterrupt() {
	m.sleeps++
	start := m.taken
	for !m.wakeable() && m.taken == start {
		d, at := m.nextEvent()
		if d == nil {
			panic(ErrDeadlock)
		}
		m.now = at
		d.fire()
	}
}

// Sleeps reports how many times WaitForInterrupt was called.
func (m *MCU) Sleeps() uint64 { return m.sleeps }

// Now reports the clock, in ticks.
func (m *MCU) Now() uint64 { return m.now }

// Advance runs the clock forward by d ticks without sleeping, firing the
// peripheral events that fall due on the way, as if the processor were
// busy for that long.
func (m *MCU) Advance(d uint64) {
	end := m.now + d
	for {
		dev, at := m.nextEvent()
		if dev == nil || at > end {
			break
		}
		m.now = at
		dev.fire()
	}
	m.now = end
}

// Reset puts the MCU back in its state after set-up: clock at 0, nothing
// pending, unmasked, empty trace, peripherals in their power-on state. The
// handlers and peripherals stay installed.
func (m *MCU) Reset() {
	m.now, m.taken, m.sleeps = 0, 0, 0
	m.masked, m.active = false, false
	clear(m.pending)
	m.trace = m.trace[:0]
	m.dropped = 0
	for _, d := range m.devices {
		d.reset()
	}
}

func (m *MCU) check(line cortexm.Line) {
	if int(line) >= len(m.pending) {
		panic("sim: interrupt line out of range")
	}
}

// wakeable reports whether an enabled line is pending.
func (m *MCU) wakeable() bool {
	for i, p := range m.pending {
		if p && m.handlers[i] != nil {
			return true
		}
	}
	return false
}

// deliver takes pending enabled interrupts, lowest line first, while
// interrupts are unmasked and no handler is running.
func (m *MCU) deliver() {
	for !m.masked && !m.active {
		line := -1
		for i, p := range m.pending {
			if p && m.handlers[i] != nil {
				line = i
				break
			}
		}
		if line < 0 {
			return
		}
		m.pending[line] = false
		m.taken++
		m.record(Event{At: m.now, Kind: IRQ, Line: cortexm.Line(line)})
		m.active = true
		m.handlers[line](cortexm.Line(line))
		m.active = false
	}
}

// nextEvent returns the device with the earliest event, the first attached
// on a tie, and the event's tick; nil if no device has one.
func (m *MCU) nextEvent() (device, uint64) {
	var best device
	var bestAt uint64
	for _, d := range m.devices {
		if at, ok := d.next(); ok && (best == nil || at < bestAt) {
			best, bestAt = d, at
		}
	}
	if best != nil && bestAt < m.now {
		bestAt = m.now
	}
	return best, bestAt
}

func (m *MCU) attach(d device) { m.devices = append(m.devices, d) }
