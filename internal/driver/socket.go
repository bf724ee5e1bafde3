package driver

import (
	"context"
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockets is implemented by drivers that run socket operations themselves
// (the uring backend). The root package uses it only for ring sockets
// (Options.RingSockets); by default, and on a driver that does not
// implement it (the portable backend, whose poll(2)-per-wait design would
// tie up an OS thread per idle connection), sockets wait in the Go
// runtime's network poller and make their transfers with TrySocket.
//
// The conventions are the Driver's: raw syscall.Errno errors, ctx
// cancellation returns ctx.Err() unless the operation completed anyway,
// cancellation by CancelFD or Close returns syscall.ECANCELED. The
// descriptors are stream sockets created non-blocking.
type Sockets interface {
	// Accept accepts a connection on the listening socket fd. The new
	// descriptor is non-blocking and close-on-exec; sa is the peer's
	// address (nil if the kernel gave none). An accept that completes
	// after its ctx was cancelled has its descriptor closed.
	Accept(ctx context.Context, fd int) (nfd int, sa unix.Sockaddr, err error)
	// Connect connects fd to sa and returns once the connection is
	// established or has failed.
	Connect(ctx context.Context, fd int, sa unix.Sockaddr) error
	// Recv makes one receive into p; 0, nil means the peer closed its
	// side.
	Recv(ctx context.Context, fd int, p []byte) (int, error)
	// Send makes one send of p (MSG_NOSIGNAL: a closed peer yields
	// EPIPE, never SIGPIPE); it may be short, the caller loops.
	Send(ctx context.Context, fd int, p []byte) (int, error)
	// TrySend is Send done only if it needs no wait, for a caller that
	// still holds something it would give up to wait (a task's worker):
	// ok is false if the socket buffer is full (nothing was sent);
	// otherwise n and err are the send's result.
	TrySend(fd int, p []byte) (n int, err error, ok bool)
	// ShutdownFD is shutdown(2).
	ShutdownFD(fd int, how int) error
}

// sockaddrArgs is the memory an accept or connect request points at. It
// is allocated per request and pinned while the request is in flight.
type sockaddrArgs struct {
	raw unix.RawSockaddrAny
	n   uint32 // accept: in/out length; connect: the length
}

// encodeSockaddr writes sa in its kernel form into a.
func (a *sockaddrArgs) encode(sa unix.Sockaddr) error {
	a.raw = unix.RawSockaddrAny{}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		r.Family = unix.AF_INET
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], uint16(sa.Port))
		r.Addr = sa.Addr
		a.n = unix.SizeofSockaddrInet4
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		r.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&r.Port))[:], uint16(sa.Port))
		r.Addr = sa.Addr
		r.Scope_id = sa.ZoneId
		a.n = unix.SizeofSockaddrInet6
	case *unix.SockaddrUnix:
		// The same rules as x/sys/unix: a leading '@' names an abstract
		// socket (a leading NUL in the kernel form), otherwise the path
		// is NUL-terminated.
		r := (*unix.RawSockaddrUnix)(unsafe.Pointer(&a.raw))
		name := sa.Name
		n := len(name)
		if n > len(r.Path) || n == len(r.Path) && name[0] != '@' {
			return unix.EINVAL
		}
		r.Family = unix.AF_UNIX
		for i := 0; i < n; i++ {
			r.Path[i] = int8(name[i])
		}
		sl := uint32(2)
		if n > 0 {
			sl += uint32(n) + 1
		}
		if r.Path[0] == '@' || r.Path[0] == 0 && n > 0 {
			r.Path[0] = 0
			sl--
		}
		a.n = sl
	default:
		return unix.EAFNOSUPPORT
	}
	return nil
}

// decode returns the address in a, as filled in by the kernel, or nil.
func (a *sockaddrArgs) decode() unix.Sockaddr {
	switch a.raw.Addr.Family {
	case unix.AF_INET:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&a.raw))
		return &unix.SockaddrInet4{
			Port: int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&r.Port))[:])),
			Addr: r.Addr,
		}
	case unix.AF_INET6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&a.raw))
		return &unix.SockaddrInet6{
			Port:   int(binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&r.Port))[:])),
			Addr:   r.Addr,
			ZoneId: r.Scope_id,
		}
	case unix.AF_UNIX:
		r := (*unix.RawSockaddrUnix)(unsafe.Pointer(&a.raw))
		if a.n <= 2 {
			return &unix.SockaddrUnix{} // unnamed (a connecting client's end)
		}
		n := int(a.n) - 2
		if n > len(r.Path) {
			n = len(r.Path)
		}
		b := make([]byte, 0, n)
		for i := 0; i < n; i++ {
			c := byte(r.Path[i])
			if i == 0 && c == 0 {
				c = '@' // abstract
			} else if c == 0 {
				break
			}
			b = append(b, c)
		}
		return &unix.SockaddrUnix{Name: string(b)}
	}
	return nil
}

// TrySocket makes one non-blocking receive (recvfrom(2)) or send
// (sendto(2) with MSG_NOSIGNAL: a closed peer yields EPIPE, never
// SIGPIPE) of p, which must not be empty, on the socket fd, retrying
// EINTR. ok is false if the call would have had to wait (EAGAIN), in which
// case nothing was transferred; otherwise n and err are its result, n = 0
// with a nil err meaning, for a receive, that the peer closed its side.
func TrySocket(fd int, p []byte, send bool) (n int, err error, ok bool) {
	if send {
		return TrySendTo(fd, p, nil, 0)
	}
	n, _, err, ok = TryRecvFrom(fd, p, nil)
	return n, err, ok
}
