package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary stand in for the program as a cell's child
// process (runCell starts os.Executable), and checks that no test leaves a
// goroutine behind.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		childMain(spec)
		os.Exit(0)
	}
	// Under -race, a process sleeps a second at exit (so that racing
	// goroutines get reported); the cells' children need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	goleak.VerifyTestMain(m)
}
