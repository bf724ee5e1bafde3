// Command bundle is a server-shaped program built on a TaskResultBundle: an
// accept loop that starts a task per request, a metrics loop, and a health
// check that can fail. Ctrl-C (SIGINT) or SIGTERM stops it cleanly: the
// accept loop stops accepting, waits for the requests in flight, and the
// program exits 0. A failing member stops the others the same way and the
// program exits 1 with the member's name in the error.
//
// A program that seems stuck can be asked what its tasks wait on: SIGUSR1
// prints a task dump (package inspect), one line per task with what it
// waits on and for how long, and the program goes on; -dump-after prints
// one by itself.
//
//	go run ./examples/bundle                  # runs until Ctrl-C
//	go run ./examples/bundle -fail-after 2s   # the health check fails after 2s
//	kill -USR1 $(pgrep bundle)                # prints a task dump
//	go run ./examples/bundle -dump-after 1s   # prints one after a second
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/executor-go/executor"
	"github.com/executor-go/executor/inspect"
	"github.com/executor-go/executor/signals"
)

var (
	interval  = flag.Duration("interval", 20*time.Millisecond, "time between two incoming requests")
	report    = flag.Duration("report", time.Second, "time between two metrics lines")
	failAfter = flag.Duration("fail-after", 0, "make the health check fail after this long (0: never)")
	dumpAfter = flag.Duration("dump-after", 0, "print a task dump after this long (0: only on SIGUSR1)")
)

func main() {
	flag.Parse()
	executor.Main(run)
}

func run(ctx context.Context) error {
	// The bundle's token is a child of the shutdown token: a signal stops
	// every member, and so does the first member to fail.
	b := executor.NewTaskResultBundle(signals.NewShutdownToken())
	var served atomic.Int64

	b.Spawn("accept", func(ctx context.Context) error {
		var inFlight []*executor.JoinHandle[struct{}]
		for id := 0; ; id++ {
			// Waiting for the next request; a real server would Accept here.
			if err := executor.Sleep(ctx, *interval); err != nil {
				break
			}
			inFlight = append(inFlight, executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				return struct{}{}, handle(ctx, id, &served)
			}, executor.WithName(fmt.Sprint("request-", id))))
		}
		// Stop accepting, but let the requests already started finish:
		// the executor never cancels them half-way.
		for _, h := range inFlight {
			if _, err := h.Join(context.WithoutCancel(ctx)); err != nil {
				fmt.Println("request failed:", err)
			}
		}
		fmt.Printf("accept: stopped after %d requests\n", len(inFlight))
		return nil
	})

	b.Spawn("metrics", func(ctx context.Context) error {
		e, _ := executor.FromContext(ctx)
		for executor.Sleep(ctx, *report) == nil {
			st := e.Stats()
			fmt.Printf("metrics: served=%d running=%d waiting=%d completed=%d\n",
				served.Load(), st.Running, st.Waiting, st.Completed)
		}
		return nil
	})

	b.Spawn("health", func(ctx context.Context) error {
		if *failAfter == 0 {
			executor.Sleep(ctx, time.Duration(1<<63-1))
			return nil
		}
		if err := executor.Sleep(ctx, *failAfter); err != nil {
			return nil // stopped before the failure
		}
		return errors.New("disk full")
	})

	b.Spawn("dump", func(ctx context.Context) error {
		// SIGUSR1, or -dump-after, asks for a dump. The signal is taken
		// over only while the program runs: after Main, SIGUSR1 kills.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		defer signal.Stop(sig)
		if *dumpAfter > 0 {
			t := time.AfterFunc(*dumpAfter, func() {
				select {
				case sig <- syscall.SIGUSR1:
				default: // a dump is already asked for
				}
			})
			defer t.Stop()
		}
		e, _ := executor.FromContext(ctx)
		for {
			if _, _, err := executor.Recv(ctx, sig); err != nil {
				return nil // the bundle is stopping
			}
			fmt.Println("task dump:")
			inspect.WriteTasks(os.Stdout, e)
		}
	})

	err := b.Wait()
	fmt.Printf("stopped: served %d requests\n", served.Load())
	return err
}

// handle serves one request: some computation and a wait.
func handle(ctx context.Context, id int, served *atomic.Int64) error {
	sum := 0
	for i := range 10_000 {
		sum += i ^ id
	}
	if err := executor.Sleep(ctx, time.Duration(rand.IntN(50))*time.Millisecond); err != nil {
		return err
	}
	served.Add(1)
	return nil
}
