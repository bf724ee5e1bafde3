package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/executor-go/executor"
)

// runTasks is the tasks subcommand: it parses args (after "tasks"),
// measures the task workloads and prints their tables to stdout and
// progress to stderr.
func runTasks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseTaskFlags(args, stderr)
	if err != nil {
		return err
	}
	m := taskMachine{
		host:         thisHost(),
		CellDuration: c.duration.String(),
		Rounds:       c.rounds,
		Sleepers:     c.sleepers,
		Nap:          c.nap.String(),
	}
	start := time.Now()
	cells, err := measureTaskRounds(ctx, c, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "done in %.0fs\n\n", time.Since(start).Seconds())
	if err := writeTaskTables(stdout, cells); err != nil {
		return err
	}
	if c.jsonPath != "" {
		return writeFile(c.jsonPath, func(w io.Writer) error { return writeTaskJSON(w, m, cells) })
	}
	return nil
}

// measureTaskRounds runs every cell of c's workloads in a child process,
// c.rounds times, a round running each cell once, and returns a row per
// contender with the medians of its rounds.
func measureTaskRounds(ctx context.Context, c *taskConfig, stderr io.Writer) ([]taskCell, error) {
	var contenders []taskContender
	for _, tc := range taskContenders {
		if slices.Contains(c.workloads, tc.workload) {
			contenders = append(contenders, tc)
		}
	}
	total := len(contenders) * c.rounds
	fmt.Fprintf(stderr, "execbench tasks: %d cells of %v (%d rounds), %s sleepers of %v, GOMAXPROCS %d\n",
		total, c.duration, c.rounds, group(int64(c.sleepers)), c.nap, runtime.GOMAXPROCS(0))
	rounds := make([][]taskCell, len(contenders))
	n := 0
	for round := range c.rounds {
		for j, tc := range contenders {
			n++
			r, err := runCell(ctx, cellSpec{Bench: "tasks", Contender: tc.key, Duration: c.duration, Sleepers: c.sleepers, Nap: c.nap})
			if err != nil {
				if ctx.Err() != nil {
					return nil, err
				}
				// One broken cell should not cost the rest of the run.
				r = cellResult{Unavailable: "failed: " + err.Error()}
			}
			cl := newTaskCell(tc, r)
			rounds[j] = append(rounds[j], cl)
			fmt.Fprintf(stderr, "[%*d/%d] %-16s %-19s%s … %s\n", len(strconv.Itoa(total)), n, total,
				cl.Name, workloadNames[tc.workload], roundLabel(round, c.rounds), taskProgress(cl))
		}
	}
	return medianTaskCells(contenders, rounds), nil
}

// taskProgress is the end of a task cell's progress line.
func taskProgress(c taskCell) string {
	switch {
	case c.Unavailable != "":
		return "unavailable: " + c.Unavailable
	case c.Workload == "sleep":
		return fixed(c.CPUMsPerNap, 1) + " ms CPU per nap"
	}
	return strconv.FormatFloat(c.NsPerOp, 'f', 1, 64) + " ns/" + c.Op
}

// measureTask runs one task cell in this process. Each measures the same
// work as the benchmark of the same name in bench/taskbench, for a time
// rather than b.N times.
func measureTask(spec cellSpec) (cellResult, error) {
	if spec.Duration <= 0 {
		return cellResult{}, fmt.Errorf("bad cell %+v", spec)
	}
	switch spec.Contender {
	case "join", "yield":
		return withExecutor(1, func(e *executor.Executor) cellResult {
			if spec.Contender == "join" {
				return timed(spec.Duration, func(stop *atomic.Bool) int64 { return joinPingPong(e, stop) })
			}
			return timed(spec.Duration, func(stop *atomic.Bool) int64 { return yieldPingPong(e, stop) })
		})
	case "chan":
		return timed(spec.Duration, chanPingPong), nil
	case "spawn":
		return withExecutor(0, func(e *executor.Executor) cellResult {
			return timed(spec.Duration, func(stop *atomic.Bool) int64 { return spawnJoin(e, stop) })
		})
	case "go":
		return timed(spec.Duration, goWaitGroup), nil
	}
	if spec.Sleepers < 1 || spec.Nap <= 0 {
		return cellResult{}, fmt.Errorf("bad cell %+v", spec)
	}
	switch spec.Contender {
	case "sleep":
		return withExecutor(0, func(e *executor.Executor) cellResult {
			return sleepers(spec, func(asleep *atomic.Int64, wg *sync.WaitGroup) {
				for range spec.Sleepers {
					executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
						defer wg.Done()
						asleep.Add(1)
						return 0, executor.Sleep(ctx, spec.Nap)
					})
				}
			})
		})
	case "time.Sleep":
		return sleepers(spec, func(asleep *atomic.Int64, wg *sync.WaitGroup) {
			for range spec.Sleepers {
				go func() {
					defer wg.Done()
					asleep.Add(1)
					time.Sleep(spec.Nap)
				}()
			}
		}), nil
	}
	return cellResult{}, fmt.Errorf("unknown task contender %q", spec.Contender)
}

