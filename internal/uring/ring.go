package uring

import (
	"errors"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syscall hooks. Tests replace them to inject EINTR and other faults
// without root tricks; production code never changes them.
var (
	setupSyscall = func(entries uint32, p *Params) (int, syscall.Errno) {
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
		return int(fd), errno
	}
	enterSyscall = func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSz uintptr) (int, syscall.Errno) {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), uintptr(arg), argSz)
		return int(n), errno
	}
	registerSyscall = func(fd int, opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, syscall.Errno) {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(opcode), uintptr(arg), uintptr(nrArgs), 0, 0)
		return int(n), errno
	}
)

// ErrRingClosed is returned by methods called on a closed Ring.
var ErrRingClosed = errors.New("uring: ring closed")

// Ring is one io_uring instance: its file descriptor and the three shared
// memory regions (SQ ring, CQ ring, SQE array).
//
// The submission side (NextSQE, Flush, SQ accessors) and the completion
// side (PeekCQE, CQAdvance, CQ accessors) may be used from two different
// goroutines, each side serialised by its caller. Enter, Register and
// Close are system calls on the ring fd; Close must not race with
// anything.
type Ring struct {
	fd     int
	params Params

	sqMem, cqMem, sqeMem []byte

	// Submission queue.
	sqHead    *uint32 // written by the kernel
	sqTail    *uint32 // written by us
	sqFlags   *uint32 // written by the kernel
	sqDropped *uint32
	sqMask    uint32
	sqEntries uint32
	sqArray   []uint32
	sqes      []SQE
	sqeTail   uint32 // local tail: SQEs handed out, not yet published by Flush

	// Completion queue.
	cqHead     *uint32 // written by us
	cqTail     *uint32 // written by the kernel
	cqOverflow *uint32
	cqMask     uint32
	cqEntries  uint32
	cqes       []CQE
}

// Setup creates a ring with at least entries SQ entries (rounded up to a
// power of two by the kernel) and maps it. p may be nil; if not, its
// Flags, CQEntries (with SetupCQSize) and the SQPOLL fields are used, and
// on return it holds what the kernel filled in. A refusal by the kernel
// is a *SetupError wrapping the errno.
func Setup(entries uint32, p *Params) (*Ring, error) {
	if entries == 0 {
		return nil, &SetupError{Op: "io_uring_setup", Err: syscall.EINVAL}
	}
	var params Params
	if p != nil {
		params = *p
	}
	if params.Flags&(SetupSQE128|SetupCQE32|SetupNoMmap|SetupNoSQArray|SetupRegisteredFdOnly) != 0 {
		// These change the memory layout this package maps.
		return nil, &SetupError{Op: "io_uring_setup", Err: syscall.EINVAL}
	}
	fd, errno := setupSyscall(entries, &params)
	if errno != 0 {
		return nil, &SetupError{Op: "io_uring_setup", Err: errno}
	}
	r := &Ring{fd: fd, params: params}
	if err := r.mmap(); err != nil {
		r.unmap()
		unix.Close(fd)
		return nil, &SetupError{Op: "mmap", Err: err}
	}
	if p != nil {
		*p = params
	}
	return r, nil
}

func (r *Ring) mmap() error {
	p := &r.params
	sqSize := int(p.SQOff.Array + p.SQEntries*4)
	cqSize := int(p.CQOff.CQEs + p.CQEntries*uint32(unsafe.Sizeof(CQE{})))
	single := p.Features&FeatSingleMmap != 0
	if single && cqSize > sqSize {
		sqSize = cqSize
	}
	var err error
	r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	if single {
		r.cqMem = r.sqMem
	} else {
		r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return err
		}
	}
	sqeSize := int(p.SQEntries) * int(unsafe.Sizeof(SQE{}))
	r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}

	sq := unsafe.Pointer(&r.sqMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.SQOff.Head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.SQOff.Tail))
	r.sqFlags = (*uint32)(unsafe.Add(sq, p.SQOff.Flags))
	r.sqDropped = (*uint32)(unsafe.Add(sq, p.SQOff.Dropped))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.SQOff.RingMask))
	r.sqEntries = *(*uint32)(unsafe.Add(sq, p.SQOff.RingEntries))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(sq, p.SQOff.Array)), p.SQEntries)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.SQEntries)
	// The SQ array is an indirection we do not use: slot i always holds
	// SQE i, so it is filled once here.
	for i := range r.sqArray {
		r.sqArray[i] = uint32(i)
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)

	cq := unsafe.Pointer(&r.cqMem[0])
	r.cqHead = (*uint32)(unsafe.Add(cq, p.CQOff.Head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.CQOff.Tail))
	r.cqOverflow = (*uint32)(unsafe.Add(cq, p.CQOff.Overflow))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.CQOff.RingMask))
	r.cqEntries = *(*uint32)(unsafe.Add(cq, p.CQOff.RingEntries))
	r.cqes = unsafe.Slice((*CQE)(unsafe.Add(cq, p.CQOff.CQEs)), p.CQEntries)
	return nil
}

func (r *Ring) unmap() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.cqMem != nil && (len(r.sqMem) == 0 || &r.cqMem[0] != &r.sqMem[0]) {
		unix.Munmap(r.cqMem)
	}
	r.cqMem = nil
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
		r.sqMem = nil
	}
}

// Close unmaps the rings and closes the ring fd. Requests still in flight
// are cancelled by the kernel; the caller must not be relying on their
// buffers any more. Close is idempotent.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return nil
	}
	r.unmap()
	r.sqes, r.cqes, r.sqArray = nil, nil, nil
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// Fd returns the ring's file descriptor (-1 after Close).
func (r *Ring) Fd() int { return r.fd }

