package executor

import (
	"context"
	"net"
	"sync"
	"testing"
)

// BenchmarkNetAccept measures connections accepted per second on the
// uring backend, one request per Accept against one multishot request,
// with 8 clients dialling and closing as fast as they can.
//
// Measured (2 vCPU VM, Linux 6.18, -benchtime 20000x -count 3, clients
// included): single 85-92 µs/conn, multishot 96-101 µs/conn. The dial and
// the handshake dominate, and the pump goroutine's hand-off costs more
// than the saved submissions gain, so acceptMultishot is off.
func BenchmarkNetAccept(b *testing.B) {
	for _, multi := range []bool{false, true} {
		name := "single"
		if multi {
			name = "multishot"
		}
		b.Run(name, func(b *testing.B) {
			old := acceptMultishot
			acceptMultishot = multi
			defer func() { acceptMultishot = old }()
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
		})
	}
}