// withExecutor runs measure on a new executor with the given workers (0:
// GOMAXPROCS) and the best backend, and shuts it down.
func withExecutor(workers int, measure func(*executor.Executor) cellResult) (cellResult, error) {
	e, err := executor.New(executor.Options{Workers: workers})
	if err != nil {
		return cellResult{}, err
	}
	r := measure(e)
	r.Backend = e.Backend()
	return r, e.Shutdown(context.Background())
}

// timed runs body once briefly, to warm up (the runtime's threads, the
// executor's goroutines, the heap), then for d with the meter running,
// and returns what it measured; body returns the ops it completed before
// it saw stop set.
func timed(d time.Duration, body func(stop *atomic.Bool) int64) cellResult {
	runFor(min(d/10, 100*time.Millisecond), body)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var r cellResult
	m := startMeter()
	r.Ops = runFor(d, body)
	m.stop(&r)
	runtime.ReadMemStats(&after)
	r.Mallocs = after.Mallocs - before.Mallocs
	return r
}

// runFor runs body with a stop flag that is set after d.
func runFor(d time.Duration, body func(stop *atomic.Bool) int64) int64 {
	var stop atomic.Bool
	t := time.AfterFunc(d, func() { stop.Store(true) })
	defer t.Stop()
	return body(&stop)
}

// nothing is the trivial task of the ping-pongs.
func nothing(context.Context) (int, error) { return 0, nil }

// joinPingPong: on a 1-worker executor, a task spawns a trivial child and
// joins it, again and again: the worker goes to the child and comes back,
// two hand-offs per spawn and join (taskbench's PingPong/executor-Join).
func joinPingPong(e *executor.Executor, stop *atomic.Bool) int64 {
	n, _ := executor.Spawn(e.Context(), func(ctx context.Context) (int64, error) {
		var n int64
		for !stop.Load() {
			executor.Spawn(ctx, nothing).Join(ctx)
			n += 2
		}
		return n, nil
	}).Join(context.Background())
	return n
}

// yieldPingPong: two tasks on a 1-worker executor hand the worker to each
// other with Yield; a hand-off per Yield (taskbench's
// PingPong/executor-Yield). Both are queued before either plays, so that
// each Yield finds the other waiting.
func yieldPingPong(e *executor.Executor, stop *atomic.Bool) int64 {
	start := executor.NewCancellationToken()
	player := func(ctx context.Context) (int64, error) {
		executor.Sleep(start.Bind(ctx), time.Hour) // returns when start is cancelled
		var n int64
		for !stop.Load() {
			executor.Yield(ctx)
			n++
		}
		return n, nil
	}
	h1 := executor.Spawn(e.Context(), player)
	h2 := executor.Spawn(e.Context(), player)
	for e.Stats().Waiting < 2 {
		runtime.Gosched()
	}
	start.Cancel()
	n1, _ := h1.Join(context.Background())
	n2, _ := h2.Join(context.Background())
	return n1 + n2
}

// chanPingPong: two goroutines hand a token to each other over unbuffered
// channels, two hand-offs per round trip: the anchor of both ping-pongs
// (taskbench's PingPong/goroutines-chan).
func chanPingPong(stop *atomic.Bool) int64 {
	ping, pong := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
		close(done)
	}()
	var n int64
	for !stop.Load() {
		ping <- struct{}{}
		<-pong
		n += 2
	}
	close(ping)
	<-done
	return n
}

// spawnBatch is the tasks in flight at once in spawn+join, as in
// taskbench's SpawnJoin.
const spawnBatch = 1000

