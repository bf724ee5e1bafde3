package executor

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listenUDP(t *testing.T, ctx context.Context) *PacketConn {
	t.Helper()
	pc, err := ListenPacket(ctx, "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func listenUnixgram(t *testing.T, ctx context.Context, path string) *PacketConn {
	t.Helper()
	pc, err := ListenPacket(ctx, "unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func TestPacketBoundariesAndTruncation(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		srv := listenUDP(t, ctx)
		c, err := Dial(ctx, "udp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msgs := []string{"a", "bcdef", "", string(bytes.Repeat([]byte("x"), 60_000))}
		for _, m := range msgs {
			if n, err := c.Write(ctx, []byte(m)); n != len(m) || err != nil {
				t.Fatalf("Write(%d bytes) = %d, %v", len(m), n, err)
			}
		}
		buf := make([]byte, 64<<10)
		for _, m := range msgs {
			n, from, err := srv.ReadFrom(ctx, buf)
			if err != nil || string(buf[:n]) != m {
				t.Fatalf("ReadFrom = %d bytes, %v; want %d bytes", n, err, len(m))
			}
			if from.String() != c.LocalAddr().String() {
				t.Fatalf("from %v, want %v", from, c.LocalAddr())
			}
			if _, ok := from.(*net.UDPAddr); !ok {
				t.Fatalf("from is a %T", from)
			}
		}
		// Replies to the sender's address reach the connected Conn whole.
		from := c.LocalAddr()
		for _, m := range msgs[:2] {
			if n, err := srv.WriteTo(ctx, []byte(m), from); n != len(m) || err != nil {
				t.Fatalf("WriteTo = %d, %v", n, err)
			}
		}
		// An empty datagram reads as 0 bytes and no error, not io.EOF.
		if _, err := srv.WriteTo(ctx, nil, from); err != nil {
			t.Fatal(err)
		}
		for _, m := range append(msgs[:2:2], "") {
			n, err := c.Read(ctx, buf)
			if err != nil || string(buf[:n]) != m {
				t.Fatalf("Read = %q, %v; want %q", buf[:n], err, m)
			}
		}

		// Truncation, as the net package reports it: the datagram cut to
		// the buffer, no error, the next datagram intact.
		npc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer npc.Close()
		sender, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		long, next := bytes.Repeat([]byte("L"), 100), []byte("next")
		for _, to := range []net.Addr{srv.LocalAddr(), npc.LocalAddr()} {
			for _, m := range [][]byte{long, next} {
				if _, err := sender.WriteTo(m, to); err != nil {
					t.Fatal(err)
				}
			}
		}
		small := make([]byte, 10)
		on, _, oerr := srv.ReadFrom(ctx, small)
		nn, _, nerr := npc.ReadFrom(small)
		if on != nn || (oerr == nil) != (nerr == nil) || on != 10 {
			t.Fatalf("truncated ReadFrom = %d, %v; net gives %d, %v", on, oerr, nn, nerr)
		}
		if n, _, err := srv.ReadFrom(ctx, buf); err != nil || string(buf[:n]) != "next" {
			t.Fatalf("ReadFrom after a truncated datagram = %q, %v", buf[:n], err)
		}
		// A connected Conn truncates the same way.
		if _, err := srv.WriteTo(ctx, long, from); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(ctx, small); n != 10 || err != nil {
			t.Fatalf("truncated Read = %d, %v", n, err)
		}
	})
}

func TestPacketUnixgram(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		dir := t.TempDir()
		a := listenUnixgram(t, ctx, filepath.Join(dir, "a"))
		b := listenUnixgram(t, ctx, filepath.Join(dir, "b"))
		if _, err := a.WriteTo(ctx, []byte("to b"), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, from, err := b.ReadFrom(ctx, buf)
		if err != nil || string(buf[:n]) != "to b" || from.String() != a.LocalAddr().String() || from.Network() != "unixgram" {
			t.Fatalf("ReadFrom = %q from %v (%T), %v", buf[:n], from, from, err)
		}
		if _, err := a.WriteTo(ctx, []byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}); err == nil {
			t.Fatal("WriteTo a UDP address on a unixgram socket succeeded")
		}
	})
}

