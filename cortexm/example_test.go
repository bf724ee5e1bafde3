package cortexm_test

import (
	"fmt"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

// beeper waits for a one-shot timer three times.
type beeper struct {
	timer *sim.Timer
	mcu   *sim.MCU
	beeps int
}

func (b *beeper) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if b.timer.Expired() {
		b.beeps++
		fmt.Println("beep", b.beeps, "at tick", b.mcu.Now())
		if b.beeps == 3 {
			return true
		}
	}
	b.timer.Start(250) // set up the interrupt, then wait for it
	ex.Wait(id, 0)
	return false
}

// A task waits for a timer interrupt three times on the simulated MCU. Run
// polls it once, sleeps, and the timer's handler polls it again at each
// expiry; Run returns when it finishes.
func Example() {
	mcu := sim.New(1, 0)
	var (
		slots [2]cortexm.Slot
		lists [1]cortexm.WakerList
	)
	ex := cortexm.NewExecutor(mcu, slots[:], lists[:])
	mcu.Handle(0, ex.OnInterrupt) // line 0's interrupt handler

	task := &beeper{timer: mcu.NewTimer(0), mcu: mcu}
	if _, err := ex.Spawn(task); err != nil {
		fmt.Println(err)
		return
	}
	ex.Run()
	s := ex.Stats()
	fmt.Println(s.Polls, "polls,", s.Sleeps, "sleeps")
	// Output:
	// beep 1 at tick 250
	// beep 2 at tick 500
	// beep 3 at tick 750
	// 4 polls, 3 sleeps
}

// reader waits for whichever comes first: a UART byte or a timeout.
type reader struct {
	uart    *sim.UART
	timeout *sim.Timer
	started bool
}

const (
	lineRX      cortexm.Line = 0
	lineTimeout cortexm.Line = 1
)

func (r *reader) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if !r.started {
		r.started = true
		r.timeout.Start(100)
	}
	if b, ok := r.uart.Read(); ok {
		fmt.Printf("got %q\n", b)
		r.timeout.Start(100)
	}
	if r.timeout.Expired() {
		fmt.Println("timeout")
		return true
	}
	// Wait on both lines; the next interrupt of either polls the task,
	// and the poll first removes both registrations.
	ex.Wait(id, lineRX)
	ex.Wait(id, lineTimeout)
	return false
}

// A task can wait on up to MaxWaits lines at once. Here the first byte
// arrives before the task's first poll: its interrupt finds nobody waiting
// and is latched, and the task's Wait consumes the latch.
func ExampleExecutor_Wait() {
	mcu := sim.New(2, 0)
	var (
		slots [1]cortexm.Slot
		lists [2]cortexm.WakerList
	)
	ex := cortexm.NewExecutor(mcu, slots[:], lists[:])
	mcu.Handle(lineRX, ex.OnInterrupt)
	mcu.Handle(lineTimeout, ex.OnInterrupt)

	uart := mcu.NewUART("uart", lineRX, 0)
	uart.Feed("ab", 1, 30)
	mcu.Advance(1) // 'a' arrives: latched

	ex.Spawn(&reader{uart: uart, timeout: mcu.NewTimer(lineTimeout)})
	ex.Run()
	s := ex.Stats()
	fmt.Println(s.Latched, "latched; ended at tick", mcu.Now())
	// Output:
	// got 'a'
	// got 'b'
	// timeout
	// 1 latched; ended at tick 131
}
