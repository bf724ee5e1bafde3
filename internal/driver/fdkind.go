package driver

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdKind is what the driver remembers about a descriptor number.
type fdKind uint8

const (
	kindDirect  fdKind = 1 << iota // O_DIRECT is set
	kindRegular                    // a regular file
	kindKnown                      // the entry is filled in
)

// fdKindsDense is how many descriptor numbers fdKinds keeps in its array.
// Programs rarely use more; numbers beyond go to a map.
const fdKindsDense = 1024

// fdKinds caches the kind of each descriptor number, so that a read does
// not pay fcntl(2) and fstat(2) to learn whether it may try RWF_NOWAIT.
// It is read on every file read, from every core: the low numbers live in
// an array of atomics (one load, no hashing, no shared write), the rest in
// a sync.Map.
type fdKinds struct {
	dense  [fdKindsDense]atomic.Uint32
	sparse sync.Map // int32 fd → fdKind
}

// get returns fd's kind, asking the kernel the first time.
func (k *fdKinds) get(fd int) fdKind {
	if uint(fd) < fdKindsDense {
		if v := fdKind(k.dense[fd].Load()); v&kindKnown != 0 {
			return v
		}
	} else if v, ok := k.sparse.Load(int32(fd)); ok {
		return v.(fdKind)
	}
	v := kindKnown
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_DIRECT != 0 {
		v |= kindDirect
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		v |= kindRegular
	}
	if uint(fd) < fdKindsDense {
		k.dense[fd].Store(uint32(v))
	} else {
		k.sparse.Store(int32(fd), v)
	}
	return v
}

// forget drops what is known of fd, whose number is being opened or closed.
func (k *fdKinds) forget(fd int) {
	if uint(fd) < fdKindsDense {
		k.dense[fd].Store(0)
	} else {
		k.sparse.Delete(int32(fd))
	}
}

// stripedCounter is a counter that many cores add to at once without
// sharing a cache line: each add goes to one of several padded slots,
// picked by a caller-supplied hint, and a read sums them. The driver
// counts inline reads with it: with one shared word, two cores each
// completing a page-cache read every microsecond would bounce that line
// between them on every read.
type stripedCounter struct {
	slots [counterStripes]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

const counterStripes = 8

// add adds one. hint spreads callers over the slots; any value is correct,
// and values that differ between concurrent callers are faster (the
// address of the caller's buffer, shifted past its page offset).
func (c *stripedCounter) add(hint uintptr) {
	c.slots[(hint>>12^hint>>16)%counterStripes].n.Add(1)
}

// load returns the sum of the slots.
func (c *stripedCounter) load() uint64 {
	var n uint64
	for i := range c.slots {
		n += c.slots[i].n.Load()
	}
	return n
}

// bufHint is a stripedCounter hint for an operation on p: concurrent
// callers use distinct buffers.
func bufHint(p []byte) uintptr {
	if len(p) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&p[0]))
}
