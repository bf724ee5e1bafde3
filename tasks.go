package executor

import (
	"context"
	"net"
	"runtime/pprof"
	"runtime/trace"
	"sync/atomic"
	"time"

	"github.com/executor-go/executor/internal/sched"
)

// This file is what Tasks, the pprof labels and the execution trace see of
// a task: the wait kinds that label every wait, the wait entry point that
// records them, and the snapshot of the scheduler's records.

// TaskInfo describes one task, as Tasks sees it.
type TaskInfo struct {
	ID   uint64 // unique in its executor, in the order of Spawn
	Name string // given with WithName, or "" for an unnamed task

	// State is "runnable" (queued for a worker: not started yet, after a
	// wait, or in Yield), "running" (holding a worker) or "waiting" (in a
	// wait, holding no worker).
	State string

	// Wait says what a waiting task waits on: "sleep", "join", "yield",
	// "block", "mutex", "semaphore", "event", "waitgroup", "recv", "send",
	// "read", "write", "accept", "connect", "sync", "open", "stat",
	// "resolve" (a name lookup) or "path" (mkdir, remove, rename, reading a
	// directory ...). A file or socket wait names the file's path or the peer's
	// address after a space ("read /var/data/x", "write 10.0.0.2:443"). A
	// task in Yield is runnable with Wait "yield"; other tasks that are not
	// waiting have Wait "".
	Wait string

	// Spawned and Since are read from a cheap clock (the CPU's counter,
	// where the kernel trusts it) and converted to the time package's
	// clock when Tasks is called: each is accurate to a microsecond or so
	// plus a few millionths of its age, so two calls may place the same
	// moment that far apart. Compare State and Wait, not Since, to tell
	// whether a task changed state between two calls.
	Spawned time.Time // when Spawn was called
	Since   time.Time // when the task entered its current state
}

// Tasks returns every task spawned on e and not yet ended, oldest first.
//
// The states come from one pass over the scheduler's records under its
// lock, so they are consistent with each other: the running tasks never
// exceed the workers. The pass holds the lock for a few ns a task, so a
// program with a million live tasks stalls its scheduler for some
// milliseconds per call; call it to diagnose, not in a loop.
func (e *Executor) Tasks() []TaskInfo {
	snap := e.sched.Tasks(nil)
	out := make([]TaskInfo, len(snap))
	for i, s := range snap {
		ti := TaskInfo{ID: s.ID, State: stateNames[s.State], Spawned: s.Spawned, Since: s.Since}
		if n, ok := s.Runner.(interface{ Name() string }); ok {
			ti.Name = n.Name()
		}
		if s.State == sched.Waiting || s.Kind == sched.KindYield {
			ti.Wait = waitNames[s.Kind]
			if arg := waitArg(s.Arg); arg != "" {
				ti.Wait += " " + arg
			}
		}
		out[i] = ti
	}
	return out
}

var stateNames = [...]string{sched.Runnable: "runnable", sched.Running: "running", sched.Waiting: "waiting"}

// waitKind is what a wait is about. Its number goes to the scheduler, which
// keeps it with the waiting task and counts the waits of each kind.
type waitKind uint8

const (
	waitOther waitKind = waitKind(sched.KindNone)  // a wait with no kind (sched.Task.Release)
	waitYield waitKind = waitKind(sched.KindYield) // set by the scheduler itself
	waitJoin  waitKind = waitKind(sched.KindJoin)  // also set by the scheduler, for RunInline
	waitSleep waitKind = iota
	waitBlock
	waitMutex
	waitSemaphore
	waitEvent
	waitWaitGroup
	waitRecv
	waitSend
	waitRead
	waitWrite
	waitAccept
	waitConnect
	waitSync
	waitOpen
	waitStat
	waitResolve
	waitPath // a path operation: mkdir, remove, rename, chmod, read a directory ...
	numWaitKinds
)

var waitNames = [numWaitKinds]string{
	waitOther: "other", waitYield: "yield", waitSleep: "sleep", waitJoin: "join",
	waitBlock: "block", waitMutex: "mutex", waitSemaphore: "semaphore", waitEvent: "event",
	waitWaitGroup: "waitgroup", waitRecv: "recv", waitSend: "send", waitRead: "read",
	waitWrite: "write", waitAccept: "accept", waitConnect: "connect", waitSync: "sync",
	waitOpen: "open", waitStat: "stat", waitResolve: "resolve", waitPath: "path",
}

// ioKinds are the kinds whose durations Stats reports as IOTime.
const ioKinds = 1<<waitRead | 1<<waitWrite | 1<<waitAccept | 1<<waitConnect |
	1<<waitSync | 1<<waitOpen | 1<<waitStat | 1<<waitPath

// regionNames are the execution trace's region types of the waits, made
// once so that a traced wait does not build a string.
var regionNames = func() (r [numWaitKinds]string) {
	for k, n := range waitNames {
		r[k] = "executor.wait " + n
	}
	return r
}()

func init() {
	if numWaitKinds > sched.MaxKinds {
		panic("executor: more wait kinds than the scheduler counts")
	}
}

// waitArg formats the object of a wait: a file's name (a *string) or a
// socket's address (a *net.Addr).
func waitArg(a any) string {
	switch a := a.(type) {
	case *string:
		return *a
	case *net.Addr:
		if *a != nil {
			return (*a).String()
		}
	}
	return ""
}

// rwWait is the kind of a read or a write, of a file or a socket.
func rwWait(write bool) waitKind {
	if write {
		return waitWrite
	}
	return waitRead
}

// waitKind tells await what a Mutex's waiters wait on.
func (m *Mutex) waitKind() waitKind { return waitMutex }

// waitKind tells await what a Semaphore's waiters wait on.
func (s *Semaphore) waitKind() waitKind { return waitSemaphore }

// labelled is set once a named task has been spawned in the process: from
// then on every task sets its goroutine's pprof labels as it starts, since
// its goroutine may carry a named task's labels (it ran one before, or was
// started by one).
var labelled atomic.Bool

// taskParent returns the parent context of a task named name spawned from
// ctx: ctx with the pprof label task=name for a named task, and while the
// execution trace is on, a trace task named after it (returned, for the
// task to end).
func taskParent(ctx context.Context, name string) (context.Context, *trace.Task) {
	if name != "" {
		labelled.Store(true)
		ctx = pprof.WithLabels(ctx, pprof.Labels("task", name))
	}
	if !trace.IsEnabled() {
		return ctx, nil
	}
	typ := name
	if typ == "" {
		typ = "executor.task"
	}
	return trace.NewTask(ctx, typ)
}

// setLabels gives the calling goroutine the pprof labels of the task whose
// context is ctx, as the task starts.
func setLabels(ctx context.Context, named bool) {
	if named || labelled.Load() {
		pprof.SetGoroutineLabels(ctx)
	}
}
