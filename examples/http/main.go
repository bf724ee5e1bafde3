// Command http serves net/http over the executor's listener: the server's
// accepts, reads and writes wait in the Go runtime's network poller, or are
// io_uring requests with -ring (Options.RingSockets), while handlers stay
// plain net/http code.
//
// Ctrl-C (SIGINT) or SIGTERM trips the shutdown token, and http.Server's
// Shutdown drains the requests in progress for up to the grace period.
//
// /debug/executor/ shows the executor's tasks, what they wait on and for
// how long (package inspect), /debug/executor/tasks the same as text.
//
//	go run ./examples/http -addr 127.0.0.1:8080 &
//	curl http://127.0.0.1:8080/hello
//	curl http://127.0.0.1:8080/debug/executor/tasks
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/executor-go/executor"
	"github.com/executor-go/executor/inspect"
	"github.com/executor-go/executor/signals"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	grace := flag.Duration("grace", 5*time.Second, "how long requests in progress may finish after a shutdown request")
	ring := flag.Bool("ring", false, "make accepts, reads and writes io_uring requests (Options.RingSockets)")
	flag.Parse()
	executor.MainWithOptions(executor.Options{RingSockets: *ring}, func(ctx context.Context) error {
		return serve(ctx, *addr, *grace, signals.NewShutdownToken())
	})
}

// handler is the demo site: a greeting, an echo of the request body, and
// the executor's inspection pages.
func handler(e *executor.Executor) http.Handler {
	backend := e.Backend()
	mux := http.NewServeMux()
	mux.Handle("/debug/executor/", inspect.Handler(e))
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the %s backend\n", backend)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	return mux
}

// serve runs the HTTP server until stop is cancelled, then shuts it down
// gracefully.
func serve(ctx context.Context, addr string, grace time.Duration, stop *executor.CancellationToken) error {
	l, err := executor.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	e, _ := executor.FromContext(ctx)
	srv := &http.Server{Handler: handler(e), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("serving http://%v (backend %s)\n", l.Addr(), e.Backend())

	// http.Server runs on plain goroutines, the kind NetListener and its
	// connections are made for.
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l.NetListener()) }()

	// Sleep until the token trips, with this task's worker given up.
	executor.Sleep(stop.Bind(ctx), time.Duration(1<<63-1))
	fmt.Printf("shutting down (%v)\n", context.Cause(stop))
	sctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	// Shutdown blocks while it drains: Block gives the worker up.
	_, err = executor.Block(ctx, func() (struct{}, error) { return struct{}{}, srv.Shutdown(sctx) })
	if err != nil {
		srv.Close() // the grace period passed: drop what is left
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Println("stopped")
	return nil
}
