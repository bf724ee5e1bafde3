package uring

import "unsafe"

// The Prep methods fill an SQE (normally fresh from NextSQE, so zeroed)
// for one opcode, like liburing's io_uring_prep_* helpers. Pointers are
// stored as integers: the caller keeps the memory alive and unmoved
// (runtime.Pinner, or non-Go memory) until the kernel has consumed it.
// UserData and Flags are left to the caller.

func addr(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }

// PrepNop prepares a no-op.
func (s *SQE) PrepNop() { s.Opcode = OpNop }

// PrepRW prepares a read/write-style request: opcode on fd with address
// addr, length n and offset off. For OpRead/OpWrite an offset of
// ^uint64(0) (-1) means "the current file position" (FeatRWCurPos).
func (s *SQE) PrepRW(op uint8, fd int, p unsafe.Pointer, n uint32, off uint64) {
	s.Opcode = op
	s.Fd = int32(fd)
	s.Addr = addr(p)
	s.Len = n
	s.Off = off
}

// PrepFsync prepares fsync(2), or fdatasync(2) with flags FsyncDatasync.
func (s *SQE) PrepFsync(fd int, flags uint32) {
	s.Opcode = OpFsync
	s.Fd = int32(fd)
	s.OpFlags = flags
}

// PrepOpenat prepares openat(2); path must be NUL-terminated.
func (s *SQE) PrepOpenat(dirfd int, path *byte, flags int, mode uint32) {
	s.Opcode = OpOpenat
	s.Fd = int32(dirfd)
	s.Addr = addr(unsafe.Pointer(path))
	s.Len = mode
	s.OpFlags = uint32(flags)
}

// PrepStatx prepares statx(2) into *stat (a *unix.Statx_t); path must be
// NUL-terminated ("" with AT_EMPTY_PATH stats dirfd itself).
func (s *SQE) PrepStatx(dirfd int, path *byte, flags int, mask uint32, stat unsafe.Pointer) {
	s.Opcode = OpStatx
	s.Fd = int32(dirfd)
	s.Addr = addr(unsafe.Pointer(path))
	s.Len = mask
	s.Off = addr(stat)
	s.OpFlags = uint32(flags)
}

// PrepCancel prepares IORING_OP_ASYNC_CANCEL of the request whose
// user_data is target, or, with AsyncCancelFd in flags, of the requests
// on fd (AsyncCancelAll: all of them; AsyncCancelAny: every request).
func (s *SQE) PrepCancel(target uint64, fd int, flags uint32) {
	s.Opcode = OpAsyncCancel
	s.Addr = target
	s.Fd = int32(fd)
	s.OpFlags = flags
}

// PrepAccept prepares accept4(2); addr and addrLen (a *uint32) may be
// nil.
func (s *SQE) PrepAccept(fd int, sa unsafe.Pointer, saLen *uint32, flags int) {
	s.Opcode = OpAccept
	s.Fd = int32(fd)
	s.Addr = addr(sa)
	s.Off = addr(unsafe.Pointer(saLen))
	s.OpFlags = uint32(flags)
}

// PrepConnect prepares connect(2) to the raw sockaddr sa of length n.
func (s *SQE) PrepConnect(fd int, sa unsafe.Pointer, n uint32) {
	s.Opcode = OpConnect
	s.Fd = int32(fd)
	s.Addr = addr(sa)
	s.Off = uint64(n)
}

// PrepRecv prepares recv(2). With bufGroup >= 0 the kernel picks a
// provided buffer from that group (p must be nil, n the maximum length)
// and reports its id in the CQE flags.
func (s *SQE) PrepRecv(fd int, p unsafe.Pointer, n uint32, flags int, bufGroup int) {
	s.Opcode = OpRecv
	s.Fd = int32(fd)
	s.Addr = addr(p)
	s.Len = n
	s.OpFlags = uint32(flags)
	if bufGroup >= 0 {
		s.Flags |= SQEBufferSelect
		s.BufIndex = uint16(bufGroup)
	}
}

// PrepSend prepares send(2).
func (s *SQE) PrepSend(fd int, p unsafe.Pointer, n uint32, flags int) {
	s.Opcode = OpSend
	s.Fd = int32(fd)
	s.Addr = addr(p)
	s.Len = n
	s.OpFlags = uint32(flags)
}

// PrepRWFixed prepares a READ_FIXED or WRITE_FIXED request: like PrepRW,
// with p inside the fixed buffer registered in slot.
func (s *SQE) PrepRWFixed(op uint8, fd int, p unsafe.Pointer, n uint32, off uint64, slot uint16) {
	s.PrepRW(op, fd, p, n, off)
	s.BufIndex = slot
}
