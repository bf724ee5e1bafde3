//go:build tinygo && cortexm

package main

import (
	"device/arm"
	"unsafe"
)

// out is the one output line being built; it is static, so that printing
// allocates nothing.
var out lineBuf

// lineBuf builds a line of text and writes it over ARM semihosting
// (SYS_WRITE0), which QEMU's -semihosting prints on its console. It needs
// no UART, so the program runs as is on any machine QEMU emulates.
type lineBuf struct {
	buf [96]byte
	n   int
}

// str appends s, truncated to what fits.
func (l *lineBuf) str(s string) *lineBuf {
	l.n += copy(l.buf[l.n:len(l.buf)-2], s)
	return l
}

// num appends v in decimal.
func (l *lineBuf) num(v uint32) *lineBuf {
	var d [10]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			break
		}
	}
	l.n += copy(l.buf[l.n:len(l.buf)-2], d[i:])
	return l
}

// line ends the line, writes it and starts the next.
func (l *lineBuf) line() {
	l.buf[l.n] = '\n'
	l.buf[l.n+1] = 0
	arm.SemihostingCall(arm.SemihostingWrite0, uintptr(unsafe.Pointer(&l.buf[0])))
	l.n = 0
}
