package inspect_test

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/executor-go/executor"
	"github.com/executor-go/executor/inspect"
)

// Mount the pages on a debug server's mux, and publish the statistics
// for /debug/vars.
func ExampleHandler() {
	e, _ := executor.New(executor.Options{})
	defer e.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/debug/executor/", inspect.Handler(e))
	inspect.Publish("executor", e)
	_ = &http.Server{Addr: "127.0.0.1:6060", Handler: mux} // then ListenAndServe
}

// The plain-text dump, as a program might print it when asked.
func ExampleWriteTasks() {
	e, _ := executor.New(executor.Options{})
	defer e.Shutdown(context.Background())
	tok := executor.NewCancellationToken()
	h := executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		return 0, executor.Sleep(tok.Bind(ctx), time.Hour)
	}, executor.WithName("poller"))
	for e.Stats().Waiting == 0 {
		time.Sleep(time.Millisecond)
	}
	inspect.WriteTasks(os.Stdout, e) // ID, name, state, wait, age
	tok.Cancel()
	h.Join(context.Background())
}
