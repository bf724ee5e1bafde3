package executor

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// Listener is a socket listening for stream connections (TCP or Unix).
// It is safe for concurrent use.
type Listener struct {
	network string
	addr    net.Addr

	// ring sockets (Options.RingSockets)
	fd      int
	d       driver.Driver
	s       driver.Sockets
	unlink  string // the Unix socket's path, removed by Close
	refs    opRefs
	cleanup runtime.Cleanup // closes the descriptor of a Listener dropped unclosed

	// net sockets (the default): a *net.TCPListener or *net.UnixListener
	nl  deadlineListener
	amu sync.Mutex // serializes accepts that set the deadline for their ctx
	aw  ctxWatch   // the context of the last accept, guarded by amu
}

// deadlineListener is what net's TCP and Unix listeners have in common.
type deadlineListener interface {
	net.Listener
	SetDeadline(t time.Time) error
}

// Conn is a connected stream socket (TCP or Unix). Read and Write may be
// called concurrently with each other and with Close; concurrent Writes
// do not interleave.
type Conn struct {
	network      string
	laddr, raddr net.Addr

	// ring sockets (Options.RingSockets)
	fd      int
	d       driver.Driver
	s       driver.Sockets
	wmu     sync.Mutex // a Write sends all of p before another starts
	refs    opRefs
	cleanup runtime.Cleanup // closes the descriptor of a Conn dropped unclosed

	// net sockets (the default): a *net.TCPConn or *net.UnixConn
	nc net.Conn
	rc syscall.RawConn // nc's, whose poller waits for the receives and sends
	rd rawIO           // the reads' state
	wr rawIO           // the writes' state
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
	l := &Listener{network: network, addr: toNetAddr(network, lsa), fd: fd, d: d, s: s}
	if ua, ok := sa.(*unix.SockaddrUnix); ok && ua.Name != "" && ua.Name[0] != '@' {
		l.unlink = ua.Name
	}
	if s != nil {
		l.cleanup = runtime.AddCleanup(l, closeDropped, fdOf{d, fd})
	}
	if s == nil {
		// Net sockets (the default) hand the socket to the net package,
		// built here all the same so that both kinds listen alike
		// (family, options, backlog).
		f := os.NewFile(uintptr(fd), "")
		nl, err := net.FileListener(f) // a dup of fd
		f.Close()
		if err != nil {
			if l.unlink != "" {
				os.Remove(l.unlink)
			}
			return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: err}
		}
		l.fd, l.nl = -1, nl.(deadlineListener)
	}
	return l, nil
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
	if l.nl != nil {
		return l.acceptNet(ctx)
	}
	if !l.refs.acquire() {
		return nil, l.opErr(net.ErrClosed)
	}
	defer l.refs.release()
	if err := ctx.Err(); err != nil {
		return nil, l.opErr(context.Cause(ctx))
	}
	wt := beginWait(ctx, waitAccept, &l.addr)
	nfd, rsa, err := l.s.Accept(ctx, l.fd)
	wt.end()
	if err != nil {
		return nil, l.opErr(sockErr("accept", ctx, err))
	}
	if l.refs.isClosing() {
		// Close cancelled the accept, which completed anyway.
		unix.Close(nfd)
		return nil, l.opErr(net.ErrClosed)
	}
	if l.network != "unix" {
		setNoDelay(nfd)
	}
	c := newConn(l.network, nfd, l.d, l.s, toNetAddr(l.network, rsa))
	if lsa, err := unix.Getsockname(nfd); err == nil {
		c.laddr = toNetAddr(l.network, lsa)
	}
	return c, nil
}

