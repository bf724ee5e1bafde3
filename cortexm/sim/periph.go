package sim

import "github.com/executor-go/executor/cortexm"

// A Timer is a simulated hardware timer. When it expires it sets its
// expired flag and raises its line; a periodic timer then starts over.
type Timer struct {
	m       *MCU
	line    cortexm.Line
	armed   bool
	at      uint64 // tick of the next expiry
	period  uint64 // 0 for one-shot
	expired bool
}

// NewTimer attaches a timer that raises line to m.
func (m *MCU) NewTimer(line cortexm.Line) *Timer {
	m.check(line)
	t := &Timer{m: m, line: line}
	m.attach(t)
	return t
}

// Start arms t to expire once, after ticks ticks (at least 1), and clears
// its expired flag.
func (t *Timer) Start(ticks uint64) { t.start(ticks, 0) }

// StartPeriodic arms t to expire every period ticks (at least 1), and
// clears its expired flag.
func (t *Timer) StartPeriodic(period uint64) { t.start(period, max(period, 1)) }

func (t *Timer) start(after, period uint64) {
	t.armed, t.at, t.period, t.expired = true, t.m.now+max(after, 1), period, false
}

// Stop disarms t. Its expired flag stays as it was.
func (t *Timer) Stop() { t.armed = false }

// Expired reports whether t has expired since it was started or its flag
// was cleared, like a hardware timer's update flag.
func (t *Timer) Expired() bool { return t.expired }

// Clear clears the expired flag, as an interrupt service routine would
// before it waits for the next expiry.
func (t *Timer) Clear() { t.expired = false }

func (t *Timer) next() (uint64, bool) { return t.at, t.armed }

func (t *Timer) fire() {
	t.expired = true
	if t.period == 0 {
		t.armed = false
	} else {
		t.at += t.period
	}
	t.m.Raise(t.line)
}

func (t *Timer) reset() { t.armed, t.at, t.period, t.expired = false, 0, 0, false }

// A Pin is a simulated GPIO output, such as the pin of an LED. Every write
// is recorded in the MCU's trace.
type Pin struct {
	m    *MCU
	name string
	high bool
}

// NewPin attaches an output pin, low, to m. name labels it in the trace.
func (m *MCU) NewPin(name string) *Pin {
	p := &Pin{m: m, name: name}
	m.attach(p)
	return p
}

// Set drives p high or low.
func (p *Pin) Set(high bool) {
	p.high = high
	var v uint32
	if high {
		v = 1
	}
	p.m.record(Event{At: p.m.now, Kind: PinSet, Value: v, Name: p.name})
}

// Toggle inverts p.
func (p *Pin) Toggle() { p.Set(!p.high) }

// High reports whether p is driven high.
func (p *Pin) High() bool { return p.high }

func (p *Pin) next() (uint64, bool) { return 0, false }
func (p *Pin) fire()                {}
func (p *Pin) reset()               { p.high = false }

// A UART is a simulated serial port. Its receiver takes bytes fed to it on
// a schedule and raises its receive line for each; a byte that arrives
// while the previous one is unread is lost and counted as an overrun, as on
// hardware. Its transmitter sends at once: Write appends to the output.
type UART struct {
	m        *MCU
	name     string
	rxLine   cortexm.Line
	in       string // bytes being fed
	pos      int    // next byte of in
	at       uint64 // arrival tick of in[pos]
	interval uint64
	data     byte // receive data register
	full     bool // data holds an unread byte
	overruns int
	out      []byte
}

// NewUART attaches to m a UART that raises rxLine when a byte arrives and
// whose output keeps up to outCap bytes. name labels it in the trace.
func (m *MCU) NewUART(name string, rxLine cortexm.Line, outCap int) *UART {
	m.check(rxLine)
	u := &UART{m: m, name: name, rxLine: rxLine, out: make([]byte, 0, outCap)}
	m.attach(u)
	return u
}

// Feed schedules the bytes of data to arrive, the first after start ticks
// and the others every interval ticks (both at least 1), replacing any
// bytes still scheduled. It does not copy data.
func (u *UART) Feed(data string, start, interval uint64) {
	u.in, u.pos, u.at, u.interval = data, 0, u.m.now+max(start, 1), max(interval, 1)
}

// Read returns the received byte and true, and empties the receive data
// register; or false if no byte is waiting.
func (u *UART) Read() (byte, bool) {
	if !u.full {
		return 0, false
	}
	u.full = false
	return u.data, true
}

// Write sends p. Bytes beyond the output's capacity are dropped, so that
// Write never allocates; it returns the number of bytes kept.
func (u *UART) Write(p []byte) int {
	n := min(len(p), cap(u.out)-len(u.out))
	for _, b := range p[:n] {
		u.m.record(Event{At: u.m.now, Kind: TX, Value: uint32(b), Name: u.name})
	}
	u.out = append(u.out, p[:n]...)
	return n
}

// Output returns the bytes sent since set-up or the last Reset. The slice
// is the UART's own.
func (u *UART) Output() []byte { return u.out }

// Overruns reports how many received bytes were lost because the previous
// one was unread.
func (u *UART) Overruns() int { return u.overruns }

func (u *UART) next() (uint64, bool) { return u.at, u.pos < len(u.in) }

func (u *UART) fire() {
	b := u.in[u.pos]
	u.pos++
	u.at += u.interval
	if u.full {
		u.overruns++
		u.m.record(Event{At: u.m.now, Kind: Overrun, Value: uint32(b), Name: u.name})
	} else {
		u.data, u.full = b, true
		u.m.record(Event{At: u.m.now, Kind: RX, Value: uint32(b), Name: u.name})
	}
	u.m.Raise(u.rxLine)
}

func (u *UART) reset() {
	u.in, u.pos, u.at, u.interval = "", 0, 0, 0
	u.data, u.full, u.overruns = 0, false, 0
	u.out = u.out[:0]
}
