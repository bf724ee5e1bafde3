//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The benchmark reads /proc, uses O_DIRECT and compares io_uring: it has
// nothing to measure elsewhere.
func main() {
	fmt.Fprintln(os.Stderr, "execbench: runs on Linux only")
	os.Exit(1)
}