// acceptNet is Accept on a net socket (the default).
func (l *Listener) acceptNet(ctx context.Context) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, l.opErr(context.Cause(ctx))
	}
	wt := beginWait(ctx, waitAccept, &l.addr)
	defer wt.end()
	var nc net.Conn
	var err error
	l.amu.Lock()
	if ctx.Done() == nil {
		l.aw.release()
		l.amu.Unlock()
		nc, err = l.nl.Accept()
	} else {
		l.aw.watch(ctx, l.nl.SetDeadline)
		nc, err = l.nl.Accept()
		err = l.aw.cause(ctx, err)
		l.amu.Unlock()
	}
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, err
	}
	return newNetConn(l.network, nc)
}

func (l *Listener) opErr(err error) error {
	return &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: err}
}

// Close stops listening. Pending Accepts return promptly with an error
// wrapping net.ErrClosed; connections already accepted stay open. A Unix
// socket's file is removed. A second Close returns an error wrapping
// net.ErrClosed.
func (l *Listener) Close() error {
	if l == nil {
		return syscall.EINVAL // as a nil *net.TCPListener's
	}
	if l.nl != nil {
		err := l.nl.Close()
		l.amu.Lock()
		l.aw.release()
		l.amu.Unlock()
		if err == nil && l.unlink != "" {
			os.Remove(l.unlink)
		}
		return err
	}
	if !l.refs.close(func() { l.d.CancelFD(l.fd) }) {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: net.ErrClosed}
	}
	l.cleanup.Stop()
	err := l.d.Close(l.fd)
	if l.unlink != "" {
		os.Remove(l.unlink)
	}
	if err != nil {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: os.NewSyscallError("close", err)}
	}
	return nil
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
	if s == nil || isDatagram(network) {
		var dialer net.Dialer
		wt := beginWait(ctx, waitConnect, &address)
		nc, err := dialer.DialContext(ctx, network, address)
		wt.end()
		if err != nil {
			return nil, err
		}
		return newNetConn(network, nc)
	}
	wt := beginWait(ctx, waitConnect, &address)
	defer wt.end()
	if network == "unix" {
		ua, err := net.ResolveUnixAddr(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return dialOne(ctx, d, s, network, unix.AF_UNIX, &unix.SockaddrUnix{Name: ua.Name}, ua)
	}
	addrs, err := resolveTCP(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, ta := range addrs {
		family := unix.AF_INET6
		var sa unix.Sockaddr
		if ip4 := ta.IP.To4(); ip4 != nil {
			family = unix.AF_INET
			a4 := &unix.SockaddrInet4{Port: ta.Port}
			copy(a4.Addr[:], ip4)
			sa = a4
		} else {
			a6 := &unix.SockaddrInet6{Port: ta.Port, ZoneId: zoneIndex(ta.Zone)}
			copy(a6.Addr[:], ta.IP.To16())
			sa = a6
		}
		c, err := dialOne(ctx, d, s, network, family, sa, ta)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
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

// dialOne connects a new socket of the family to sa.
func dialOne(ctx context.Context, d driver.Driver, s driver.Sockets, network string, family int, sa unix.Sockaddr, raddr net.Addr) (*Conn, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: os.NewSyscallError("socket", err)}
	}
	if err := s.Connect(ctx, fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: sockErr("connect", ctx, err)}
	}
	if family != unix.AF_UNIX {
		setNoDelay(fd)
	}
	c := newConn(network, fd, d, s, raddr)
	if lsa, err := unix.Getsockname(fd); err == nil {
		c.laddr = toNetAddr(network, lsa)
	}
	return c, nil
}

