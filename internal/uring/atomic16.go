package uring

import (
	"sync/atomic"
	"unsafe"
)

// The provided-buffer ring tail is the 16-bit Resv field of the first
// entry; it shares an aligned 32-bit word with that entry's Bid field.
// sync/atomic has no 16-bit operations, so the tail is read and written
// with 32-bit atomics on the containing word.

// tailShift is the bit position of Buf.Resv within the 32-bit word that
// starts at Buf.Bid: 16 on little-endian machines, 0 on big-endian ones.
var tailShift = func() uint {
	w := uint32(1)
	if *(*byte)(unsafe.Pointer(&w)) == 1 {
		return 16
	}
	return 0
}()

func tailWord(first *Buf) *uint32 { return (*uint32)(unsafe.Pointer(&first.Bid)) }

func loadTail(first *Buf) uint16 {
	return uint16(atomic.LoadUint32(tailWord(first)) >> tailShift)
}

func storeTail(first *Buf, v uint16) {
	w := tailWord(first)
	for {
		old := atomic.LoadUint32(w)
		nw := old&^(0xffff<<tailShift) | uint32(v)<<tailShift
		if atomic.CompareAndSwapUint32(w, old, nw) {
			return
		}
	}
}
