package main

import (
	"strings"
	"testing"
)

const wantTrace = `   1000 irq 0
   1000 led high
   2000 irq 0
   2000 led low
   3000 irq 0
   3000 led high
   4000 irq 0
   4000 led low
   5000 irq 0
   5000 led high
   6000 irq 0
   6000 led low
   7000 irq 0
   7000 led high
   8000 irq 0
   8000 led low
   9000 irq 0
   9000 led high
  10000 irq 0
  10000 led low
led toggled 10 times; 11 polls, 10 interrupts, 10 sleeps; clock at 10000
`

func TestTrace(t *testing.T) {
	// Twice: boot must bring everything back to the power-on state.
	for range 2 {
		var b strings.Builder
		if err := run(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != wantTrace {
			t.Errorf("trace:\n%s\nwant:\n%s", got, wantTrace)
		}
	}
}

func TestRunDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(20, func() {
		boot()
		ex.Run()
	})
	if allocs != 0 {
		t.Errorf("boot and Run allocate %v times, want 0", allocs)
	}
	if task.n != toggles || led.High() {
		t.Errorf("after Run: %d toggles, led high %v; want %d, false", task.n, led.High(), toggles)
	}
}
