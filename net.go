package executor

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// A socket goes one of two ways, each written in a file of its own:
// through Go's net package, whose network poller waits for it (the
// default; net_poller.go), or through the driver's ring requests
// (Options.RingSockets on the uring backend; net_ring.go). Listener and
// Conn hold the one in use behind an interface; this file has what both
// share: the checks and the errors of the exported API, the socket set-up
// of Listen, and name and address handling.

// Listener is a socket listening for stream connections (TCP or Unix).
// It is safe for concurrent use.
type Listener struct {
	network string
	addr    net.Addr
	unlink  string         // the Unix socket's path, removed by Close
	impl    streamListener // *pollerListener or *ringListener
}

// streamListener is a Listener's implementation on one socket path. Its
// methods are called with the exported methods' checks done (a nil
// Listener, a nil ctx) and return the exported methods' results.
type streamListener interface {
	accept(ctx context.Context) (*Conn, error)
	close() error
}

// Conn is a connected stream socket (TCP or Unix). Read and Write may be
// called concurrently with each other and with Close; concurrent Writes
// do not interleave.
type Conn struct {
	network      string
	laddr, raddr net.Addr
	impl         streamConn // *pollerConn or *ringConn
}

// streamConn is a Conn's implementation on one socket path, as
// streamListener is a Listener's.
type streamConn interface {
	read(ctx context.Context, p []byte) (int, error)
	write(ctx context.Context, p []byte) (int, error)
	// sendFile is SendFile's copy inside the kernel of n bytes (n < 0:
	// up to the end) of the file src from off, with SendFile's checks
	// done; handled is false, with nothing sent, if src cannot be copied
	// that way.
	sendFile(ctx context.Context, src int, off, n int64) (written int64, err error, handled bool)
	closeWrite() error
	close() error
}

// sockets returns the socket operations of the driver of the executor in
// ctx, or nil when sockets go through the net package: unless
// Options.RingSockets asks for ring sockets on the uring backend, since
// those measure slower (see Options.RingSockets).
func sockets(ctx context.Context) (driver.Driver, driver.Sockets, error) {
	e := executorOf(ctx)
	d, err := e.driver()
	if err != nil {
		return nil, nil, err
	}
	if !e.opts.RingSockets {
		return d, nil, nil
	}
	s, _ := d.(driver.Sockets)
	return d, s, nil
}

// Listen announces on the local address, like net.Listen: network is
// "tcp", "tcp4", "tcp6" or "unix". It uses the driver of the executor in
// ctx (or of the default executor); ctx also bounds the name lookup.
func Listen(ctx context.Context, network, address string) (*Listener, error) {
	checkCtx(ctx)
	d, s, err := sockets(ctx)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	var sa unix.Sockaddr
	var family int
	var v6only = -1 // leave the system default
	var laddr net.Addr
	if network == "unix" {
		ua, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		laddr, family, sa = ua, unix.AF_UNIX, &unix.SockaddrUnix{Name: ua.Name}
	} else {
		wt := beginWait(ctx, waitResolve, &address)
		ta, err := net.ResolveTCPAddr(network, address)
		wt.end()
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		laddr = ta
		family, v6only, sa, err = listenFamily(network, ta)
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Addr: ta, Err: err}
		}
	}
	fail := func(call string, fd int, err error) (*Listener, error) {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: os.NewSyscallError(call, err)}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", -1, err)
	}
	if family != unix.AF_UNIX {
		// As the net package does: rebinding a port in TIME_WAIT works.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", fd, err)
		}
	}
	if v6only >= 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fail("setsockopt", fd, err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", fd, err)
	}
	if err := unix.Listen(fd, listenBacklog()); err != nil {
		return fail("listen", fd, err)
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", fd, err)
	}
	l := Listener{network: network, addr: toNetAddr(network, lsa)}
	if ua, ok := sa.(*unix.SockaddrUnix); ok && ua.Name != "" && ua.Name[0] != '@' {
		l.unlink = ua.Name
	}
	if s != nil {
		return newRingListener(l, fd, d, s), nil
	}
	// Net sockets (the default) hand the socket to the net package, built
	// here all the same so that both kinds listen alike (family, options,
	// backlog).
	pl, err := newPollerListener(l, fd)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
	}
	return pl, nil
}

