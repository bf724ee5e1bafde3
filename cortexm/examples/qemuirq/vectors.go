//go:build tinygo && (lm3s6965 || nrf51qemu)

package main

// The vector table is vectors.c, compiled by TinyGo's cgo for the target:
// a target file's extra-files are looked up under TINYGOROOT, so a program
// that lives outside TinyGo brings its table in its own package. Every
// peripheral vector is a weak alias of a default handler there; the
// chip_*.go files override the ones this program uses with exported Go
// functions that call the handlers registered with interrupt.New, as
// TinyGo's generated device packages do for the chips it knows. (This
// comment is set apart from the import, or cgo would read it as C.)

import "C"

// callHandlers is the compiler intrinsic behind interrupt.New: TinyGo
// replaces each call with calls to the handlers registered for irq, which
// must be a constant.
//
//go:linkname callHandlers runtime/interrupt.callHandlers
func callHandlers(irq int)
