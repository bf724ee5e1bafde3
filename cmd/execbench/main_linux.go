package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/executor-go/executor"
)

func main() {
	if spec := os.Getenv(childEnv); spec != "" {
		childMain(spec)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, give the default handling back, so that a
	// second Ctrl-C kills at once if cleaning up takes too long.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(os.Stderr, "execbench: %v\n", err)
		os.Exit(130) // as a shell reports a program killed by SIGINT
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "execbench: %v (see -h)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "execbench: %v\n", err)
		os.Exit(1)
	}
}

// run is the whole program but for the process: it parses args, measures,
// prints progress to stderr and the table to stdout, and writes the files
// asked for. The test file is gone when it returns. The task rows follow
// the file table (unless -tasks none). Args starting with "net" run the
// echo benchmark instead (runNet), "tasks" the task rows alone (runTasks).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errInterrupted
		}
	}()
	if len(args) > 0 {
		switch args[0] {
		case "net":
			return runNet(ctx, args[1:], stdout, stderr)
		case "tasks":
			return runTasks(ctx, args[1:], stdout, stderr)
		}
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	m := machine{
		host:           thisHost(),
		Dir:            c.dir,
		FileSystem:     fsName(c.dir),
		FileSize:       c.size,
		CellDuration:   c.duration.String(),
		Rounds:         c.rounds,
		BackendReasons: make(map[string]string),
	}
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		m.Notes = append(m.Notes, s)
		fmt.Fprintln(stderr, s)
	}

	// Contenders that cannot run at all are found out before the long part.
	unavailable := make(map[string]string) // contender: why
	for _, b := range c.backends {
		if b != "uring" && b != "portable" && b != "pool" {
			continue
		}
		name, reason := probeBackend(executorBackend(b))
		m.BackendReasons[b] = reason
		if name == "" {
			unavailable[b] = "io_uring refused: " + reason
			note("executor(%s): unavailable: %s", b, reason)
		}
	}
	var fio string
	if slices.Contains(c.backends, "fio") || slices.Contains(c.backends, "fio-fixed") {
		if fio, err = exec.LookPath("fio"); err != nil {
			fio = ""
			unavailable["fio"] = "fio not installed"
			unavailable["fio-fixed"] = "fio not installed"
			m.Fio = "not installed"
			note("%s", fioMissing)
		} else {
			m.Fio = fioVersion(fio)
		}
	}
	if m.FileSystem == "tmpfs" {
		// Kernels before 6.6 refuse O_DIRECT on tmpfs; later ones accept
		// it, but the file is in memory either way.
		note("%s is tmpfs: the file lives in memory, so O_DIRECT reads are memory copies (or refused, before Linux 6.6), not device reads; use -dir on a disk-backed file system", c.dir)
	}

	total := len(c.modes) * len(c.depths) * len(c.backends) * c.rounds
	fmt.Fprintf(stderr, "execbench: %d cells of %v (%d rounds), %s file in %s (%s), GOMAXPROCS %d\n",
		total, c.duration, c.rounds, sizeString(c.size), c.dir, m.FileSystem, m.GOMAXPROCS)
	fmt.Fprintf(stderr, "writing the %s test file…\n", sizeString(c.size))
	start := time.Now()
	name, err := createFile(ctx, c.dir, c.size)
	if err != nil {
		return fmt.Errorf("creating the test file: %w", err)
	}
	defer os.Remove(name)
	el := time.Since(start)
	fmt.Fprintf(stderr, "wrote %s in %.1fs (%.0f MiB/s) and synced it\n", name, el.Seconds(), float64(c.size)/(1<<20)/el.Seconds())

	modeUnavailable := make(map[string]string) // mode: why
	for _, mode := range c.modes {
		switch mode {
		case "direct":
			why, err := checkDirect(name)
			if err != nil {
				return fmt.Errorf("reading the test file with O_DIRECT: %w", err)
			}
			if why != "" {
				modeUnavailable[mode] = why
				note("O_DIRECT: unavailable in %s: %s", c.dir, why)
			}
		case "cached":
			if err := ensureCached(ctx, name, true, stderr, note); err != nil {
				return err
			}
		}
	}

	// groups are the (mode, depth) pairs in table order; rounds[g][j] are
	// the rounds of group g and contender j. A round runs every cell once.
	type group struct {
		mode  string
		depth int
	}
	var groups []group
	for _, mode := range c.modes {
		for _, depth := range c.depths {
			groups = append(groups, group{mode, depth})
		}
	}
	rounds := make([][][]cell, len(groups))
	for g := range rounds {
		rounds[g] = make([][]cell, len(c.backends))
	}
	n := 0
	for round := range c.rounds {
		for g, grp := range groups {
			direct := grp.mode == "direct"
			for j, b := range c.backends {
				n++
				if !direct && unavailable[b] == "" {
					// Before every page-cache cell, in case something
					// (another program, memory pressure) evicted pages.
					if err := ensureCached(ctx, name, false, stderr, note); err != nil {
						return err
					}
				}
				var (
					r   cellResult
					err error
				)
				switch {
				case unavailable[b] != "":
					r.Unavailable = unavailable[b]
				case modeUnavailable[grp.mode] != "":
					r.Unavailable = modeUnavailable[grp.mode]
				case b == "fio" || b == "fio-fixed":
					r, err = runFio(ctx, fio, name, direct, grp.depth, c.duration, b == "fio-fixed")
				default:
					r, err = runCell(ctx, cellSpec{Contender: b, Path: name, Size: c.size, Direct: direct, Depth: grp.depth, Duration: c.duration})
				}
				if err != nil {
					if ctx.Err() != nil {
						return err // errInterrupted, by the deferred function
					}
					// One broken cell should not cost the rest of the run.
					r = cellResult{Unavailable: "failed: " + err.Error()}
				}
				cl := newCell(grp.mode, grp.depth, b, r)
				rounds[g][j] = append(rounds[g][j], cl)
				fmt.Fprintf(stderr, "[%*d/%d] %-18s %-10s depth %4d%s … %s\n", len(strconv.Itoa(total)), n, total,
					cl.Name, modeNames[grp.mode], grp.depth, roundLabel(round, c.rounds), progressResult(cl))
			}
		}
	}
	var cells []cell
	for g := range rounds {
		cells = append(cells, medianFileCells(rounds[g])...)
	}
	var tasks []taskCell
	if len(c.tasks.workloads) > 0 {
		m.Sleepers, m.Nap = c.tasks.sleepers, c.tasks.nap.String()
		if tasks, err = measureTaskRounds(ctx, c.tasks, stderr); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "done in %.0fs\n\n", time.Since(start).Seconds())

	if err := writeTable(stdout, cells); err != nil {
		return err
	}
	if len(tasks) > 0 {
		if _, err := io.WriteString(stdout, "\n"); err != nil {
			return err
		}
		if err := writeTaskTables(stdout, tasks); err != nil {
			return err
		}
	}
	if c.jsonPath != "" {
		if err := writeFile(c.jsonPath, func(w io.Writer) error { return writeJSON(w, m, cells, tasks) }); err != nil {
			return err
		}
	}
	if c.svgPath != "" {
		if err := writeFile(c.svgPath, func(w io.Writer) error { return writeSVG(w, m, cells) }); err != nil {
			return err
		}
	}
	return nil
}

