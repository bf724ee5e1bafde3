package main

import (
	_ "embed"
	"strings"
	"testing"
)

// wantTrace is the program's whole output, kept in a file that
// cortexm/qemu-test.sh also compares with the output of the program built
// by TinyGo and run under qemu-system-arm.
//
//go:embed testdata/trace.txt
var wantTrace string

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
