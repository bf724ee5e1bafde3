package executor_test

import (
	"context"
	"fmt"
	"time"

	"github.com/executor-go/executor"
)

// What each task of an executor does: here one task waits on an Event,
// another holds the only worker, and a third is queued for it.
func ExampleExecutor_Tasks() {
	e, _ := executor.New(executor.Options{Workers: 1})
	defer e.Shutdown(context.Background())
	var ev executor.Event
	gate := make(chan struct{})
	executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		return 0, ev.Wait(ctx)
	}, executor.WithName("waiter"))
	for e.Stats().Waiting == 0 {
		time.Sleep(time.Millisecond)
	}
	executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		<-gate // holds the worker
		return 0, nil
	}, executor.WithName("hog"))
	executor.Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, nil })

	for _, t := range e.Tasks() {
		fmt.Printf("%d %q %s %q\n", t.ID, t.Name, t.State, t.Wait)
	}
	ev.Set()
	close(gate)
	// Output:
	// 1 "waiter" waiting "event"
	// 2 "hog" running ""
	// 3 "" runnable ""
}
