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
}

const (
	stateIdle uint32 = iota // no request in flight
	stateWait               // the owner waits on done
)

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

// slab holds every op record, in chunks. Records [0, nOps) serve
// operations, records [nOps, nFixed) serve cancellation requests, so that
// cancelling never waits for a record held by the operation being
// cancelled, and records from nFixed on serve socket operations that wait
// for a peer (a receive, an accept), which may hold a record for as long
// as a connection stays idle: they come from a table of their own, so that
// idle connections never make a file read or a send wait for a record.
// That table is made chunk by chunk as connections need it, up to what
// the completion queue can hold beside the others. A buffered channel of
// free indices is both free list and semaphore for the fixed records; a
// buffered channel of tokens is the semaphore of the waiting ones.
type slab struct {
	chunks    []atomic.Pointer[opChunk] // chunk i holds records [i*chunkLen, (i+1)*chunkLen)
	freeOps   chan uint32
	freeCncls chan uint32
	nOps      uint32
	nFixed    uint32 // nOps + cancel records

	waitSlots chan struct{} // one token per waiting record in use
	waitMu    sync.Mutex
	waitFree  []uint32 // waiting records made and free
	waitNext  uint32   // the first index not made yet
}

// chunkLen is the number of records made at once.
const chunkLen = 1024

type opChunk [chunkLen]op

// newSlab makes nOps operation records and nCancel cancel records, and
// room for up to nWait waiting records, made when first needed.
func newSlab(nOps, nCancel, nWait uint32) *slab {
	nFixed := nOps + nCancel
	s := &slab{
		chunks:    make([]atomic.Pointer[opChunk], (nFixed+nWait+chunkLen-1)/chunkLen),
		freeOps:   make(chan uint32, nOps),
		freeCncls: make(chan uint32, nCancel),
		nOps:      nOps,
		nFixed:    nFixed,
		waitSlots: make(chan struct{}, nWait),
		waitNext:  nFixed,
	}
	for i := uint32(0); i < nFixed; i++ {
		s.record(i)
		if i < nOps {
			s.freeOps <- i
		} else {
			s.freeCncls <- i
		}
	}
	return s
}

// record returns record idx, making its chunk if it has none yet. Chunks
// are only made under waitMu or before the slab is shared.
func (s *slab) record(idx uint32) *op {
	c := s.chunks[idx/chunkLen].Load()
	if c == nil {
		c = new(opChunk)
		for i := range c {
			c[i].done = make(chan struct{}, 1)
			c[i].fd = -1
		}
		s.chunks[idx/chunkLen].Store(c)
	}
	return &c[idx%chunkLen]
}

// op returns record idx, which exists.
func (s *slab) op(idx uint32) *op { return &s.chunks[idx/chunkLen].Load()[idx%chunkLen] }

// takeWaiting takes a free waiting record, making one if none is free.
// The caller holds a token of waitSlots, so there is room for it.
func (s *slab) takeWaiting() uint32 {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	if n := len(s.waitFree); n > 0 {
		idx := s.waitFree[n-1]
		s.waitFree = s.waitFree[:n-1]
		return idx
	}
	idx := s.waitNext
	s.waitNext++
	s.record(idx)
	return idx
}

// lookup returns the record that user_data ud names, or nil if ud is out
// of range or its generation is stale.
func (s *slab) lookup(ud uint64) *op {
	idx, gen := splitUserData(ud)
	if idx/chunkLen >= uint32(len(s.chunks)) {
		return nil
	}
	c := s.chunks[idx/chunkLen].Load()
	if c == nil {
		return nil
	}
	o := &c[idx%chunkLen]
	if o.gen.Load() != gen {
		return nil
	}
	return o
}

// ud returns the user_data of record idx at its current generation.
func (s *slab) ud(idx uint32) uint64 { return userData(idx, s.op(idx).gen.Load()) }

// release makes record idx free again. Its generation changes first, so
// that any CQE still carrying the old user_data is stale from then on.
func (s *slab) release(idx uint32) {
	o := s.op(idx)
	o.gen.Add(1)
	o.fd = -1
	switch {
	case idx < s.nOps:
		s.freeOps <- idx
	case idx < s.nFixed:
		s.freeCncls <- idx
	default:
		s.waitMu.Lock()
		s.waitFree = append(s.waitFree, idx)
		s.waitMu.Unlock()
		<-s.waitSlots
	}
}
