//go:build tinygo && nrf51qemu

package main

// The vectors of microbit-qemu.json's table (vectors.c) that this program
// uses. With TinyGo's microbit target, device/nrf defines them instead.

//export IRQ8_Handler
func irqTimerVector() { callHandlers(irqTimer) }

//export IRQ20_Handler
func irqSoftVector() { callHandlers(irqSoft) }
