package driver

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TryRecvFrom makes one non-blocking recvfrom(2) of a datagram into p (it
// may be empty: the datagram is then discarded) on the socket fd,
// retrying EINTR, with the sender's address stored in from. ok is false
// if no datagram was queued (EAGAIN); otherwise n is the bytes received
// (a datagram longer than p is truncated to it, the rest discarded, as
// recvfrom(2) does) and fromLen the address's length, or err the
// failure.
func TryRecvFrom(fd int, p []byte, from *unix.RawSockaddrAny) (n int, fromLen uint32, err error, ok bool) {
	var buf unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	syscall6 := nowaitSyscall(len(p))
	for {
		fromLen = unix.SizeofSockaddrAny
		r, _, errno := syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(buf), uintptr(len(p)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(from)), uintptr(unsafe.Pointer(&fromLen)))
		runtime.KeepAlive(p)
		switch errno {
		case 0:
			return int(r), fromLen, nil, true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, 0, nil, false
		}
		return 0, 0, errno, true
	}
}

// TrySendTo makes one non-blocking sendto(2) of the datagram p (it may be
// empty) to the address to of length toLen (0: the connected peer), with
// MSG_NOSIGNAL, retrying EINTR. ok is false if the socket buffer had no
// room (EAGAIN); otherwise n and err are the send's result.
func TrySendTo(fd int, p []byte, to *unix.RawSockaddrAny, toLen uint32) (n int, err error, ok bool) {
	var buf, addr unsafe.Pointer
	if len(p) > 0 {
		buf = unsafe.Pointer(&p[0])
	}
	if toLen > 0 {
		addr = unsafe.Pointer(to)
	}
	syscall6 := nowaitSyscall(len(p))
	for {
		r, _, errno := syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(buf), uintptr(len(p)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(addr), uintptr(toLen))
		runtime.KeepAlive(p)
		switch errno {
		case 0:
			return int(r), nil, true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil, false
		}
		return 0, errno, true
	}
}

// EncodeSockaddr writes sa in its kernel form into raw and returns its
// length.
func EncodeSockaddr(sa unix.Sockaddr, raw *unix.RawSockaddrAny) (uint32, error) {
	var a sockaddrArgs
	if err := a.encode(sa); err != nil {
		return 0, err
	}
	*raw = a.raw
	return a.n, nil
}

// DecodeSockaddr returns the address of length n in raw, as the kernel
// filled it in, or nil for an unknown family.
func DecodeSockaddr(raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	a := sockaddrArgs{raw: *raw, n: n}
	return a.decode()
}
