package uring

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Register calls io_uring_register with the given opcode and argument.
// EINTR is retried.
func (r *Ring) Register(opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	if r.fd < 0 {
		return 0, ErrRingClosed
	}
	for {
		n, errno := registerSyscall(r.fd, opcode, arg, nrArgs)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return n, errno
		}
		return n, nil
	}
}

// Probe is the result of IORING_REGISTER_PROBE: which opcodes the running
// kernel supports.
type Probe struct {
	LastOp uint8
	ops    [maxProbeOps]bool
}

// Supported reports whether the kernel supports op.
func (p *Probe) Supported(op uint8) bool { return p != nil && p.ops[op] }

// NewProbe returns a Probe that reports exactly the given opcodes as
// supported, for tests that simulate an older kernel.
func NewProbe(ops ...uint8) *Probe {
	p := &Probe{}
	for _, op := range ops {
		p.ops[op] = true
		if op > p.LastOp {
			p.LastOp = op
		}
	}
	return p
}

// Probe asks the kernel which opcodes it supports.
func (r *Ring) Probe() (*Probe, error) {
	var raw probe
	if _, err := r.Register(RegisterProbe, unsafe.Pointer(&raw), maxProbeOps); err != nil {
		return nil, err
	}
	p := &Probe{LastOp: raw.LastOp}
	for i := 0; i < int(raw.OpsLen) && i < maxProbeOps; i++ {
		if raw.Ops[i].Flags&probeOpSupported != 0 {
			p.ops[raw.Ops[i].Op] = true
		}
	}
	return p, nil
}

// BufRing is a ring of provided buffers registered with
// IORING_REGISTER_PBUF_RING: the kernel picks a buffer from it for recv
// requests that set SQEBufferSelect with SQE.BufIndex = the group id.
// The ring memory is an anonymous mapping (page aligned, never moved by
// the Go runtime). A BufRing is not safe for concurrent use.
type BufRing struct {
	ring    *Ring
	mem     []byte
	bufs    []Buf
	mask    uint16
	bgid    uint16
	pending uint16 // Add calls not yet published by Advance
}

// RegisterBufRing maps and registers a provided-buffer ring of entries
// buffers (a power of two, at most 32768) for buffer group bgid.
func (r *Ring) RegisterBufRing(entries uint32, bgid uint16) (*BufRing, error) {
	if entries == 0 || entries > 1<<15 || entries&(entries-1) != 0 {
		return nil, syscall.EINVAL
	}
	size := int(entries) * int(unsafe.Sizeof(Buf{}))
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANONYMOUS|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	reg := BufReg{RingAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), RingEntries: entries, Bgid: bgid}
	if _, err := r.Register(RegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	bufs := unsafe.Slice((*Buf)(unsafe.Pointer(&mem[0])), entries)
	return &BufRing{
		ring: r,
		mem:  mem,
		bufs: bufs,
		mask: uint16(entries - 1),
		bgid: bgid,
	}, nil
}

// Add queues buf (which must stay valid and unmoved while registered, for
// example memory from mmap or pinned with runtime.Pinner) as buffer id
// bid. It becomes visible to the kernel at the next Advance.
func (b *BufRing) Add(addr unsafe.Pointer, length uint32, bid uint16) {
	tail := loadTail(&b.bufs[0])
	e := &b.bufs[(tail+b.pending)&b.mask]
	e.Addr = uint64(uintptr(addr))
	e.Len = length
	e.Bid = bid
	b.pending++
}

// Advance publishes the buffers queued by Add.
func (b *BufRing) Advance() {
	storeTail(&b.bufs[0], loadTail(&b.bufs[0])+b.pending)
	b.pending = 0
}

// Unregister unregisters the ring from the kernel and unmaps it.
func (b *BufRing) Unregister() error {
	reg := BufReg{Bgid: b.bgid}
	_, err := b.ring.Register(UnregisterPbufRing, unsafe.Pointer(&reg), 1)
	if uerr := unix.Munmap(b.mem); err == nil {
		err = uerr
	}
	b.mem, b.bufs = nil, nil
	return err
}

// rsrcRegister is struct io_uring_rsrc_register.
type rsrcRegister struct {
	Nr    uint32
	Flags uint32
	Resv2 uint64
	Data  uint64
	Tags  uint64
}

// rsrcUpdate2 is struct io_uring_rsrc_update2.
type rsrcUpdate2 struct {
	Offset uint32
	Resv   uint32
	Data   uint64
	Tags   uint64
	Nr     uint32
	Resv2  uint32
}

// MaxFixedBuffer is the largest buffer the kernel registers in one slot.
const MaxFixedBuffer = 1 << 30

// RegisterBufferTable registers an empty table of n fixed-buffer slots
// (IORING_REGISTER_BUFFERS2 with IORING_RSRC_REGISTER_SPARSE), which
// UpdateBuffer fills. READ_FIXED and WRITE_FIXED requests name a slot in
// SQE.BufIndex.
func (r *Ring) RegisterBufferTable(n uint32) error {
	arg := rsrcRegister{Nr: n, Flags: RsrcRegisterSparse}
	_, err := r.Register(RegisterBuffers2, unsafe.Pointer(&arg), uint32(unsafe.Sizeof(arg)))
	return err
}

// UpdateBuffer registers p in fixed-buffer slot (replacing what the slot
// held), or with an empty p empties the slot. The kernel pins p's pages
// until the slot is emptied or the ring closed; requests already using the
// slot's previous buffer keep it until they complete. p must stay
// allocated and unmoved while registered.
func (r *Ring) UpdateBuffer(slot uint32, p []byte) error {
	var iov unix.Iovec
	if len(p) > 0 {
		iov.Base = &p[0]
		iov.SetLen(len(p))
	}
	arg := rsrcUpdate2{Offset: slot, Data: uint64(uintptr(unsafe.Pointer(&iov))), Nr: 1}
	_, err := r.Register(RegisterBuffersUpdate, unsafe.Pointer(&arg), uint32(unsafe.Sizeof(arg)))
	runtime.KeepAlive(&iov)
	return err
}
