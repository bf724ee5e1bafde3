package executor

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// PacketConn is a datagram socket ("udp", "udp4", "udp6" or "unixgram")
// that receives from and sends to any address. ReadFrom and WriteTo may
// be called concurrently with each other and with Close.
//
// Like a Conn's, the socket belongs to Go's net package, whose network
// poller waits for it on both backends, and every receive and send runs
// inside its syscall.RawConn: one non-blocking recvfrom(2) or sendto(2)
// made while the task holds its worker, the worker given up only when the
// socket would block. Datagram boundaries are kept: a ReadFrom returns
// one datagram, truncated to len(p) if it is longer, the rest discarded
// without an error, as the net package does on Linux.
type PacketConn struct {
	network string
	pc      net.PacketConn // a *net.UDPConn or *net.UnixConn
	family  int            // the socket's address family
	rd, wr  pollIO         // the receives and the sends

	// The datagram addresses of the calls in progress, each guarded by
	// its direction's mutex: the sender's (rd), the destination (wr).
	from, to unix.RawSockaddrAny
}

// ListenPacket announces on the local address, like net.ListenPacket:
// network is "udp", "udp4", "udp6" or "unixgram". ctx bounds the name
// lookup.
func ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	var lc net.ListenConfig
	wt := beginWait(ctx, waitResolve, &address)
	pc, err := lc.ListenPacket(ctx, network, address)
	wt.end()
	if err != nil {
		return nil, err
	}
	rc, err := pc.(syscall.Conn).SyscallConn()
	if err != nil {
		pc.Close()
		return nil, err
	}
	c := &PacketConn{network: network, pc: pc}
	rc.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			switch sa.(type) {
			case *unix.SockaddrInet4:
				c.family = unix.AF_INET
			case *unix.SockaddrInet6:
				c.family = unix.AF_INET6
			case *unix.SockaddrUnix:
				c.family = unix.AF_UNIX
			}
		}
	})
	c.rd.init(rc, false, pc.SetReadDeadline, nil, &c.from)
	c.wr.init(rc, true, pc.SetWriteDeadline, nil, &c.to)
	return c, nil
}

// LocalAddr returns the socket's local address; for a UDP port 0, the
// port the system chose.
func (c *PacketConn) LocalAddr() net.Addr {
	if c == nil {
		return nil
	}
	return c.pc.LocalAddr()
}

// ReadFrom receives one datagram into p and returns its length (at most
// len(p)) and the sender's address. A task gives up its worker while it
// waits. If ctx is done first, ReadFrom returns an error wrapping ctx's
// cause and receives nothing: a datagram that arrives later is there for
// the next ReadFrom. After Close it returns an error wrapping
// net.ErrClosed.
func (c *PacketConn) ReadFrom(ctx context.Context, p []byte) (int, net.Addr, error) {
	checkCtx(ctx)
	if c == nil {
		return 0, nil, syscall.EINVAL // as a nil *net.UDPConn's
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, c.opErr("read", nil, context.Cause(ctx))
	}
	d := &c.rd
	w := d.lock(ctx)
	defer d.unlock(&w)
	n, err := d.do(ctx, &w, p)
	if err != nil {
		return 0, nil, c.opErr("read", nil, err)
	}
	return n, c.decode(&c.from, d.addrLen), nil
}

// WriteTo sends p as one datagram to addr (a *net.UDPAddr, or a
// *net.UnixAddr for "unixgram"). A task gives up its worker while it
// waits for room in the socket buffer.
func (c *PacketConn) WriteTo(ctx context.Context, p []byte, addr net.Addr) (int, error) {
	checkCtx(ctx)
	if c == nil {
		return 0, syscall.EINVAL // as a nil *net.UDPConn's
	}
	if err := ctx.Err(); err != nil {
		return 0, c.opErr("write", addr, context.Cause(ctx))
	}
	if addr == nil {
		return 0, c.opErr("write", nil, errMissingAddress)
	}
	d := &c.wr
	w := d.lock(ctx)
	defer d.unlock(&w)
	var err error
	if d.addrLen, err = c.encode(addr, &c.to); err != nil {
		return 0, c.opErr("write", addr, err)
	}
	n, err := d.do(ctx, &w, p)
	if err != nil {
		return 0, c.opErr("write", addr, err)
	}
	return n, nil
}

// NetPacketConn returns the net.PacketConn (a *net.UDPConn or
// *net.UnixConn) behind c, with the net package's own deadlines, for code
// that takes one. As with Conn.NetConn, it is for plain goroutines, and
// its deadlines must not be mixed with ReadFrom and WriteTo calls whose
// context can be cancelled: those use the same deadlines to interrupt the
// call.
func (c *PacketConn) NetPacketConn() net.PacketConn { return c.pc }

// Close closes the socket. Pending ReadFrom and WriteTo calls return
// promptly with an error wrapping net.ErrClosed, as do later ones; a
// second Close returns an error wrapping net.ErrClosed.
func (c *PacketConn) Close() error {
	if c == nil {
		return syscall.EINVAL // as a nil *net.UDPConn's
	}
	err := c.pc.Close()
	c.rd.release()
	c.wr.release()
	return err
}

func (c *PacketConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.pc.LocalAddr(), Addr: addr, Err: err}
}

// errMissingAddress is the net package's error for a WriteTo to no
// address.
var errMissingAddress = errors.New("missing address")

// encode writes addr in its kernel form for the socket's family.
func (c *PacketConn) encode(addr net.Addr, raw *unix.RawSockaddrAny) (uint32, error) {
	var sa unix.Sockaddr
	switch a := addr.(type) {
	case *net.UDPAddr:
		switch c.family {
		case unix.AF_INET:
			ip4 := a.IP.To4()
			if ip4 == nil && len(a.IP) != 0 {
				return 0, &net.AddrError{Err: "non-IPv4 address", Addr: a.IP.String()}
			}
			s := &unix.SockaddrInet4{Port: a.Port}
			copy(s.Addr[:], ip4)
			sa = s
		case unix.AF_INET6:
			s := &unix.SockaddrInet6{Port: a.Port, ZoneId: zoneIndex(a.Zone)}
			if len(a.IP) != 0 && !a.IP.Equal(net.IPv4zero) {
				copy(s.Addr[:], a.IP.To16())
			}
			sa = s
		default:
			return 0, syscall.EINVAL
		}
	case *net.UnixAddr:
		if c.family != unix.AF_UNIX {
			return 0, syscall.EINVAL
		}
		sa = &unix.SockaddrUnix{Name: a.Name}
	default:
		return 0, syscall.EINVAL
	}
	return driver.EncodeSockaddr(sa, raw)
}

// decode returns the sender's address as the net package gives it.
func (c *PacketConn) decode(raw *unix.RawSockaddrAny, n uint32) net.Addr {
	switch sa := driver.DecodeSockaddr(raw, n).(type) {
	case *unix.SockaddrInet4:
		return &net.UDPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.UDPAddr{IP: sa.Addr[:], Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		if sa.Name != "" {
			return &net.UnixAddr{Name: sa.Name, Net: c.network}
		}
	}
	return nil // an unnamed Unix socket, as net reports it
}

// isDatagram reports whether network is one of datagram sockets.
func isDatagram(network string) bool {
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
		return true
	}
	return false
}
