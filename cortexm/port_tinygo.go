//go:build tinygo && cortexm

package cortexm

import (
	"device/arm"
	"runtime/interrupt"
)

// CortexM is the Port of a Cortex-M microcontroller under TinyGo. Disable
// and Restore set and restore PRIMASK through runtime/interrupt;
// WaitForInterrupt executes WFI, which wakes on a pending interrupt even
// with PRIMASK set, so Run's check-then-sleep cannot miss one. See the
// package documentation for how a program binds its handlers.
type CortexM struct{}

// Disable sets PRIMASK and returns its previous value.
func (CortexM) Disable() State { return State(interrupt.Disable()) }

// Restore puts back a PRIMASK value returned by Disable.
func (CortexM) Restore(s State) { interrupt.Restore(interrupt.State(s)) }

// WaitForInterrupt executes WFI.
func (CortexM) WaitForInterrupt() { arm.Asm("wfi") }