// ensureCached makes sure the whole file is in the page cache: it reads it
// through if always is set or if some of it is not there, and says so on
// stderr when it did.
func ensureCached(ctx context.Context, name string, always bool, stderr io.Writer, note func(string, ...any)) error {
	if !always {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		frac, err := residency(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("checking the page cache: %w", err)
		}
		if frac >= minResident {
			return nil
		}
	}
	t := time.Now()
	frac, err := warmCache(ctx, name)
	if err != nil {
		return fmt.Errorf("reading the test file into the page cache: %w", err)
	}
	fmt.Fprintf(stderr, "read the file through in %.1fs: %.1f%% of it is in the page cache\n", time.Since(t).Seconds(), 100*frac)
	if frac < minResident {
		note("only %.1f%% of the file is in the page cache (too little free memory?): some page-cache reads go to the disk", 100*frac)
	}
	return nil
}

// minResident is the fraction of the file that must be in the page cache
// for a page-cache cell; below it, the file is read through again.
const minResident = 0.99

// thisHost describes this machine and run.
func thisHost() host {
	return host{
		Time:       time.Now().UTC().Format(time.RFC3339),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		Kernel:     kernelRelease(),
		GoVersion:  runtime.Version(),
	}
}

// executorBackend is the executor backend of an executor contender.
func executorBackend(contender string) string {
	if contender == "pool" {
		return "uring"
	}
	return contender
}

// probeBackend opens an executor's I/O driver on backend b and returns the
// backend's name ("" if it could not be opened) and why.
func probeBackend(b string) (name, reason string) {
	e, err := executor.New(executor.Options{Backend: b})
	if err != nil {
		return "", err.Error()
	}
	defer e.Shutdown(context.Background())
	return e.Backend(), e.BackendReason()
}

// errInterrupted is run's error when it was stopped by a signal (its
// context was cancelled): clearer than "context canceled".
var errInterrupted = errors.New("interrupted")

// roundLabel names round (from 0) of rounds in a progress line, or is
// empty if there is only one.
func roundLabel(round, rounds int) string {
	if rounds < 2 {
		return ""
	}
	return fmt.Sprintf(" round %d", round+1)
}

// progressResult is the end of a progress line.
func progressResult(c cell) string {
	if c.Unavailable != "" {
		return "unavailable: " + c.Unavailable
	}
	return group(int64(c.OpsPerSec+0.5)) + " ops/s"
}

// writeFile creates name and writes it with write.
func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return f.Close()
}
