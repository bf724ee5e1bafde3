package main

import (
	"strings"
	"testing"
)

const wantTrace = `
      1 uart rx 'h'
      1 irq 0
     11 uart rx 'i'
     11 irq 0
     21 uart rx '\n'
     21 irq 0
     21 uart tx "hi\n"
     31 uart rx 'h'
     31 irq 0
     41 uart rx 'e'
     41 irq 0
     51 uart rx 'l'
     51 irq 0
     61 uart rx 'l'
     61 irq 0
     71 uart rx 'o'
     71 irq 0
     81 uart rx ','
     81 irq 0
     91 uart rx ' '
     91 irq 0
    101 uart rx 'w'
    101 irq 0
    111 uart rx 'o'
    111 irq 0
    121 uart rx 'r'
    121 irq 0
    131 uart rx 'l'
    131 irq 0
    141 uart rx 'd'
    141 irq 0
    151 uart rx '\n'
    151 irq 0
    151 uart tx "hello, world\n"
   1151 irq 1
   1151 uart tx "idle, bye\n"
echoed 2 lines, 0 overruns; 18 polls, 17 interrupts (1 latched), 16 sleeps; clock at 1151
`

func TestTrace(t *testing.T) {
	want := strings.TrimPrefix(wantTrace, "\n")
	// Twice: boot must bring everything back to the power-on state.
	for range 2 {
		var b strings.Builder
		if err := run(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != want {
			t.Errorf("trace:\n%s\nwant:\n%s", got, want)
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
	if got, want := string(uart.Output()), "hi\nhello, world\nidle, bye\n"; got != want {
		t.Errorf("after Run, output %q, want %q", got, want)
	}
}
