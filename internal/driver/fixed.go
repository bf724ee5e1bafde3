package driver

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
)

// Fixed buffers. A read or write of a regular file through the ring pins
// the pages of its buffer in the kernel (get_user_pages) and, here, in the
// Go runtime (runtime.Pinner), and unpins them when it completes. Memory
// registered once with IORING_REGISTER_BUFFERS2 is pinned for as long as
// it stays registered: a READ_FIXED or WRITE_FIXED request into it skips
// both, which is what a storage engine reading into its own long-lived,
// aligned buffers wants. The driver keeps a table of maxFixed slots,
// registered empty with the first buffer, and picks READ_FIXED for any
// ring read or write of a regular file whose buffer lies inside a
// registered one: callers keep using ReadAt and WriteAt.

// maxFixed is the number of fixed-buffer slots of a ring.
const maxFixed = 64

// MaxFixedBuffer is the largest buffer RegisterBuffer accepts: the
// kernel's limit for one registration.
const MaxFixedBuffer = uring.MaxFixedBuffer

// ErrNoFixedSlot is returned by RegisterBuffer when every slot of the
// ring's table holds a buffer.
var ErrNoFixedSlot = errors.New("driver: every fixed-buffer slot is in use")

// fixedRegion is one registered buffer, [base, end).
type fixedRegion struct {
	base, end uintptr
	slot      uint16
	// mem keeps the buffer allocated, and so its pages mapped as the
	// kernel pinned them, while it is registered, even if its owner
	// drops it: memory the Go runtime freed and gave back to the OS
	// (MADV_DONTNEED) would later be mapped to other pages than the
	// kernel's, and fixed reads into it would land where no one looks.
	mem []byte
	// refs counts the requests queued or in flight that name the slot: a
	// slot is emptied, and may be reused, only once none does.
	refs atomic.Int64
	// dead is set by UnregisterBuffer before it waits for refs to drain.
	// lookup takes its reference first and checks dead after, so that of
	// a lookup and an UnregisterBuffer racing, one sees the other: the
	// lookup backs off, or UnregisterBuffer waits for its request.
	dead atomic.Bool
}

// fixedTable is a ring's registered buffers.
type fixedTable struct {
	mu         sync.Mutex // serializes RegisterBuffer and UnregisterBuffer
	registered bool       // the sparse table exists in the kernel
	slots      [maxFixed]*fixedRegion
	// live is what lookups read: the registered regions, copied on every
	// change, so that a read or write finds its region with no lock.
	live atomic.Pointer[[]*fixedRegion]
}

// lookup returns the registered region holding all of p, with a reference
// taken, or nil.
func (t *fixedTable) lookup(p []byte) *fixedRegion {
	rs := t.live.Load()
	if rs == nil {
		return nil
	}
	start := uintptr(unsafe.Pointer(&p[0]))
	end := start + uintptr(len(p))
	for _, r := range *rs {
		if r.base <= start && end <= r.end {
			r.refs.Add(1)
			if r.dead.Load() {
				r.refs.Add(-1)
				return nil
			}
			return r
		}
	}
	return nil
}

// publishLocked rebuilds live from slots. Called with mu held.
func (t *fixedTable) publishLocked() {
	var rs []*fixedRegion
	for _, r := range t.slots {
		if r != nil {
			rs = append(rs, r)
		}
	}
	t.live.Store(&rs)
}

// RegisterBuffer registers p as a fixed buffer of the ring: until
// UnregisterBuffer(id), reads and writes of regular files through the ring
// whose buffer lies within p are made as READ_FIXED and WRITE_FIXED. The
// driver keeps p allocated until then. The caller does not register memory
// that overlaps a registered buffer. Errors: ErrNoFixedSlot, ErrClosed, or
// the kernel's (ENOMEM when the memory cannot be locked, RLIMIT_MEMLOCK).
func (d *uringDriver) RegisterBuffer(p []byte) (id int, err error) {
	if len(p) == 0 || len(p) > MaxFixedBuffer {
		return -1, fmt.Errorf("driver: a fixed buffer of %d bytes: want 1 to %d", len(p), MaxFixedBuffer)
	}
	if d.isClosed.Load() {
		return -1, ErrClosed
	}
	t := &d.fixed
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := -1
	for i, r := range t.slots {
		if r == nil {
			slot = i
			break
		}
	}
	if slot < 0 {
		return -1, ErrNoFixedSlot
	}
	err = d.onIssuer(func() error {
		if !t.registered {
			if err := d.ring.RegisterBufferTable(maxFixed); err != nil {
				return err
			}
			t.registered = true
		}
		return d.ring.UpdateBuffer(uint32(slot), p)
	})
	if err != nil {
		return -1, err
	}
	base := uintptr(unsafe.Pointer(&p[0]))
	t.slots[slot] = &fixedRegion{base: base, end: base + uintptr(len(p)), slot: uint16(slot), mem: p}
	t.publishLocked()
	return slot, nil
}

// UnregisterBuffer undoes RegisterBuffer. Requests already made into the
// buffer complete normally (UnregisterBuffer waits for them: they are
// reads and writes of regular files, which end); later ones pin their
// pages each time again.
func (d *uringDriver) UnregisterBuffer(id int) error {
	t := &d.fixed
	t.mu.Lock()
	defer t.mu.Unlock()
	if id < 0 || id >= maxFixed || t.slots[id] == nil {
		return fmt.Errorf("driver: no fixed buffer %d", id)
	}
	r := t.slots[id]
	r.dead.Store(true)
	t.slots[id] = nil
	t.publishLocked()
	// A request that found r just before it was unpublished may still be
	// on its way to the SQ: emptying the slot under it would fail it, and
	// registering another buffer there would redirect it.
	for pause := time.Microsecond; r.refs.Load() != 0; pause = min(2*pause, time.Millisecond) {
		time.Sleep(pause)
	}
	err := d.onIssuer(func() error { return d.ring.UpdateBuffer(uint32(id), nil) })
	if errors.Is(err, ErrClosed) {
		return nil // the ring is gone, and its registrations with it
	}
	return err
}

// issuerCall is a function to run on the ring's submitting thread.
type issuerCall struct {
	fn   func() error
	done chan error
}

// onIssuer runs fn where the ring lets it register resources: on the
// completion thread of a single-issuer ring (the kernel refuses any other
// thread, EEXIST), on the caller's goroutine otherwise. It returns fn's
// error, or ErrClosed if the ring has stopped.
func (d *uringDriver) onIssuer(fn func() error) error {
	if !d.cfg.singleIssuer {
		d.mu.Lock()
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return ErrClosed
		}
		return fn()
	}
	c := issuerCall{fn: fn, done: make(chan error, 1)}
	d.mu.Lock()
	if d.issuerGone {
		d.mu.Unlock()
		return ErrClosed
	}
	d.calls = append(d.calls, c)
	d.wakeIssuerUnlock()
	return <-c.done
}

// endCalls fails the calls still queued once the completion thread has
// stopped, and every later one.
func (d *uringDriver) endCalls() {
	d.mu.Lock()
	d.issuerGone = true
	calls := d.calls
	d.calls = nil
	d.mu.Unlock()
	for _, c := range calls {
		c.done <- ErrClosed
	}
}
