// Blinky runs a cortexm executor on the simulated MCU of package
// cortexm/sim: a periodic timer interrupt wakes a task that toggles an LED,
// ten times, and then finishes. It prints the trace of the run: each
// interrupt taken and each write to the LED pin, with the tick it happened
// at, then the executor's counters.
//
// Everything lives in static variables, as on a microcontroller; after
// init the program allocates nothing.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

// lineTimer is the timer's interrupt line.
const lineTimer cortexm.Line = 0

const (
	numLines = 1
	period   = 1000 // ticks between toggles
	toggles  = 10
)

// The MCU, its peripherals and the executor's storage: static, as they
// would be in firmware.
var (
	mcu   = sim.New(numLines, 64)
	timer = mcu.NewTimer(lineTimer)
	led   = mcu.NewPin("led")

	ex    cortexm.Executor
	slots [1]cortexm.Slot
	lists [numLines]cortexm.WakerList

	task blinker
)

func init() {
	// Bind the line's handler to the executor, as interrupt.New does on
	// TinyGo. The method value is the only allocation of the program.
	mcu.Handle(lineTimer, ex.OnInterrupt)
}

// blinker toggles the LED each time the timer expires.
type blinker struct {
	started bool
	n       int // toggles so far
}

// Poll starts the timer on its first call; after that it toggles the LED
// when the timer has expired, and finishes after the last toggle.
func (b *blinker) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if !b.started {
		b.started = true
		timer.StartPeriodic(period)
	}
	if timer.Expired() {
		timer.Clear()
		led.Toggle()
		b.n++
		if b.n == toggles {
			timer.Stop()
			return true
		}
	}
	ex.Wait(id, lineTimer)
	return false
}

// boot puts the MCU and the executor in their power-on state and spawns
// the task. It does not allocate.
func boot() {
	mcu.Reset()
	ex.Init(mcu, slots[:], lists[:])
	task = blinker{}
	if _, err := ex.Spawn(&task); err != nil {
		panic(err) // one task, one slot: cannot happen
	}
}

// run boots, runs the executor until the task is done, and writes the
// trace to w.
func run(w io.Writer) error {
	boot()
	ex.Run()
	if err := mcu.WriteTrace(w); err != nil {
		return err
	}
	s := ex.Stats()
	_, err := fmt.Fprintf(w, "led toggled %d times; %d polls, %d interrupts, %d sleeps; clock at %d\n",
		task.n, s.Polls, s.Interrupts, s.Sleeps, mcu.Now())
	return err
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
