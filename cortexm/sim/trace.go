package sim

import (
	"fmt"
	"io"
	"strconv"

	"github.com/executor-go/executor/cortexm"
)

// Kind says what an Event records.
type Kind uint8

// The kinds of Event.
const (
	IRQ     Kind = iota + 1 // an interrupt was taken; Line is set
	PinSet                  // a pin was driven; Value is 1 for high, 0 for low
	RX                      // a UART received the byte Value
	Overrun                 // a UART received the byte Value while the last one was unread, and lost it
	TX                      // a UART sent the byte Value
	Note                    // the program recorded Value with MCU.Note
)

var kindNames = [...]string{IRQ: "irq", PinSet: "pin", RX: "rx", Overrun: "overrun", TX: "tx", Note: "note"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// An Event is one entry of an MCU's trace.
type Event struct {
	At    uint64       // the clock when it happened
	Kind  Kind         // what happened
	Line  cortexm.Line // for IRQ, the line taken
	Value uint32       // for the other kinds, see Kind
	Name  string       // the peripheral's name, or the note's label
}

// String formats e as one trace line, for example "    120 uart rx 'h'".
func (e Event) String() string {
	at := fmt.Sprintf("%7d ", e.At)
	switch e.Kind {
	case IRQ:
		return at + "irq " + strconv.Itoa(int(e.Line))
	case PinSet:
		level := "low"
		if e.Value != 0 {
			level = "high"
		}
		return at + e.Name + " " + level
	case RX, TX, Overrun:
		return at + e.Name + " " + e.Kind.String() + " " + strconv.QuoteRune(rune(byte(e.Value)))
	default:
		return at + e.Name + " " + e.Kind.String() + " " + strconv.FormatUint(uint64(e.Value), 10)
	}
}

// Note records a program event in the trace, for example a task's step.
// label should be a constant string: Note does not copy it.
func (m *MCU) Note(label string, value uint32) {
	m.record(Event{At: m.now, Kind: Note, Value: value, Name: label})
}

// Trace returns the recorded events, oldest first. The slice is the MCU's
// own and is overwritten after Reset.
func (m *MCU) Trace() []Event { return m.trace }

// Dropped reports how many events did not fit in the trace since the last
// Reset.
func (m *MCU) Dropped() int { return m.dropped }

func (m *MCU) record(e Event) {
	if len(m.trace) == cap(m.trace) {
		m.dropped++
		return
	}
	m.trace = append(m.trace, e)
}

// WriteTrace writes the trace to w, one event a line, except that the bytes
// a UART sends at one tick share one line, for example
// `    300 uart tx "hello\n"`.
func (m *MCU) WriteTrace(w io.Writer) error {
	tr := m.trace
	for i := 0; i < len(tr); i++ {
		e := tr[i]
		line := e.String()
		if e.Kind == TX {
			j := i
			var text []byte
			for ; j < len(tr) && tr[j].Kind == TX && tr[j].At == e.At && tr[j].Name == e.Name; j++ {
				text = append(text, byte(tr[j].Value))
			}
			line = fmt.Sprintf("%7d %s tx %q", e.At, e.Name, text)
			i = j - 1
		}
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	if m.dropped > 0 {
		if _, err := fmt.Fprintf(w, "(%d events dropped)\n", m.dropped); err != nil {
			return err
		}
	}
	return nil
}
