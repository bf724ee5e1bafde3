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
	if task.n != toggles || led.High() {
		t.Errorf("after Run: %d toggles, led high %v; want %d, false", task.n, led.High(), toggles)
	}
}
