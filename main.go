package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrRootReturned is the cause (context.Cause) of the shutdown token's
// cancellation when Main's or Run's root task returned.
var ErrRootReturned = errors.New("executor: root task returned")

// The process shutdown token. Main and Run trip it when their root task
// returns and then start a fresh one, so that a later Run in the same process
// (a test, say) starts with an untripped token.
var shutdown struct {
	mu   sync.Mutex
	root *CancellationToken
}

func shutdownRoot() *CancellationToken {
	shutdown.mu.Lock()
	defer shutdown.mu.Unlock()
	if shutdown.root == nil {
		shutdown.root = NewCancellationToken()
	}
	return shutdown.root
}

// ShutdownToken returns a child of the process shutdown token. It is
// cancelled by RequestShutdown (the signals package calls it on SIGINT and
// SIGTERM) and when the root task of Main or Run returns. Long-running
// tasks watch it to know when to stop; cleanup tasks (AsCleanup) watch it to
// know when to flush.
func ShutdownToken() *CancellationToken { return shutdownRoot().Child() }

// RequestShutdown cancels the process shutdown token with cause (nil means
// context.Canceled), asking every task that watches it to stop.
func RequestShutdown(cause error) { shutdownRoot().CancelWithCause(cause) }

// endShutdownEra trips the current shutdown token and starts a fresh one.
func endShutdownEra() {
	shutdown.mu.Lock()
	root := shutdown.root
	shutdown.root = nil
	shutdown.mu.Unlock()
	if root != nil {
		root.CancelWithCause(ErrRootReturned)
	}
}

// Run runs fn as the root task of a new executor configured by opts and
// returns fn's error. When fn returns, Run trips the process shutdown token
// (see ShutdownToken), waits up to opts.ShutdownGrace for the tasks spawned
// with AsCleanup, logs the names of those that did not finish, and returns.
// It does not wait for other tasks and never cancels any: they go on
// running in the background.
func Run(opts Options, fn func(ctx context.Context) error) error {
	e, err := New(opts)
	if err != nil {
		return err
	}
	return e.runRoot(fn)
}

func (e *Executor) runRoot(fn func(ctx context.Context) error) error {
	h := Spawn(e.Context(), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	}, WithName("main"))
	_, err := h.Join(context.Background())
	endShutdownEra()
	if names := e.waitCleanups(e.opts.ShutdownGrace); len(names) > 0 {
		e.opts.Logger.Warn("executor: cleanup tasks did not finish within the shutdown grace period",
			"grace", e.opts.ShutdownGrace, "tasks", names)
	}
	e.drain()
	return err
}

// Main runs fn as the root task of the program and then exits the process:
// with status 0 if fn returned nil, or after printing the error to standard
// error, with status 1. It is Run with the zero Options, an executor that
// also becomes the default one (see Default), and os.Exit. Call it from
// main:
//
//	func main() { executor.Main(run) }
//
// Main never returns.
func Main(fn func(ctx context.Context) error) {
	MainWithOptions(Options{}, fn)
}

// MainWithOptions is Main with an executor configured by opts. An invalid
// opts is reported like an error from fn.
func MainWithOptions(opts Options, fn func(ctx context.Context) error) {
	e, err := New(opts)
	if err == nil {
		setDefault(e)
		err = e.runRoot(fn)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}
