//go:build tinygo && lm3s6965

package main

import (
	"runtime/volatile"
	"unsafe"
)

// The Stellaris LM3S6965 of QEMU's lm3s6965evb machine (Cortex-M3).
const (
	irqTimer = 19 // Timer0A
	irqSoft  = 0  // GPIO port A: no pin raises it here, software pends it
)

// period is the timer's reload value, in system clock cycles.
const period = 120000

// gptm is a general-purpose timer module's register block.
type gptm struct {
	CFG   volatile.Register32 // 0x00
	TAMR  volatile.Register32 // 0x04
	TBMR  volatile.Register32 // 0x08
	CTL   volatile.Register32 // 0x0C
	_     [2]uint32           // 0x10, 0x14
	IMR   volatile.Register32 // 0x18
	RIS   volatile.Register32 // 0x1C
	MIS   volatile.Register32 // 0x20
	ICR   volatile.Register32 // 0x24
	TAILR volatile.Register32 // 0x28
}

var (
	timer0 = (*gptm)(unsafe.Pointer(uintptr(0x40030000)))
	rcgc1  = (*volatile.Register32)(unsafe.Pointer(uintptr(0x400FE104))) // run-mode clock gating 1
)

const (
	rcgc1Timer0 = 1 << 16
	tamrPeriod  = 0x2    // TAMR: periodic mode
	ctlTAEN     = 1 << 0 // CTL: timer A enable
	intTATO     = 1 << 0 // IMR, RIS, ICR: timer A time-out
)

// timerStart starts Timer0A as a periodic 32-bit timer with its time-out
// interrupt enabled.
func timerStart() {
	rcgc1.SetBits(rcgc1Timer0)
	timer0.CTL.Set(0)
	timer0.CFG.Set(0) // 32-bit timer
	timer0.TAMR.Set(tamrPeriod)
	timer0.TAILR.Set(period - 1)
	timer0.ICR.Set(intTATO)
	timer0.IMR.Set(intTATO)
	timer0.CTL.Set(ctlTAEN)
}

// timerClear acknowledges the time-out, which lowers the interrupt.
func timerClear() { timer0.ICR.Set(intTATO) }

// timerStop stops the timer and masks its interrupt.
func timerStop() {
	timer0.CTL.Set(0)
	timer0.IMR.Set(0)
}

//export IRQ19_Handler
func irqTimerVector() { callHandlers(irqTimer) }

//export IRQ0_Handler
func irqSoftVector() { callHandlers(irqSoft) }
