package uring

import "unsafe"

// Prep helpers for path operations, space allocation and splicing. Paths
// must be NUL-terminated and, like every buffer, stay alive and unmoved
// until the kernel has consumed the request.

// PrepMkdirat prepares mkdirat(2).
func (s *SQE) PrepMkdirat(dirfd int, path *byte, mode uint32) {
	s.Opcode = OpMkdirat
	s.Fd = int32(dirfd)
	s.Addr = addr(unsafe.Pointer(path))
	s.Len = mode
}

// PrepUnlinkat prepares unlinkat(2); flags may hold AT_REMOVEDIR.
func (s *SQE) PrepUnlinkat(dirfd int, path *byte, flags int) {
	s.Opcode = OpUnlinkat
	s.Fd = int32(dirfd)
	s.Addr = addr(unsafe.Pointer(path))
	s.OpFlags = uint32(flags)
}

// PrepRenameat prepares renameat2(2).
func (s *SQE) PrepRenameat(olddirfd int, oldpath *byte, newdirfd int, newpath *byte, flags uint32) {
	s.Opcode = OpRenameat
	s.Fd = int32(olddirfd)
	s.Addr = addr(unsafe.Pointer(oldpath))
	s.Off = addr(unsafe.Pointer(newpath)) // addr2
	s.Len = uint32(newdirfd)
	s.OpFlags = flags
}

// PrepFallocate prepares fallocate(2) of n bytes at off.
func (s *SQE) PrepFallocate(fd int, mode uint32, off, n int64) {
	s.Opcode = OpFallocate
	s.Fd = int32(fd)
	s.Off = uint64(off)
	s.Addr = uint64(n) // the length travels in addr
	s.Len = mode
}

// PrepFtruncate prepares ftruncate(2) (OpFtruncate, Linux 6.9).
func (s *SQE) PrepFtruncate(fd int, size int64) {
	s.Opcode = OpFtruncate
	s.Fd = int32(fd)
	s.Off = uint64(size)
}

// PrepSplice prepares splice(2) of up to n bytes from in at offIn to out
// at offOut; an offset of -1 means none (required for pipes).
func (s *SQE) PrepSplice(in int, offIn int64, out int, offOut int64, n uint32, flags uint32) {
	s.Opcode = OpSplice
	s.Fd = int32(out)
	s.Off = uint64(offOut)
	s.Addr = uint64(offIn) // splice_off_in
	s.Len = n
	s.OpFlags = flags
	s.SpliceFdIn = int32(in)
}

// PrepPollAdd prepares a one-shot poll for events (POLLIN, POLLOUT ...)
// on fd.
func (s *SQE) PrepPollAdd(fd int, events uint32) {
	s.Opcode = OpPollAdd
	s.Fd = int32(fd)
	if bigEndian {
		events = events<<16 | events>>16 // poll32_events has its halves swapped there
	}
	s.OpFlags = events
}

// bigEndian reports the machine's byte order.
var bigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()