func TestPacketErrors(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		if _, err := ListenPacket(ctx, "tcp", "127.0.0.1:0"); err == nil {
			t.Fatal("ListenPacket(tcp) succeeded")
		}
		var ue net.UnknownNetworkError
		if _, err := ListenPacket(ctx, "ip9", ""); !errors.As(err, &ue) {
			t.Fatalf("ListenPacket(ip9) = %v", err)
		}
		pc := listenUDP(t, ctx)
		var oe *net.OpError
		if _, err := pc.WriteTo(ctx, []byte("x"), nil); !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("WriteTo(nil) = %v", err)
		}
		if _, err := pc.WriteTo(ctx, []byte("x"), &net.TCPAddr{}); !errors.As(err, &oe) {
			t.Fatalf("WriteTo(TCPAddr) = %v", err)
		}
		// WriteTo an IPv6 address from an IPv4 socket.
		if _, err := pc.WriteTo(ctx, []byte("x"), &net.UDPAddr{IP: net.IPv6loopback, Port: 9}); err == nil {
			t.Fatal("WriteTo(::1) from 127.0.0.1 succeeded")
		}

		// A ReadFrom with a done context fails at once; one pending when
		// its context ends returns the context's cause.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := pc.ReadFrom(cctx, make([]byte, 1)); !errors.Is(err, context.Canceled) || !errors.As(err, &oe) {
			t.Fatalf("ReadFrom(cancelled) = %v", err)
		}
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, _, err := pc.ReadFrom(tctx, make([]byte, 1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ReadFrom(timeout) = %v", err)
		}

		// Close interrupts a pending ReadFrom; later calls fail too.
		h := Spawn(ctx, func(ctx context.Context) (error, error) {
			_, _, err := pc.ReadFrom(ctx, make([]byte, 1))
			return err, nil
		})
		time.Sleep(10 * time.Millisecond)
		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
		if err, _ := h.Join(ctx); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending ReadFrom after Close = %v", err)
		}
		if _, _, err := pc.ReadFrom(ctx, make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrom after Close = %v", err)
		}
		if _, err := pc.WriteTo(ctx, []byte("x"), pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WriteTo after Close = %v", err)
		}
		if err := pc.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v", err)
		}
	})
}

func TestPacketNetPacketConnDeadline(t *testing.T) {
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		pc := listenUDP(t, e.Context())
		npc := pc.NetPacketConn()
		npc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, _, err := npc.ReadFrom(make([]byte, 1))
		if !isTimeout(err) {
			t.Fatalf("ReadFrom past the deadline = %v", err)
		}
		npc.SetReadDeadline(time.Time{})
		if _, err := npc.WriteTo([]byte("self"), pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		if n, _, err := pc.ReadFrom(e.Context(), buf); err != nil || string(buf[:n]) != "self" {
			t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
		}
	})
}

// TestPacketManyDatagrams echoes 10,000 datagrams of varying sizes over
// loopback, a window of them in flight at a time, and checks every one.
func TestPacketManyDatagrams(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		srv := listenUDP(t, ctx)
		echo := Spawn(ctx, func(ctx context.Context) (int, error) {
			buf := make([]byte, 64<<10)
			n := 0
			for {
				m, from, err := srv.ReadFrom(ctx, buf)
				if err != nil {
					return n, nil // closed
				}
				if _, err := srv.WriteTo(ctx, buf[:m], from); err != nil {
					return n, err
				}
				n++
			}
		})
		c, err := Dial(ctx, "udp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const total, window = 10_000, 16
		datagram := func(seq int) []byte {
			size := 8 + (seq*7919)%1400
			b := make([]byte, size)
			binary.BigEndian.PutUint32(b, uint32(seq))
			for i := 8; i < size; i++ {
				b[i] = byte(seq + i)
			}
			binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(b[8:]))
			return b
		}
		seen := make([]bool, total)
		buf := make([]byte, 2048)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a lost datagram fails, not hangs
		defer cancel()
		for base := 0; base < total; base += window {
			for seq := base; seq < base+window; seq++ {
				if _, err := c.Write(ctx, datagram(seq)); err != nil {
					t.Fatal(err)
				}
			}
			for range window {
				n, err := c.Read(rctx, buf)
				if err != nil {
					t.Fatalf("Read after %d datagrams: %v", base, err)
				}
				seq := int(binary.BigEndian.Uint32(buf))
				if seq >= total || seen[seq] || !bytes.Equal(buf[:n], datagram(seq)) {
					t.Fatalf("datagram %d corrupted or repeated (%d bytes)", seq, n)
				}
				seen[seq] = true
			}
		}
		srv.Close()
		if n, err := echo.Join(ctx); err != nil || n != total {
			t.Fatalf("server echoed %d, %v", n, err)
		}
	})
}

