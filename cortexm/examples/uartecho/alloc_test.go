//go:build !tinygo

// Under TinyGo, testing.AllocsPerRun always reports 0: this test means
// something on the host only.

package main

import "testing"

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
