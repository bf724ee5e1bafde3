//go:build tinygo && (nrf51qemu || nrf51)

package main

import (
	"runtime/volatile"
	"unsafe"
)

// The nRF51822 of QEMU's microbit machine (Cortex-M0, ARMv6-M: no
// LDREX/STREX, no BASEPRI, which cortexm does not need), with
// microbit-qemu.json or with TinyGo's own microbit target, whose device
// package brings the vectors.
const (
	irqTimer = 8  // TIMER0
	irqSoft  = 20 // SWI0, the software interrupt
)

// period is the timer's compare value, in 1 MHz ticks.
const period = 10000

// TIMER0's registers.
var (
	timerStartTask = reg(0x000)
	timerStopTask  = reg(0x004)
	timerClearTask = reg(0x00C)
	timerCompare0  = reg(0x140) // EVENTS_COMPARE[0]
	timerShorts    = reg(0x200)
	timerIntenset  = reg(0x304)
	timerIntenclr  = reg(0x308)
	timerMode      = reg(0x504)
	timerBitmode   = reg(0x508)
	timerPrescaler = reg(0x510)
	timerCC0       = reg(0x540)
)

func reg(off uintptr) *volatile.Register32 {
	return (*volatile.Register32)(unsafe.Pointer(0x40008000 + off))
}

const (
	shortsCompare0Clear = 1 << 0  // SHORTS: clear the counter at COMPARE[0]
	intCompare0         = 1 << 16 // INTENSET, INTENCLR: COMPARE[0]
	bitmode32           = 3
	prescaler1MHz       = 4 // 16 MHz / 2^4
)

// timerStart starts TIMER0 as a periodic timer: the counter clears itself
// at each COMPARE[0] event, which raises the interrupt.
func timerStart() {
	timerStopTask.Set(1)
	timerClearTask.Set(1)
	timerMode.Set(0) // timer, not counter
	timerBitmode.Set(bitmode32)
	timerPrescaler.Set(prescaler1MHz)
	timerCC0.Set(period)
	timerShorts.Set(shortsCompare0Clear)
	timerCompare0.Set(0)
	timerIntenset.Set(intCompare0)
	timerStartTask.Set(1)
}

// timerClear acknowledges COMPARE[0], which lowers the interrupt.
func timerClear() { timerCompare0.Set(0) }

// timerStop stops the timer and masks its interrupt.
func timerStop() {
	timerStopTask.Set(1)
	timerIntenclr.Set(intCompare0)
}