// work is a few hundred ns of computation, the same in both spawn+join
// contenders; sink keeps the compiler from dropping it.
func work() int {
	s := 0
	for i := range 100 {
		s += i * i
	}
	return s
}

var sink atomic.Int64

// spawnJoin: spawn a batch of tasks computing work on an executor with
// GOMAXPROCS workers, join each, again (taskbench's SpawnJoin/executor).
func spawnJoin(e *executor.Executor, stop *atomic.Bool) int64 {
	ctx := e.Context()
	hs := make([]*executor.JoinHandle[int], 0, spawnBatch)
	var n int64
	for !stop.Load() {
		hs = hs[:0]
		for range spawnBatch {
			hs = append(hs, executor.Spawn(ctx, func(context.Context) (int, error) { return work(), nil }))
		}
		for _, h := range hs {
			v, _ := h.Join(ctx)
			sink.Add(int64(v))
		}
		n += spawnBatch
	}
	return n
}

// goWaitGroup: the same with a goroutine per task and a sync.WaitGroup
// (taskbench's SpawnJoin/goroutines+WaitGroup).
func goWaitGroup(stop *atomic.Bool) int64 {
	var n int64
	var wg sync.WaitGroup
	for !stop.Load() {
		for range spawnBatch {
			wg.Add(1)
			go func() { defer wg.Done(); sink.Add(int64(work())) }()
		}
		wg.Wait()
		n += spawnBatch
	}
	return n
}

// sleepers measures two naps, each one op of taskbench's Sleepers:
// collect garbage, start spec.Sleepers sleepers with start, wait until all
// are asleep, note the memory in use, wait for them to wake.
//
// The first nap of the process gives the memory, the allocations and the
// CPU time of a cold start: its sleepers' goroutines are new to the
// process (the second nap reuses the goroutine structures and stacks of
// the first, which the runtime keeps, and would count them as in use
// before it started). The second gives the CPU time of a process that has
// had sleepers before, as a long-running one has: the row's figure; and
// its allocations, without those the runtime makes once per goroutine
// (the goroutine itself, what it parks on) and keeps for reuse.
//
// The memory is that of all the sleepers only if all sleep at once: if
// starting them took the nap or longer, the first may have woken, and
// their goroutines served later ones, before the last slept; the memory
// is then not reported (BytesWhy says why), as it would be too small.
func sleepers(spec cellSpec, start func(asleep *atomic.Int64, wg *sync.WaitGroup)) cellResult {
	var cold, r cellResult
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m := startMeter()
	inUse, startAll := nap(spec, start)
	m.stop(&cold)
	runtime.ReadMemStats(&after)

	var warmBefore, warmAfter runtime.MemStats
	runtime.ReadMemStats(&warmBefore)
	m = startMeter()
	nap(spec, start)
	m.stop(&r)
	runtime.ReadMemStats(&warmAfter)
	r.Ops = int64(spec.Sleepers)
	r.ColdCPU, r.StartAll = cold.CPU, startAll
	r.Threads = max(r.Threads, cold.Threads)
	r.Mallocs = after.Mallocs - before.Mallocs
	r.WarmMalloc = warmAfter.Mallocs - warmBefore.Mallocs
	if startAll < spec.Nap {
		r.InUseBytes = inUse
	} else {
		r.BytesWhy = fmt.Sprintf("starting the sleepers took %v, the nap is %v: the first woke before the last slept; use a longer -nap",
			startAll.Round(time.Millisecond), spec.Nap)
	}
	return r
}

// nap runs a nap of sleepers (see sleepers) and returns the memory in use
// once all were asleep, less before, and how long starting them all took.
func nap(spec cellSpec, start func(asleep *atomic.Int64, wg *sync.WaitGroup)) (inUse int64, startAll time.Duration) {
	runtime.GC()
	before := memInUse()
	var asleep atomic.Int64
	var wg sync.WaitGroup
	wg.Add(spec.Sleepers)
	t0 := time.Now()
	start(&asleep, &wg)
	for asleep.Load() < int64(spec.Sleepers) {
		time.Sleep(time.Millisecond)
	}
	startAll = time.Since(t0)
	inUse = int64(memInUse()) - int64(before)
	wg.Wait()
	return inUse, startAll
}

// memInUse is the memory the sleepers are measured by, as taskbench's
// Sleepers counts it: heap spans, goroutine stacks and span structures in
// use.
func memInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse + ms.MSpanInuse
}
