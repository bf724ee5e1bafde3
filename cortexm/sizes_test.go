package cortexm

import (
	"testing"
	"unsafe"
)

// The documented memory cost, in bytes, on 32-bit targets (ARM, with gc or
// TinyGo) and on 64-bit hosts.
var sizes = map[uintptr]struct{ node, slot, list, executor uintptr }{
	4: {16, 56, 12, 84},
	8: {32, 112, 24, 144},
}

// TestSizes checks the documented sizes for the word size of the target it
// runs on: the host, GOARCH=arm under qemu-arm, or a Cortex-M under TinyGo
// (tinygo test -target=cortex-m-qemu), whose layout is the one that counts.
func TestSizes(t *testing.T) {
	got := struct{ node, slot, list, executor uintptr }{
		unsafe.Sizeof(node{}), unsafe.Sizeof(Slot{}), unsafe.Sizeof(WakerList{}), unsafe.Sizeof(Executor{}),
	}
	word := unsafe.Sizeof(uintptr(0))
	t.Logf("%d-bit: node %d, Slot %d, WakerList %d, Executor %d bytes", 8*word, got.node, got.slot, got.list, got.executor)
	want, ok := sizes[word]
	if !ok {
		t.Skipf("no documented sizes for %d-byte words", word)
	}
	if got != want {
		t.Errorf("sizes %+v, documented %+v", got, want)
	}
}
