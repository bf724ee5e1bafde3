package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	blockSize = 4096 // every read is one aligned 4 KiB block

	minSize     = 1 << 20 // below this, random reads hit the same few blocks
	minDuration = 10 * time.Millisecond
	maxDuration = time.Hour
	maxDepth    = 1024
)

// The modes and contenders, in the order cells run and rows print.
var (
	allModes    = []string{"direct", "cached"}
	allBackends = []string{"uring", "pool", "portable", "os", "fio", "fio-fixed"}
)

// config is the parsed command line.
type config struct {
	size     int64
	duration time.Duration
	depths   []int
	modes    []string // a subsequence of allModes
	backends []string // a subsequence of allBackends
	dir      string
	jsonPath string
	svgPath  string
	rounds   int // times each cell runs, interleaved with the others
	// tasks are the task rows printed after the file table (none if its
	// workloads are empty), with the same duration and rounds.
	tasks *taskConfig
}

// usageError is a mistake on the command line: main prints it with the
// usage and exits with status 2, as the flag package does.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parseFlags parses and checks args (without the program name). For -h it
// returns flag.ErrHelp after printing the usage to w.
func parseFlags(args []string, w io.Writer) (*config, error) {
	fs := flag.NewFlagSet("execbench", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: execbench [flags]\n       execbench net [flags]\n       execbench tasks [flags]\n\n"+
			"Compares 4 KiB random reads through the executor (io_uring and portable\n"+
			"backends), os.File and fio on a temporary file, then the task workloads\n"+
			"(execbench tasks -h); with net, a TCP echo on loopback (execbench net -h).\n"+
			"See go doc ./cmd/execbench.\n\n")
		fs.PrintDefaults()
	}
	size := fs.String("size", "1GiB", "`size` of the test file: a multiple of 4KiB, at least 1MiB (suffixes KiB, MiB, GiB, TiB)")
	duration := fs.Duration("duration", time.Second, "how long each cell runs")
	depth := fs.String("depth", "1,32,128", "concurrent readers per cell, comma-separated")
	mode := fs.String("mode", "both", "direct (O_DIRECT), cached (page cache) or both")
	backends := fs.String("backends", strings.Join(allBackends, ","), "contenders, comma-separated, among uring, pool (uring reading into a registered BufferPool), portable, os, fio and fio-fixed (fio --fixedbufs)")
	dir := fs.String("dir", os.TempDir(), "`directory` for the test file; its file system must support O_DIRECT for the direct mode")
	jsonPath := fs.String("json", "", "write the results as JSON to `file`")
	svgPath := fs.String("svg", "", "write a bar chart of the results as SVG to `file`")
	rounds := fs.Int("rounds", 3, "run every cell `N` times, interleaved, and report the medians")
	tf := addTaskFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		if a := fs.Arg(0); a == "net" || a == "tasks" {
			return nil, usageError{fmt.Errorf("the %s subcommand comes first: execbench %s [flags]", a, a)}
		}
		return nil, usageError{fmt.Errorf("unexpected argument %q: execbench takes flags only", fs.Arg(0))}
	}

	c := &config{duration: *duration, dir: *dir, jsonPath: *jsonPath, svgPath: *svgPath, rounds: *rounds}
	var err error
	if err := checkRounds(c.rounds); err != nil {
		return nil, err
	}
	if c.size, err = parseSize(*size); err != nil {
		return nil, usageError{fmt.Errorf("-size: %w", err)}
	}
	if err := checkDuration(c.duration); err != nil {
		return nil, err
	}
	if c.depths, err = parseDepths(*depth); err != nil {
		return nil, usageError{fmt.Errorf("-depth: %w", err)}
	}
	if c.modes, err = parseModes(*mode); err != nil {
		return nil, usageError{fmt.Errorf("-mode: %w", err)}
	}
	if c.backends, err = parseList(*backends, allBackends, "contender"); err != nil {
		return nil, usageError{fmt.Errorf("-backends: %w", err)}
	}
	if c.tasks, err = tf.config(c.duration, c.rounds, ""); err != nil {
		return nil, err
	}
	if c.dir == "" {
		return nil, usageError{errors.New("-dir is empty")}
	}
	if st, err := os.Stat(c.dir); err != nil {
		return nil, usageError{fmt.Errorf("-dir: %w", err)}
	} else if !st.IsDir() {
		return nil, usageError{fmt.Errorf("-dir %s: not a directory", c.dir)}
	}
	return c, nil
}

// checkDuration checks the value of -duration.
func checkDuration(d time.Duration) error {
	if d < minDuration || d > maxDuration {
		return usageError{fmt.Errorf("-duration %v: want between %v and %v", d, minDuration, maxDuration)}
	}
	return nil
}

// parseSize parses a byte count with an optional binary suffix: 4096,
// 512KiB, 256MiB, 1GiB, 1G. The suffixes K, M, G and T, with or without
// "iB" or "B", all mean powers of 1024, as file sizes usually do.
func parseSize(s string) (int64, error) {
	n, err := parseBytes(s)
	if err != nil {
		return 0, err
	}
	if n%blockSize != 0 {
		return 0, fmt.Errorf("size %s (%d bytes) is not a multiple of %d", s, n, blockSize)
	}
	if n < minSize {
		return 0, fmt.Errorf("size %s is below the minimum, 1MiB", s)
	}
	return n, nil
}

// parseBytes parses a positive byte count with an optional binary suffix,
// as parseSize does, without the test file's constraints.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
	sh, ok := shift[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number of bytes with an optional suffix KiB, MiB, GiB or TiB", s)
	}
	if n > (1<<62)>>sh {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << sh, nil
}

// parseDepths parses a comma-separated list of reader counts.
func parseDepths(s string) ([]int, error) { return parseCounts(s, "depth", maxDepth) }

// parseCounts parses a comma-separated list of distinct whole numbers from
// 1 to limit, in the order given; what names them in errors.
func parseCounts(s, what string, limit int) ([]int, error) {
	var ds []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		d, err := strconv.Atoi(f)
		if err != nil || d < 1 || d > limit {
			return nil, fmt.Errorf("bad %s %q: want a whole number from 1 to %d", what, f, limit)
		}
		if slices.Contains(ds, d) {
			return nil, fmt.Errorf("%s %d given twice", what, d)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// parseModes parses -mode: "both" or a list of modes.
func parseModes(s string) ([]string, error) {
	if strings.TrimSpace(s) == "both" {
		return allModes, nil
	}
	return parseList(s, allModes, "mode")
}

// parseList parses a comma-separated subset of all, "all" meaning every
// one, and returns it in all's order: the order of the table's rows does
// not depend on how the flag was spelled.
func parseList(s string, all []string, what string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return all, nil
	}
	seen := make(map[string]bool)
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(all, f) {
			return nil, fmt.Errorf("unknown %s %q: want one or more of %s", what, f, strings.Join(all, ","))
		}
		seen[f] = true
	}
	var out []string
	for _, a := range all {
		if seen[a] {
			out = append(out, a)
		}
	}
	return out, nil
}