// TestPacketCancelLosesNothing cancels ReadFroms at every moment relative
// to a datagram's arrival: each datagram is returned either by the
// cancelled ReadFrom or by the next one, never lost and never twice.
func TestPacketCancelLosesNothing(t *testing.T) {
	onBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		srv := listenUDP(t, ctx)
		c, err := Dial(ctx, "udp", srv.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		const rounds = 300
		buf := make([]byte, 16)
		cancelled := 0
		for i := range rounds {
			rctx, cancel := context.WithCancel(ctx)
			go func() {
				// Cancel and send in varying order and spacing.
				if i%2 == 0 {
					cancel()
				}
				time.Sleep(time.Duration(i%7) * 20 * time.Microsecond)
				c.Write(context.Background(), binary.BigEndian.AppendUint32(nil, uint32(i)))
				cancel()
			}()
			n, _, err := srv.ReadFrom(rctx, buf)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("round %d: %v", i, err)
				}
				cancelled++
				n, _, err = srv.ReadFrom(ctx, buf)
				if err != nil {
					t.Fatalf("round %d, after the cancel: %v", i, err)
				}
			}
			if got := binary.BigEndian.Uint32(buf[:n]); got != uint32(i) {
				t.Fatalf("round %d received datagram %d", i, got)
			}
		}
		t.Logf("%d of %d ReadFroms cancelled", cancelled, rounds)
	})
}

func TestPacketIPv6(t *testing.T) {
	if !supportsIPv6() {
		t.Skip("no IPv6")
	}
	onSocketBackends(t, 2, func(t *testing.T, e *Executor) {
		ctx := e.Context()
		pc, err := ListenPacket(ctx, "udp", ":0") // dual stack
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		port := pc.LocalAddr().(*net.UDPAddr).Port
		for _, to := range []string{"127.0.0.1", "::1"} {
			nc, err := net.Dial("udp", net.JoinHostPort(to, strconv.Itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			nc.Write([]byte(to))
			buf := make([]byte, 16)
			n, from, err := pc.ReadFrom(ctx, buf)
			if err != nil || string(buf[:n]) != to {
				t.Fatalf("ReadFrom = %q, %v", buf[:n], err)
			}
			if _, err := pc.WriteTo(ctx, []byte("back"), from); err != nil {
				t.Fatalf("WriteTo(%v) = %v", from, err)
			}
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := nc.Read(buf); err != nil || string(buf[:n]) != "back" {
				t.Fatalf("reply to %s = %q, %v", to, buf[:n], err)
			}
			nc.Close()
		}
	})
}

// TestPacketWriteToNoAddressQueued: a WriteTo without an address that
// queued behind a pending WriteTo (giving its worker up) takes a worker
// back before it fails. It used to return holding none, so that its task
// ran beside the executor's workers.
func TestPacketWriteToNoAddressQueued(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	ctx := e.Context()
	dir := t.TempDir()
	a := listenUnixgram(t, ctx, filepath.Join(dir, "a"))
	b := listenUnixgram(t, ctx, filepath.Join(dir, "b"))

	// Fill b's receive queue, so that a's next WriteTo to b waits.
	rc, err := a.NetPacketConn().(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	rc.Control(func(fd uintptr) {
		to := &unix.SockaddrUnix{Name: filepath.Join(dir, "b")}
		for unix.Sendto(int(fd), []byte("x"), unix.MSG_DONTWAIT, to) == nil {
			queued++
		}
	})
	pending := Spawn(ctx, func(ctx context.Context) (int, error) {
		return a.WriteTo(ctx, []byte("y"), b.LocalAddr())
	})
	waitFor(t, func() bool { return e.Stats().Waiting == 1 })
	noAddr := Spawn(ctx, func(ctx context.Context) (int64, error) {
		_, err := a.WriteTo(ctx, []byte("z"), nil)
		if err == nil {
			t.Error("WriteTo(nil) succeeded")
		}
		if _, err := pending.Join(ctx); err != nil {
			t.Error(err)
		}
		return e.Stats().Running, nil // this task only, if it holds its worker
	})
	// Once the second one waits too (queued, or in Join), make room.
	waitFor(t, func() bool { return e.Stats().Waiting == 2 })
	buf := make([]byte, 1)
	for range queued + 1 {
		if _, _, err := b.ReadFrom(context.Background(), buf); err != nil {
			t.Fatal(err)
		}
	}
	if running, _ := noAddr.Join(context.Background()); running != 1 {
		t.Fatalf("after a failed WriteTo, %d tasks hold a worker; want 1 (the one calling)", running)
	}
}
