package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/executor-go/executor"
)

// TestEchoAndGracefulStop runs the server on an executor of its own,
// echoes through it, trips the token with one connection still open and
// checks that the server waits for it up to the grace period, then closes
// it.
func TestEchoAndGracefulStop(t *testing.T) {
	t.Run("default", func(t *testing.T) { testEchoAndGracefulStop(t, executor.Options{Workers: 2}) })
	t.Run("ring", func(t *testing.T) {
		testEchoAndGracefulStop(t, executor.Options{Workers: 2, Backend: "uring", RingSockets: true})
	})
}

func testEchoAndGracefulStop(t *testing.T, opts executor.Options) {
	// Find a free port.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	stop := executor.NewCancellationToken()
	done := make(chan error, 1)
	go func() {
		done <- executor.Run(opts, func(ctx context.Context) error {
			return serve(ctx, addr, 200*time.Millisecond, stop)
		})
	}()
	var c net.Conn
	for range 100 {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, msg := range []string{"hello\n", "io_uring\n"} {
		io.WriteString(c, msg)
		if got, err := r.ReadString('\n'); got != msg || err != nil {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}

	start := time.Now()
	stop.Cancel()
	// The open connection is closed once the grace period has passed.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read after the grace period: %v; want EOF", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("connection closed after %v, before the 200ms grace period", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after shutdown")
	}
}