// Params returns the parameters the kernel filled in at setup.
func (r *Ring) Params() Params { return r.params }

// Features returns the kernel's feature bits (FeatNoDrop, FeatExtArg, ...).
func (r *Ring) Features() uint32 { return r.params.Features }

// SQEntries returns the number of SQ entries.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the number of CQ entries.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// SQSpace returns how many SQEs NextSQE can hand out before the SQ is full.
func (r *Ring) SQSpace() uint32 {
	return r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqHead))
}

// NextSQE returns a zeroed SQE at the tail of the submission queue, or nil
// if the queue is full. The SQE becomes visible to the kernel at the next
// Flush.
func (r *Ring) NextSQE() *SQE {
	if r.sqes == nil {
		return nil
	}
	head := atomic.LoadUint32(r.sqHead)
	if r.sqeTail-head >= r.sqEntries {
		return nil
	}
	sqe := &r.sqes[r.sqeTail&r.sqMask]
	*sqe = SQE{}
	r.sqeTail++
	return sqe
}

// Flush publishes the SQEs handed out by NextSQE to the kernel and returns
// the number of SQEs in the queue that the kernel has not consumed yet,
// which is the toSubmit argument for Enter.
func (r *Ring) Flush() uint32 {
	if r.sqes == nil {
		return 0
	}
	// The store-release of the tail orders the SQE writes before it.
	atomic.StoreUint32(r.sqTail, r.sqeTail)
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// Unflush withdraws SQEs that were published by Flush but that the kernel
// has not consumed, so that the caller can fail or requeue them after
// Enter reported an unrecoverable error. It is valid only when no
// submission thread (SQPOLL) is reading the queue and no Enter is in
// progress; it appends copies of the withdrawn SQEs to dst, in order.
func (r *Ring) Unflush(dst []SQE) []SQE {
	head := atomic.LoadUint32(r.sqHead)
	for i := head; i != r.sqeTail; i++ {
		dst = append(dst, r.sqes[i&r.sqMask])
	}
	r.sqeTail = head
	atomic.StoreUint32(r.sqTail, head)
	return dst
}

// SQFlags returns the kernel's SQ ring flags (SQCQOverflow, SQTaskrun,
// SQNeedWakeup).
func (r *Ring) SQFlags() uint32 { return atomic.LoadUint32(r.sqFlags) }

// Dropped returns the kernel's count of invalid SQEs it dropped.
func (r *Ring) Dropped() uint32 { return atomic.LoadUint32(r.sqDropped) }

// CQOverflow returns the kernel's count of CQEs lost to overflow (always
// zero with FeatNoDrop, where overflowed CQEs are kept by the kernel and
// flushed by an Enter with EnterGetEvents).
func (r *Ring) CQOverflow() uint32 { return atomic.LoadUint32(r.cqOverflow) }

// CQReady returns the number of CQEs waiting to be reaped.
func (r *Ring) CQReady() uint32 {
	return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
}

// PeekCQE returns the CQE at the head of the completion queue, or nil if
// the queue is empty. The CQE stays valid until CQAdvance.
func (r *Ring) PeekCQE() *CQE {
	if r.cqes == nil {
		return nil
	}
	head := atomic.LoadUint32(r.cqHead)
	// The load-acquire of the tail orders the CQE reads after it.
	if head == atomic.LoadUint32(r.cqTail) {
		return nil
	}
	return &r.cqes[head&r.cqMask]
}

// CQAdvance marks n CQEs as consumed, handing their slots back to the
// kernel.
func (r *Ring) CQAdvance(n uint32) {
	atomic.StoreUint32(r.cqHead, atomic.LoadUint32(r.cqHead)+n)
}

// Enter calls io_uring_enter. EINTR is retried (a signal arriving while
// waiting is not an error for the caller); any other errno is returned as
// a syscall.Errno. It returns the number of SQEs the kernel consumed.
func (r *Ring) Enter(toSubmit, minComplete, flags uint32) (int, error) {
	return r.enter(toSubmit, minComplete, flags, nil, 0)
}

// WaitTimeout submits toSubmit SQEs and waits until at least minComplete
// CQEs are ready or the timeout ts elapses, using EnterExtArg. It needs
// FeatExtArg. A timeout is not an error: the caller checks the CQ.
func (r *Ring) WaitTimeout(toSubmit, minComplete uint32, ts *Timespec) (int, error) {
	if r.params.Features&FeatExtArg == 0 {
		return 0, syscall.EOPNOTSUPP
	}
	arg := GetEventsArg{Ts: uint64(uintptr(unsafe.Pointer(ts)))}
	n, err := r.enter(toSubmit, minComplete, EnterGetEvents|EnterExtArg, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	if err == syscall.ETIME {
		err = nil
	}
	return n, err
}

func (r *Ring) enter(toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSz uintptr) (int, error) {
	if r.fd < 0 {
		return 0, ErrRingClosed
	}
	for {
		n, errno := enterSyscall(r.fd, toSubmit, minComplete, flags, arg, argSz)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return n, errno
		}
		return n, nil
	}
}

// FlushOverflow asks the kernel to move CQEs it kept back on overflow
// (FeatNoDrop) into the CQ. Call it after reaping when SQFlags reports
// SQCQOverflow.
func (r *Ring) FlushOverflow() error {
	_, err := r.Enter(0, 0, EnterGetEvents)
	return err
}