// listenFamily picks the socket family for a TCP listener the way the net
// package does: a wildcard address on "tcp" listens on both IPv4 and
// IPv6 when the system supports it.
func listenFamily(network string, ta *net.TCPAddr) (family, v6only int, sa unix.Sockaddr, err error) {
	ip := ta.IP
	wildcard := ip == nil || ip.IsUnspecified()
	switch {
	case network == "tcp4" || network == "tcp" && ip.To4() != nil && !(wildcard && supportsIPv6()):
		var a4 unix.SockaddrInet4
		a4.Port = ta.Port
		if ip != nil {
			ip4 := ip.To4()
			if ip4 == nil {
				return 0, 0, nil, syscall.EAFNOSUPPORT
			}
			copy(a4.Addr[:], ip4)
		}
		return unix.AF_INET, -1, &a4, nil
	case network == "tcp" && wildcard && !supportsIPv6():
		return unix.AF_INET, -1, &unix.SockaddrInet4{Port: ta.Port}, nil
	}
	var a6 unix.SockaddrInet6
	a6.Port = ta.Port
	if ip != nil {
		if ip.To4() != nil && network == "tcp6" && !ip.IsUnspecified() {
			return 0, 0, nil, syscall.EAFNOSUPPORT
		}
		copy(a6.Addr[:], ip.To16())
	}
	if ta.Zone != "" {
		a6.ZoneId = zoneIndex(ta.Zone)
	}
	v6only = 0
	if network == "tcp6" {
		v6only = 1
	}
	return unix.AF_INET6, v6only, &a6, nil
}

var ipv6 = sync.OnceValue(func() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}) == nil
})

// supportsIPv6 reports whether the system can bind IPv6 sockets.
func supportsIPv6() bool { return ipv6() }

// listenBacklog is the kernel's cap on listen backlogs, as the net
// package reads it: a short backlog makes connection storms fail.
var listenBacklog = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err == nil {
		if n, err := strconv.Atoi(string(trimSpace(b))); err == nil && n > 0 {
			return n
		}
	}
	return unix.SOMAXCONN
})

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func zoneIndex(zone string) uint32 {
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.Atoi(zone)
	return uint32(n)
}

func zoneName(idx uint32) string {
	if idx == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(idx)); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(int(idx))
}

// toNetAddr converts a socket address to the net package's form.
func toNetAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, sa.Addr[:])
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zoneName(sa.ZoneId)}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: network}
	}
	return nil
}

// Addr returns the listener's network address; for a TCP port 0, the
// port the system chose.
func (l *Listener) Addr() net.Addr {
	if l == nil {
		return nil
	}
	return l.addr
}

// Accept waits for and returns the next connection. A task gives up its
// worker while it waits. If ctx is done first, Accept returns an error
// wrapping ctx's cause; a connection the kernel accepted anyway is closed.
// After Close, pending and later Accepts return an error wrapping
// net.ErrClosed.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	checkCtx(ctx)
	if l == nil {
		return nil, syscall.EINVAL // as a nil *net.TCPListener's
	}
	return l.impl.accept(ctx)
}

func (l *Listener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: l.network, Addr: l.addr, Err: err}
}

// Close stops listening. Pending Accepts return promptly with an error
// wrapping net.ErrClosed; connections already accepted stay open. A Unix
// socket's file is removed. A second Close returns an error wrapping
// net.ErrClosed.
func (l *Listener) Close() error {
	if l == nil {
		return syscall.EINVAL // as a nil *net.TCPListener's
	}
	return l.impl.close()
}

