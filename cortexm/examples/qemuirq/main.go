//go:build tinygo && cortexm

// Qemuirq runs the cortexm executor on the real Cortex-M port (PRIMASK,
// WFI and NVIC interrupts through TinyGo), under QEMU: a periodic hardware
// timer interrupt drives a task that blinks a (printed) LED ten times, and
// every third tick that task pends a second interrupt in the NVIC by
// software, which wakes a second task. It prints its trace over ARM
// semihosting and exits QEMU when both tasks have finished.
//
// Everything lives in static variables and nothing allocates: the program
// is built with -gc=none, which turns any heap allocation into a link
// error, and -scheduler=none, since the executor replaces goroutines:
//
//	tinygo build -target=examples/qemuirq/lm3s6965evb.json -gc=none -scheduler=none -o qemuirq.elf ./examples/qemuirq
//	qemu-system-arm -machine lm3s6965evb -nographic -semihosting -kernel qemuirq.elf
//
// The same program runs on the Cortex-M0 of QEMU's microbit machine (an
// nRF51, ARMv6-M) with -target=examples/qemuirq/microbit-qemu.json, or with
// TinyGo's own -target=microbit where its device/nrf package has been
// generated. The chip_*.go files hold what differs: the timer's registers,
// the interrupt numbers, and the vectors where the target has no device
// package. cortexm/qemu-test.sh builds and runs them and compares their
// output with testdata/trace.txt.
package main

import (
	"device/arm"
	"runtime/interrupt"

	"github.com/executor-go/executor/cortexm"
)

// The executor's lines: one per interrupt the tasks wait for.
const (
	lineTimer cortexm.Line = 0
	lineSoft  cortexm.Line = 1
	numLines               = 2
)

const (
	ticks     = 10 // timer interrupts the blinker waits for
	softEvery = 3  // the blinker pends the software interrupt every softEvery ticks
)

// The executor's storage and the tasks: static, so that nothing is
// allocated (220 bytes on a Cortex-M: 84 + 2×56 + 2×12).
var (
	ex    cortexm.Executor
	slots [2]cortexm.Slot
	lists [numLines]cortexm.WakerList

	blink blinker
	soft  softWaiter
)

// Counts kept by the interrupt handlers and read by the tasks' polls, which
// run with interrupts disabled.
var (
	timerFired uint32
	softFired  uint32
)

func main() {
	ex.Init(cortexm.CortexM{}, slots[:], lists[:])
	// interrupt.New is a compiler intrinsic: the number must be a constant
	// and the handler a plain function. The chip file's exported IRQn
	// vectors call the handlers registered here.
	interrupt.New(irqTimer, timerISR).Enable()
	interrupt.New(irqSoft, softISR).Enable()
	if _, err := ex.Spawn(&blink); err != nil {
		fail("spawn blinker")
	}
	if _, err := ex.Spawn(&soft); err != nil {
		fail("spawn soft")
	}
	ex.Run()

	s := ex.Stats()
	out.str("done: ").num(blink.seen).str(" ticks, ").num(soft.seen).str(" soft interrupts; ").
		num(s.Polls).str(" polls, ").num(s.Interrupts).str(" interrupts, ").
		num(s.Latched).str(" latched, ").num(s.Sleeps).str(" sleeps").line()
	// Exit QEMU, status 0. (The runtime of cortex-m-qemu would do it when
	// main returns, not that of a board such as TinyGo's microbit.)
	arm.SemihostingCall(arm.SemihostingReportException, arm.SemihostingApplicationExit)
}

// timerISR is the timer's interrupt handler: it quiets the timer, counts
// the tick and lets the executor poll the task waiting for it.
func timerISR(interrupt.Interrupt) {
	timerClear()
	timerFired++
	ex.OnInterrupt(lineTimer)
}

// softISR handles the software-pended interrupt; the NVIC cleared its
// pending bit when it took it.
func softISR(interrupt.Interrupt) {
	softFired++
	ex.OnInterrupt(lineSoft)
}

// blinker toggles the LED at each timer tick, pends the software interrupt
// every softEvery ticks, and finishes after the last tick.
type blinker struct {
	started bool
	on      bool
	seen    uint32 // ticks handled
}

func (b *blinker) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if !b.started {
		b.started = true
		timerStart()
	}
	for b.seen < timerFired {
		b.seen++
		b.on = !b.on
		out.str("tick ").num(b.seen).str(": led ")
		if b.on {
			out.str("on").line()
		} else {
			out.str("off").line()
		}
		if b.seen%softEvery == 0 {
			// Taken when this handler returns: polls run with
			// interrupts disabled, and both lines have the same
			// priority.
			arm.NVIC.ISPR[irqSoft>>5].Set(1 << (irqSoft & 31))
		}
	}
	if b.seen >= ticks {
		timerStop()
		return true
	}
	ex.Wait(id, lineTimer)
	return false
}

// softWaiter reports each software interrupt and finishes after the last.
type softWaiter struct {
	seen uint32
}

func (w *softWaiter) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	for w.seen < softFired {
		w.seen++
		out.str("soft interrupt ").num(w.seen).line()
	}
	if w.seen >= ticks/softEvery {
		return true
	}
	ex.Wait(id, lineSoft)
	return false
}

// fail reports a set-up error and stops.
func fail(what string) {
	out.str("error: ").str(what).line()
	for {
		arm.Asm("wfi")
	}
}
