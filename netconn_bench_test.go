package executor

import (
	"io"
	"net"
	"testing"
)

// BenchmarkNetConnPingPong measures a 64-byte round trip made through
// NetConn on the default (net) sockets, against the same through net's own
// TCPConn, the anchor, with an echo server on net in both cases.
func BenchmarkNetConnPingPong(b *testing.B) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer nl.Close()
	go func() {
		for {
			c, err := nl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	run := func(b *testing.B, c net.Conn) {
		defer c.Close()
		msg := make([]byte, 64)
		buf := make([]byte, 64)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("net", func(b *testing.B) {
		c, err := net.Dial("tcp", nl.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
	b.Run("NetConn", func(b *testing.B) {
		e := newExecutor(b, Options{Workers: 2})
		c, err := Dial(e.Context(), "tcp", nl.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		run(b, c.NetConn())
	})
}
