package executor

import (
	"context"
	"net"
	"sync"
	"testing"
)

// BenchmarkNetAccept measures connections accepted per second by a ring
// socket Listener on the uring backend (one request per Accept), with 8
// clients dialling and closing as fast as they can.
//
// Measured (2 vCPU VM, Linux 6.18, -benchtime 20000x -count 3, clients
// included): 85-92 µs/conn. The dial and the handshake dominate; a
// multishot accept fed to Accept by a goroutine measured 96-101 µs/conn
// in the same runs and was removed.
func BenchmarkNetAccept(b *testing.B) {
	e := newExecutor(b, Options{Backend: "uring", RingSockets: true})
	if e.Backend() != "uring" {
		b.Skip("no io_uring")
	}
	ctx := e.Context()
	l, err := Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := Spawn(ctx, func(ctx context.Context) (int, error) {
		n := 0
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return n, nil
			}
			n++
			c.Close()
		}
	})
	b.ResetTimer()
	var wg sync.WaitGroup
	const clients = 8
	for i := range clients {
		quota := b.N / clients
		if i < b.N%clients {
			quota++
		}
		wg.Go(func() {
			for range quota {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					b.Error(err)
					return
				}
				c.Read(make([]byte, 1)) // until the server's close
				c.Close()
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	l.Close()
	done.Join(context.Background())
}
