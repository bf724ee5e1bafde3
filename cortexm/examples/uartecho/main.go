// Uartecho runs a cortexm executor on the simulated MCU of package
// cortexm/sim: one task echoes each line received on a UART, waiting at
// the same time on the UART's receive interrupt and on an idle timer, and
// finishes when the line has been idle for a while. It prints the trace of
// the run: each interrupt taken, each byte received and each line sent,
// with the tick it happened at, then the executor's counters.
//
// The input's first byte arrives before the executor runs, so its
// interrupt finds nobody waiting and is latched; the task's first Wait
// consumes the latch and the byte is not lost.
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

const (
	lineRX    cortexm.Line = 0 // the UART's receive interrupt line
	lineTimer cortexm.Line = 1 // the idle timer's interrupt line
	numLines               = 2

	input    = "hi\nhello, world\n"
	byteTime = 10   // ticks per received byte
	idle     = 1000 // ticks without input before the task finishes
	lineCap  = 32   // longest line echoed in one piece
)

// The MCU, its peripherals and the executor's storage: static, as they
// would be in firmware.
var (
	mcu   = sim.New(numLines, 128)
	uart  = mcu.NewUART("uart", lineRX, 64)
	timer = mcu.NewTimer(lineTimer)

	ex    cortexm.Executor
	slots [1]cortexm.Slot
	lists [numLines]cortexm.WakerList

	task echo

	bye = []byte("idle, bye\n")
)

func init() {
	// Bind each line's handler to the executor, as interrupt.New does on
	// TinyGo. The method values are the only allocations of the program.
	mcu.Handle(lineRX, ex.OnInterrupt)
	mcu.Handle(lineTimer, ex.OnInterrupt)
}

// echo collects received bytes into a line and sends the line back when it
// ends or fills the buffer.
type echo struct {
	started bool
	buf     [lineCap]byte
	n       int // bytes in buf
	lines   int // lines sent
}

// Poll reads every waiting byte, restarting the idle timer for each, and
// sends a line when complete. It finishes when the idle timer expires, and
// otherwise waits for the next byte or the timer, whichever comes first.
func (e *echo) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if !e.started {
		e.started = true
		timer.Start(idle)
	}
	for {
		b, ok := uart.Read()
		if !ok {
			break
		}
		timer.Start(idle)
		e.buf[e.n] = b
		e.n++
		if b == '\n' || e.n == len(e.buf) {
			uart.Write(e.buf[:e.n])
			e.n = 0
			e.lines++
		}
	}
	if timer.Expired() {
		uart.Write(e.buf[:e.n])
		uart.Write(bye)
		return true
	}
	ex.Wait(id, lineRX)
	ex.Wait(id, lineTimer)
	return false
}

// boot puts the MCU and the executor in their power-on state, schedules
// the input, and spawns the task. It does not allocate.
func boot() {
	mcu.Reset()
	ex.Init(mcu, slots[:], lists[:])
	uart.Feed(input, 1, byteTime)
	// The first byte arrives while the program is still booting.
	mcu.Advance(1)
	task = echo{}
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
	_, err := fmt.Fprintf(w, "echoed %d lines, %d overruns; %d polls, %d interrupts (%d latched), %d sleeps; clock at %d\n",
		task.lines, uart.Overruns(), s.Polls, s.Interrupts, s.Latched, s.Sleeps, mcu.Now())
	return err
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