// newNetConn returns the Conn of nc, a *net.TCPConn or *net.UnixConn.
func newNetConn(network string, nc net.Conn) (*Conn, error) {
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{network: network, fd: -1, nc: nc, rc: rc, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
	c.rd.init(false, nc.SetReadDeadline, &c.raddr)
	c.wr.init(true, nc.SetWriteDeadline, &c.raddr)
	return c, nil
}

// newConn returns the Conn of a connected ring socket.
func newConn(network string, fd int, d driver.Driver, s driver.Sockets, raddr net.Addr) *Conn {
	c := &Conn{network: network, fd: fd, d: d, s: s, raddr: raddr}
	// As the net package does, a connection dropped without Close does
	// not leak its descriptor. No operation can be in flight on it then:
	// each holds the Conn.
	c.cleanup = runtime.AddCleanup(c, closeDropped, fdOf{d, fd})
	return c
}

// fdOf is a descriptor and its driver, for closeDropped.
type fdOf struct {
	d  driver.Driver
	fd int
}

func closeDropped(f fdOf) { f.d.Close(f.fd) }

// setNoDelay turns Nagle's algorithm off, as the net package does for
// every TCP connection.
func setNoDelay(fd int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// sockErr turns a driver error into the error inside a *net.OpError.
func sockErr(call string, ctx context.Context, err error) error {
	switch {
	case errors.Is(err, syscall.ECANCELED) || errors.Is(err, driver.ErrClosed):
		// Cancelled by Close (or by the executor's shutdown), not by ctx.
		return net.ErrClosed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return context.Cause(ctx)
	}
	if errno, ok := err.(syscall.Errno); ok {
		return os.NewSyscallError(call, errno)
	}
	return err
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
	if c.nc != nil {
		return c.readNet(ctx, p)
	}
	if !c.refs.acquire() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	defer c.refs.release()
	// As the net package: an expired deadline fails a read even if data
	// is waiting.
	if err := ctx.Err(); err != nil {
		return 0, c.opErr("read", context.Cause(ctx))
	}
	if len(p) == 0 {
		return 0, nil
	}
	// No receive is tried before the worker is given up: the driver's Recv
	// tries one itself, and a second attempt here cost a failed system call
	// per wait in ping-pong echo for no measured gain (bench/netbench).
	wt := beginWait(ctx, waitRead, &c.raddr)
	n, err := c.s.Recv(ctx, c.fd, p)
	wt.end()
	if err != nil {
		return 0, c.opErr("read", sockErr("read", ctx, err))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
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
	if c.nc != nil {
		return c.writeNet(ctx, p)
	}
	if !c.refs.acquire() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	defer c.refs.release()
	if err := ctx.Err(); err != nil {
		return 0, c.opErr("write", context.Cause(ctx))
	}
	n := 0
	if c.wmu.TryLock() {
		// No other Write in progress: send what the socket buffer takes
		// at once while the task still holds its worker (a send rarely
		// has to wait), and give the worker up only for the rest.
		for len(p) > 0 {
			m, err, ok := c.s.TrySend(c.fd, p)
			if !ok {
				break
			}
			if err != nil {
				c.wmu.Unlock()
				return n, c.opErr("write", sockErr("write", ctx, err))
			}
			n += m
			p = p[m:]
		}
		if len(p) == 0 {
			c.wmu.Unlock()
			return n, nil
		}
		wt := beginWait(ctx, waitWrite, &c.raddr)
		defer wt.end()
	} else {
		wt := beginWait(ctx, waitWrite, &c.raddr)
		defer wt.end()
		// Lock after giving up the worker: a writer queued behind
		// another must not hold one.
		c.wmu.Lock()
	}
	defer c.wmu.Unlock()
	for len(p) > 0 {
		m, err := c.s.Send(ctx, c.fd, p)
		if err != nil {
			return n, c.opErr("write", sockErr("write", ctx, err))
		}
		if m == 0 {
			return n, c.opErr("write", io.ErrShortWrite)
		}
		n += m
		p = p[m:]
	}
	return n, nil
}

// readNet is Read on a net socket (the default). The receive runs inside
// the net package's RawConn, so that the Go runtime's poller does the
// waiting, and is tried once before the task gives up its worker: a
// receive with data queued completes without the hand-off, as a file read
// from the page cache does.
func (c *Conn) readNet(ctx context.Context, p []byte) (int, error) {
	n, err := c.transfer(ctx, &c.rd, p)
	if err == nil && n == 0 && len(p) > 0 && !isDatagram(c.network) {
		return 0, io.EOF
	}
	return n, err
}

// writeNet is Write on a net socket (the default): like readNet, it sends
// what the socket buffer takes before giving up the worker, and gives it
// up only to wait for room.
func (c *Conn) writeNet(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 && isDatagram(c.network) {
		return c.writeEmptyDatagram(ctx)
	}
	return c.transfer(ctx, &c.wr, p)
}

// transfer is readNet and writeNet: one receive, or sends until all of p
// is sent, in direction r of the connection's RawConn.
func (c *Conn) transfer(ctx context.Context, r *rawIO, p []byte) (int, error) {
	op, raw := "read", c.rc.Read
	if r.send {
		op, raw = "write", c.rc.Write
	}
	if err := ctx.Err(); err != nil {
		return 0, c.opErr(op, context.Cause(ctx))
	}
	if len(p) == 0 {
		return 0, nil
	}
	w := wait{ctx: ctx}
	if !r.mu.TryLock() {
		// Another call in this direction is in progress: queue behind it
		// without a worker.
		w.begin(r.kind, &c.raddr)
		r.mu.Lock()
	}
	defer r.mu.Unlock()
	if ctx.Done() == nil {
		r.watch.release() // nothing to watch; a watch left by an earlier call goes
	} else {
		r.watch.watch(ctx, r.setDeadline)
	}
	if !r.send && r.waited {
		// The last read had to wait: so will this one, most likely (a
		// request-response protocol reads right after it answered).
		// Give the worker up before the attempt rather than hold it
		// through a receive that fails.
		w.begin(r.kind, &c.raddr)
	}
	r.start(p, w)
	err := raw(r.attempt)
	n, w, serr := r.finish()
	w.end()
	switch {
	case err != nil:
		return n, c.opErr(op, r.watch.cause(ctx, rawErr(err)))
	case serr != nil:
		return n, c.opErr(op, os.NewSyscallError(op, serr))
	}
	return n, nil
}

// rawIO is one direction of a net socket's transfers, run inside its
// RawConn: the call in progress and what its attempts found. It lives in
// the Conn, and attempt is a method value made once, so that a Read or
// Write allocates nothing.
type rawIO struct {
	send        bool
	kind        waitKind              // waitRead or waitWrite, for Tasks
	peer        *net.Addr             // the Conn's remote address, for Tasks
	setDeadline func(time.Time) error // the direction's deadline on the net.Conn
	attempt     func(fd uintptr) bool // the RawConn callback: try, bound to this rawIO

	// mu serializes the direction's calls, which set its deadline for
	// their context; it guards the fields below.
	mu     sync.Mutex
	watch  ctxWatch // the context of the last call
	waited bool     // the last call had to wait

	// The call in progress.
	w   wait // its wait, begun when an attempt would block
	p   []byte
	n   int
	err error
}

func (r *rawIO) init(send bool, setDeadline func(time.Time) error, peer *net.Addr) {
	r.send, r.setDeadline, r.kind, r.peer = send, setDeadline, rwWait(send), peer
	r.attempt = r.try
}

// start sets up a call of p, with w its wait (begun already, or not).
func (r *rawIO) start(p []byte, w wait) {
	r.w, r.p, r.n, r.err = w, p, 0, nil
	r.waited = false
}

// finish returns the call's result and its wait, for the caller to end,
// and drops the references it held.
func (r *rawIO) finish() (n int, w wait, err error) {
	n, w, err = r.n, r.w, r.err
	r.w, r.p, r.err = wait{}, nil, nil
	return n, w, err
}

// try is the RawConn callback: it receives once, or sends until p is
// sent, and reports false (wait in the poller, then call again) when the
// socket would block, giving the task's worker up first.
func (r *rawIO) try(fd uintptr) bool {
	for {
		q := r.p[r.n:]
		if r.send {
			q = q[:min(len(q), maxSend)]
		}
		m, err, ok := driver.TrySocket(int(fd), q, r.send)
		if !ok {
			r.waited = true
			r.w.begin(r.kind, r.peer)
			return false
		}
		if err != nil {
			r.err = err
			return true
		}
		r.n += m
		if !r.send || r.n == len(r.p) {
			return true
		}
	}
}

// maxSend caps one send, as the net package caps one write.
const maxSend = 1 << 30

// rawErr returns the cause inside an error of a RawConn's Read or Write
// (net.ErrClosed, os.ErrDeadlineExceeded), for an OpError of our own.
func rawErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// aLongTimeAgo is a deadline in the past, which interrupts a pending call
// of the net package.
var aLongTimeAgo = time.Unix(1, 0)

// ctxWatch makes a context that is done interrupt the net package calls of
// one direction of a connection, by setting that direction's deadline in
// the past. The watch stays registered after a call returns, for the next
// call with the same context: a task reading in a loop with one context
// registers with context.AfterFunc once, not at every call, which measured
// as a few percent of a small echo request's cost. Its methods are called
// with the direction's mutex held.
type ctxWatch struct {
	ctx         context.Context // the context watched, or nil
	stop        func() bool
	fired       chan struct{} // closed once the deadline is in the past
	setDeadline func(time.Time) error
}

// watch makes ctx the context watched, unless it already is.
func (w *ctxWatch) watch(ctx context.Context, setDeadline func(time.Time) error) {
	if w.ctx == ctx {
		return
	}
	w.release()
	fired := make(chan struct{})
	w.ctx, w.fired, w.setDeadline = ctx, fired, setDeadline
	w.stop = context.AfterFunc(ctx, func() {
		setDeadline(aLongTimeAgo)
		close(fired)
	})
}

// release stops watching, clearing the deadline if the watch had set it.
func (w *ctxWatch) release() {
	if w.stop == nil {
		return
	}
	if !w.stop() {
		<-w.fired
		w.setDeadline(time.Time{})
	}
	*w = ctxWatch{}
}

// cause returns err, the error of a call made while watching ctx, with the
// deadline the watch set replaced by ctx's cause.
func (w *ctxWatch) cause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		cp := *oe
		cp.Err = context.Cause(ctx)
		return &cp
	}
	return context.Cause(ctx)
}

// CloseWrite shuts down the writing side of the connection: the peer
// reads io.EOF once it has read everything written before. Reading goes
// on working.
func (c *Conn) CloseWrite() error {
	if c == nil {
		return syscall.EINVAL // as a nil *net.TCPConn's
	}
	if c.nc != nil {
		cw, ok := c.nc.(interface{ CloseWrite() error })
		if !ok {
			return c.opErr("close", syscall.ENOTSUP)
		}
		return cw.CloseWrite()
	}
	if !c.refs.acquire() {
		return c.opErr("close", net.ErrClosed)
	}
	defer c.refs.release()
	if err := c.s.ShutdownFD(c.fd, unix.SHUT_WR); err != nil {
		return c.opErr("close", os.NewSyscallError("shutdown", err))
	}
	return nil
}

// Close closes the connection. Pending Reads and Writes return promptly
// with an error wrapping net.ErrClosed (or their real result, if they
// completed anyway), as do later ones. A second Close returns an error
// wrapping net.ErrClosed.
func (c *Conn) Close() error {
	if c == nil {
		return syscall.EINVAL // as a nil *net.TCPConn's
	}
	if c.nc != nil {
		err := c.nc.Close()
		// Unregister the contexts' watches: a context that outlives the
		// connection must not keep it reachable.
		for _, r := range []*rawIO{&c.rd, &c.wr} {
			r.mu.Lock()
			r.watch.release()
			r.mu.Unlock()
		}
		return err
	}
	if !c.refs.close(func() { c.d.CancelFD(c.fd) }) {
		return c.opErr("close", net.ErrClosed)
	}
	c.cleanup.Stop()
	if err := c.d.Close(c.fd); err != nil {
		return c.opErr("close", os.NewSyscallError("close", err))
	}
	return nil
}
