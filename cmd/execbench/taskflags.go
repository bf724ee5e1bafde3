package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	maxSleepers = 1_000_000 // a sleeper costs a goroutine and its stack
	maxNap      = time.Minute
)

// The task workloads, in the order cells run and rows print.
var allWorkloads = []string{"pingpong", "spawn", "sleep"}

// taskConfig is what the task rows measure: the tasks subcommand's command
// line, or the task flags of the default run.
type taskConfig struct {
	workloads []string // a subsequence of allWorkloads
	duration  time.Duration
	rounds    int
	sleepers  int           // tasks asleep at once in the sleep workload
	nap       time.Duration // how long each sleeps
	jsonPath  string
}

// taskFlags are the flags of the task rows that the default run shares
// with the tasks subcommand (which adds -duration, -rounds and -json of
// its own; the default run's apply to its task rows too).
type taskFlags struct {
	workloads *string
	sleepers  *int
	nap       *time.Duration
}

// addTaskFlags defines the task flags on fs; none, if set, is what
// -tasks takes to measure no task workload.
func addTaskFlags(fs *flag.FlagSet, none bool) *taskFlags {
	usage := "task workloads, comma-separated, among pingpong, spawn and sleep"
	if none {
		usage += " (none: file reads only)"
	}
	return &taskFlags{
		workloads: fs.String("tasks", "all", usage),
		sleepers:  fs.Int("sleepers", 100_000, "tasks asleep at once in the sleep workload"),
		// Long enough that all 100,000 have started before the first
		// wakes (starting them took 0.7-1.3 s on a loaded 2-vCPU VM),
		// or the memory per sleeper cannot be measured.
		nap: fs.Duration("nap", 2*time.Second, "how long each sleeper sleeps"),
	}
}

// config checks the task flags and returns the configuration they make
// with the other settings given. Its workloads are empty for -tasks none.
func (f *taskFlags) config(duration time.Duration, rounds int, jsonPath string) (*taskConfig, error) {
	c := &taskConfig{duration: duration, rounds: rounds, sleepers: *f.sleepers, nap: *f.nap, jsonPath: jsonPath}
	if strings.TrimSpace(*f.workloads) != "none" {
		var err error
		if c.workloads, err = parseList(*f.workloads, allWorkloads, "workload"); err != nil {
			return nil, usageError{fmt.Errorf("-tasks: %w", err)}
		}
	}
	if c.sleepers < 1 || c.sleepers > maxSleepers {
		return nil, usageError{fmt.Errorf("-sleepers %d: want between 1 and %d", c.sleepers, maxSleepers)}
	}
	if c.nap < time.Millisecond || c.nap > maxNap {
		return nil, usageError{fmt.Errorf("-nap %v: want between 1ms and %v", c.nap, maxNap)}
	}
	return c, nil
}

// parseTaskFlags parses and checks the tasks subcommand's args (after
// "tasks"). For -h it returns flag.ErrHelp after printing the usage to w.
func parseTaskFlags(args []string, w io.Writer) (*taskConfig, error) {
	fs := flag.NewFlagSet("execbench tasks", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: execbench tasks [flags]\n\n"+
			"Task hand-offs, spawn+join and 100,000 sleepers on the executor, against\n"+
			"goroutines with channels, sync.WaitGroup and time.Sleep. See go doc\n"+
			"./cmd/execbench.\n\n")
		fs.PrintDefaults()
	}
	tf := addTaskFlags(fs, false)
	duration := fs.Duration("duration", time.Second, "how long each cell runs (a sleep cell: one nap)")
	rounds := fs.Int("rounds", 3, "run every cell `N` times, interleaved, and report the medians")
	jsonPath := fs.String("json", "", "write the results as JSON to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q: execbench tasks takes flags only", fs.Arg(0))}
	}
	if err := checkDuration(*duration); err != nil {
		return nil, err
	}
	if err := checkRounds(*rounds); err != nil {
		return nil, err
	}
	c, err := tf.config(*duration, *rounds, *jsonPath)
	if err != nil {
		return nil, err
	}
	if len(c.workloads) == 0 {
		return nil, usageError{errors.New("-tasks none: nothing to measure")}
	}
	return c, nil
}
