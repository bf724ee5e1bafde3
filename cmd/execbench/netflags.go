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
	// maxConns bounds -conns: each connection costs the cell process two
	// descriptors (client and server end) and the client a goroutine.
	maxConns   = 5000
	maxMsgSize = 1 << 20 // a message is one buffer per end of every connection
	maxWorkers = 1 << 16
)

// The echo benchmark's contenders (its servers), in the order cells run
// and rows print. The client is the same for all.
var allNetBackends = []string{"uring", "ring", "portable", "net"}

// netConfig is the parsed command line of the net subcommand.
type netConfig struct {
	conns    []int
	duration time.Duration
	size     int // bytes per message
	backends []string
	jsonPath string
	workers  int // the executor servers' Workers; 0 means GOMAXPROCS
	rounds   int // times each cell runs, interleaved with the others
}

// parseNetFlags parses and checks the net subcommand's args (after
// "net"). For -h it returns flag.ErrHelp after printing the usage to w.
func parseNetFlags(args []string, w io.Writer) (*netConfig, error) {
	fs := flag.NewFlagSet("execbench net", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "usage: execbench net [flags]\n\n"+
			"Ping-pong echo on 127.0.0.1: the executor's sockets (io_uring backend with\n"+
			"its default sockets and with ring sockets, portable backend) and net with a\n"+
			"goroutine per connection as servers, the same net client for all. See go\n"+
			"doc ./cmd/execbench.\n\n")
		fs.PrintDefaults()
	}
	conns := fs.String("conns", "1,64,1000", "concurrent connections per cell, comma-separated")
	duration := fs.Duration("duration", 2*time.Second, "how long each cell runs")
	size := fs.String("size", "1KiB", "`size` of a message (suffixes KiB, MiB)")
	backends := fs.String("backends", strings.Join(allNetBackends, ","), "servers, comma-separated, among uring, ring, portable and net")
	jsonPath := fs.String("json", "", "write the results as JSON to `file`")
	workers := fs.Int("workers", 0, "the executor servers' `Workers` (0: GOMAXPROCS)")
	rounds := fs.Int("rounds", 1, "run every cell `N` times, interleaved, and report the medians")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q: execbench net takes flags only", fs.Arg(0))}
	}

	c := &netConfig{duration: *duration, jsonPath: *jsonPath, workers: *workers, rounds: *rounds}
	var err error
	if err := checkRounds(c.rounds); err != nil {
		return nil, err
	}
	if c.workers < 0 || c.workers > maxWorkers {
		return nil, usageError{fmt.Errorf("-workers %d: want between 0 and %d", c.workers, maxWorkers)}
	}
	if c.conns, err = parseCounts(*conns, "connection count", maxConns); err != nil {
		return nil, usageError{fmt.Errorf("-conns: %w", err)}
	}
	if err := checkDuration(c.duration); err != nil {
		return nil, err
	}
	n, err := parseBytes(*size)
	if err != nil {
		return nil, usageError{fmt.Errorf("-size: %w", err)}
	}
	if n > maxMsgSize {
		return nil, usageError{fmt.Errorf("-size %s: want at most %s", *size, sizeString(maxMsgSize))}
	}
	c.size = int(n)
	if c.backends, err = parseList(*backends, allNetBackends, "server"); err != nil {
		return nil, usageError{fmt.Errorf("-backends: %w", err)}
	}
	return c, nil
}
