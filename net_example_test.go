package executor_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/executor-go/executor"
)

// A TCP echo server with a task per connection, and a client.
func ExampleListen() {
	executor.Run(executor.Options{}, func(ctx context.Context) error {
		l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			for {
				c, err := l.Accept(ctx)
				if err != nil {
					return struct{}{}, nil // closed
				}
				executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
					defer c.Close()
					buf := make([]byte, 4096)
					for {
						n, err := c.Read(ctx, buf)
						if err != nil {
							return struct{}{}, nil // io.EOF: the client is done
						}
						if _, err := c.Write(ctx, buf[:n]); err != nil {
							return struct{}{}, nil
						}
					}
				})
			}
		})

		c, err := executor.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write(ctx, []byte("hello"))
		c.CloseWrite()
		reply, err := io.ReadAll(c.NetConn())
		fmt.Printf("%s %v\n", reply, err)
		return nil
	})
	// Output: hello <nil>
}

// net/http over the executor's listener.
func ExampleListener_NetListener() {
	executor.Run(executor.Options{}, func(ctx context.Context) error {
		l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hi")
		})}
		go srv.Serve(l.NetListener())

		_, err = executor.Block(ctx, func() (struct{}, error) {
			resp, err := http.Get("http://" + l.Addr().String())
			if err != nil {
				return struct{}{}, err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			fmt.Println(resp.Status, string(body))
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return struct{}{}, srv.Shutdown(sctx)
		})
		http.DefaultClient.CloseIdleConnections()
		return err
	})
	// Output: 200 OK hi
}

// Deadlines through the net.Conn adapter interrupt a pending read.
func ExampleConn_NetConn() {
	executor.Run(executor.Options{}, func(ctx context.Context) error {
		l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := executor.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = executor.Block(ctx, func() (struct{}, error) {
			nc := c.NetConn()
			nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			_, err := nc.Read(make([]byte, 1)) // nobody writes
			fmt.Println(err.(interface{ Timeout() bool }).Timeout())
			return struct{}{}, nil
		})
		return err
	})
	// Output: true
}
