// Command echo is a TCP echo server: one task per connection, whose reads
// and writes wait in the Go runtime's network poller, or are io_uring
// requests with -ring (Options.RingSockets).
//
// Ctrl-C (SIGINT) or SIGTERM trips the shutdown token: the server stops
// accepting, lets the open connections finish for up to the grace period,
// then closes those still open and exits.
//
//	go run ./examples/echo -addr 127.0.0.1:7000 &
//	echo hello | nc -q1 127.0.0.1 7000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/executor-go/executor"
	"github.com/executor-go/executor/signals"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	grace := flag.Duration("grace", 5*time.Second, "how long open connections may finish after a shutdown request")
	ring := flag.Bool("ring", false, "make accepts, reads and writes io_uring requests (Options.RingSockets)")
	flag.Parse()
	executor.MainWithOptions(executor.Options{RingSockets: *ring}, func(ctx context.Context) error {
		return serve(ctx, *addr, *grace, signals.NewShutdownToken())
	})
}

// serve runs the echo server until stop is cancelled.
func serve(ctx context.Context, addr string, grace time.Duration, stop *executor.CancellationToken) error {
	l, err := executor.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	e, _ := executor.FromContext(ctx)
	fmt.Printf("listening on %v (backend %s)\n", l.Addr(), e.Backend())

	var open sync.Map // *executor.Conn → struct{}: the connections to close when the grace period ends
	var conns executor.WaitGroup
	served := 0
	// The accept waits on the shutdown token bound to this task, so that
	// it both gives up the worker and ends when the token trips.
	acceptCtx := stop.Bind(ctx)
	for {
		c, err := l.Accept(acceptCtx)
		if err != nil {
			if stop.IsCancelled() {
				break
			}
			l.Close()
			return err
		}
		served++
		open.Store(c, struct{}{})
		conns.Add(1)
		executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			defer conns.Done()
			defer open.Delete(c)
			defer c.Close()
			echo(ctx, c)
			return struct{}{}, nil
		})
	}
	l.Close()
	fmt.Printf("shutting down (%v): served %d connections; waiting up to %v for those still open\n",
		context.Cause(acceptCtx), served, grace)

	wctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if conns.Wait(wctx) != nil {
		n := 0
		open.Range(func(k, _ any) bool {
			k.(*executor.Conn).Close() // their pending reads return net.ErrClosed
			n++
			return true
		})
		fmt.Printf("closed %d connections still open after the grace period\n", n)
		conns.Wait(ctx)
	}
	fmt.Println("stopped")
	return nil
}

// echo copies what c receives back to it until the peer closes its side
// (or the connection is closed under it).
func echo(ctx context.Context, c *executor.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(ctx, buf)
		if n > 0 {
			if _, err := c.Write(ctx, buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				c.CloseWrite()
			} else if !errors.Is(err, net.ErrClosed) {
				fmt.Printf("%v: %v\n", c.RemoteAddr(), err)
			}
			return
		}
	}
}
