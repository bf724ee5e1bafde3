// Package signals turns SIGINT and SIGTERM into the executor's process
// shutdown token.
//
// The first SIGINT or SIGTERM cancels the token, asking every task that
// watches it to stop; a second one exits the process at once with status
// 128+signal, for when a clean stop takes too long. One handler serves the
// whole process, installed by the first call to NewShutdownToken.
package signals

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/executor-go/executor"
)

var install sync.Once

// NewShutdownToken installs the process's signal handler (once) and returns
// a child of the process shutdown token (executor.ShutdownToken). Every call
// returns a new child of the same token; dropping one costs nothing.
func NewShutdownToken() *executor.CancellationToken {
	install.Do(func() {
		ch := make(chan os.Signal, 2)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go handle(ch)
	})
	return executor.ShutdownToken()
}

// SignalError is the cause (context.Cause) of a shutdown token cancelled by
// a signal.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return fmt.Sprintf("received signal %v", e.Signal) }

// handle cancels the shutdown token on the first signal and exits on the
// second. It runs for the life of the process.
func handle(ch <-chan os.Signal) {
	sig := <-ch
	executor.RequestShutdown(&SignalError{Signal: sig})
	sig = <-ch
	code := 1
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
	}
	fmt.Fprintf(os.Stderr, "executor: second %v: exiting now\n", sig)
	os.Exit(code)
}
