package driver

import (
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// An op is the completion record of one request in flight on the ring.
// Records live in a slab and are reused; the request's user_data names a
// record by index and generation (see userData), never by pointer, so a
// CQE that arrives for a record that has since been reused is recognised
// as stale and ignored.
type op struct {
	gen atomic.Uint32 // bumped each time the record is released

	// done receives one value when the request's CQE has been reaped.
	// res and flags are written before the send and read after the
	// receive, so the channel orders them.
	done  chan struct{}
	res   int32
	flags uint32

	// state is stateIdle, or how the completion thread must deliver the
	// request's CQE. The submitter stores it after building the request
	// and the completion thread swaps it back to stateIdle before reading
	// the record: this orders the record's fields between the two
	// goroutines (the kernel, which carries the request between them, is
	// invisible to the Go memory model and the race detector), and makes a
	// second CQE for the same request harmless.
	state atomic.Uint32

	fd int32 // the descriptor the request is counted against, or -1

	// Memory the SQE points at. It belongs to the record, so it stays
	// alive while the request is in flight and is reused afterwards.
	pin   runtime.Pinner
	path  []byte
	statx unix.Statx_t

	// CQEs of a multishot request not yet taken by the owner.
	multiMu sync.Mutex
	multi   []cqeResult
}

const (
	stateIdle  uint32 = iota // no request in flight
	stateWait                // the owner waits on done
	stateAuto                // fire-and-forget: the completion thread releases the record
	stateMulti               // multishot: CQEs queue in multi until one without CQEFMore
)

// cqeResult is one CQE's result and flags.
type cqeResult struct {
	res   int32
	flags uint32
}

// push queues a multishot request's CQE for the owner and signals it.
func (o *op) push(res int32, flags uint32) {
	o.multiMu.Lock()
	o.multi = append(o.multi, cqeResult{res, flags})
	o.multiMu.Unlock()
	select {
	case o.done <- struct{}{}:
	default: // already signalled; the owner takes the whole queue
	}
}

// take returns the CQEs queued by push, reusing spare as the next queue.
func (o *op) take(spare []cqeResult) []cqeResult {
	o.multiMu.Lock()
	got := o.multi
	o.multi = spare[:0]
	o.multiMu.Unlock()
	return got
}

// userData packs a record's slab index and generation into an SQE's
// user_data. The top index value is reserved for driver-internal requests
// that have no record.
func userData(idx, gen uint32) uint64 { return uint64(gen)<<32 | uint64(idx) }

// splitUserData is the inverse of userData.
func splitUserData(ud uint64) (idx, gen uint32) { return uint32(ud), uint32(ud >> 32) }

const (
	// udInternal is the index of requests that complete no record: the
	// completion thread's stop NOP and its wake-up read.
	udInternal = ^uint32(0)
	udStop     = uint64(udInternal)
	udWake     = uint64(1)<<32 | uint64(udInternal)
)

// slab holds every op record. Records [0, nOps) serve operations, records
// [nOps, nOps+nCancel) serve cancellation requests, so that cancelling
// never waits for a record held by the operation being cancelled. A
// buffered channel of free indices is both free list and semaphore.
type slab struct {
	ops       []op
	freeOps   chan uint32
	freeCncls chan uint32
	nOps      uint32
}

func newSlab(nOps, nCancel uint32) *slab {
	s := &slab{
		ops:       make([]op, nOps+nCancel),
		freeOps:   make(chan uint32, nOps),
		freeCncls: make(chan uint32, nCancel),
		nOps:      nOps,
	}
	for i := range s.ops {
		s.ops[i].done = make(chan struct{}, 1)
		s.ops[i].fd = -1
		if uint32(i) < nOps {
			s.freeOps <- uint32(i)
		} else {
			s.freeCncls <- uint32(i)
		}
	}
	return s
}

// lookup returns the record that user_data ud names, or nil if ud is out
// of range or its generation is stale.
func (s *slab) lookup(ud uint64) *op {
	idx, gen := splitUserData(ud)
	if idx >= uint32(len(s.ops)) {
		return nil
	}
	o := &s.ops[idx]
	if o.gen.Load() != gen {
		return nil
	}
	return o
}

// ud returns the user_data of record idx at its current generation.
func (s *slab) ud(idx uint32) uint64 { return userData(idx, s.ops[idx].gen.Load()) }

// release makes record idx free again. Its generation changes first, so
// that any CQE still carrying the old user_data is stale from then on.
func (s *slab) release(idx uint32) {
	o := &s.ops[idx]
	o.gen.Add(1)
	o.fd = -1
	if idx < s.nOps {
		s.freeOps <- idx
	} else {
		s.freeCncls <- idx
	}
}