// Dial connects to the address on the named network, like net.Dial:
// network is "tcp", "tcp4", "tcp6" or "unix", or "udp", "udp4", "udp6"
// or "unixgram", whose Conn reads and writes whole datagrams (a Read
// returns one, truncated to len(p); a Write sends p as one) and always
// waits in the net package's poller. A host name is looked up
// with ctx and its addresses tried in order until one accepts. ctx bounds
// the lookup and the connect.
func Dial(ctx context.Context, network, address string) (*Conn, error) {
	checkCtx(ctx)
	d, s, err := sockets(ctx)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "unix", "udp", "udp4", "udp6", "unixgram":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
	}
	wt := beginWait(ctx, waitConnect, &address)
	defer wt.end()
	if s == nil || isDatagram(network) {
		return dialPoller(ctx, network, address)
	}
	return dialRing(ctx, d, s, network, address)
}

// resolveTCP returns the addresses to try for a TCP dial, in order.
func resolveTCP(ctx context.Context, network, address string) ([]*net.TCPAddr, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, portStr)
	if err != nil {
		return nil, err
	}
	var ips []net.IPAddr
	switch {
	case host == "":
		// As net.Dial: the local system.
		if network == "tcp6" {
			ips = []net.IPAddr{{IP: net.IPv6loopback}}
		} else {
			ips = []net.IPAddr{{IP: net.IPv4(127, 0, 0, 1)}}
		}
	default:
		h, zone := host, ""
		if i := lastIndexByte(host, '%'); i >= 0 {
			h, zone = host[:i], host[i+1:]
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = []net.IPAddr{{IP: ip, Zone: zone}}
		} else if ips, err = net.DefaultResolver.LookupIPAddr(ctx, host); err != nil {
			return nil, err
		}
	}
	var out []*net.TCPAddr
	for _, ip := range ips {
		is4 := ip.IP.To4() != nil
		if network == "tcp4" && !is4 || network == "tcp6" && is4 {
			continue
		}
		out = append(out, &net.TCPAddr{IP: ip.IP, Port: port, Zone: ip.Zone})
	}
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// LocalAddr returns the connection's local address.
func (c *Conn) LocalAddr() net.Addr {
	if c == nil {
		return nil
	}
	return c.laddr
}

// RemoteAddr returns the connection's peer address.
func (c *Conn) RemoteAddr() net.Addr {
	if c == nil {
		return nil
	}
	return c.raddr
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// Read reads up to len(p) bytes: whatever one receive returns. It returns
// 0, io.EOF once the peer has closed its side. A task gives up its worker
// while it waits. If ctx is done first, Read returns an error wrapping
// ctx's cause (os.ErrDeadlineExceeded for the deadlines of NetConn),
// unless data arrived anyway: then it returns the data.
func (c *Conn) Read(ctx context.Context, p []byte) (int, error) {
	checkCtx(ctx)
	if c == nil {
		return 0, syscall.EINVAL // as a nil *net.TCPConn's
	}
	return c.impl.read(ctx, p)
}

// Write writes all of p, or returns an error saying why it could not,
// with the count of bytes written. Writes to a peer that has gone fail
// with EPIPE or ECONNRESET; they never raise SIGPIPE. A task gives up its
// worker while it waits.
func (c *Conn) Write(ctx context.Context, p []byte) (int, error) {
	checkCtx(ctx)
	if c == nil {
		return 0, syscall.EINVAL // as a nil *net.TCPConn's
	}
	return c.impl.write(ctx, p)
}

// CloseWrite shuts down the writing side of the connection: the peer
// reads io.EOF once it has read everything written before. Reading goes
// on working.
func (c *Conn) CloseWrite() error {
	if c == nil {
		return syscall.EINVAL // as a nil *net.TCPConn's
	}
	return c.impl.closeWrite()
}

// Close closes the connection. Pending Reads and Writes return promptly
// with an error wrapping net.ErrClosed (or their real result, if they
// completed anyway), as do later ones. A second Close returns an error
// wrapping net.ErrClosed.
func (c *Conn) Close() error {
	if c == nil {
		return syscall.EINVAL // as a nil *net.TCPConn's
	}
	return c.impl.close()
}
