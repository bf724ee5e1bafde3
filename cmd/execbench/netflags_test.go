package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseNetFlagsDefaults(t *testing.T) {
	c, err := parseNetFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != 2*time.Second || c.size != 1024 || c.jsonPath != "" {
		t.Errorf("defaults: %+v", c)
	}
	if !slices.Equal(c.conns, []int{1, 64, 1000}) || !slices.Equal(c.backends, allNetBackends) {
		t.Errorf("conns = %v, backends = %v", c.conns, c.backends)
	}
}

func TestParseNetFlags(t *testing.T) {
	c, err := parseNetFlags([]string{"-conns", "4, 1", "-duration", "100ms", "-size", "64KiB",
		"-backends", "net,uring", "-json", "n.json", "-workers", "64", "-rounds", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != 100*time.Millisecond || c.size != 64<<10 || c.jsonPath != "n.json" || c.workers != 64 || c.rounds != 3 {
		t.Errorf("got %+v", c)
	}
	if !slices.Equal(c.conns, []int{4, 1}) {
		t.Errorf("conns = %v, want the order given", c.conns)
	}
	if !slices.Equal(c.backends, []string{"uring", "net"}) {
		t.Errorf("backends = %v, want the canonical order", c.backends)
	}
	if c, err := parseNetFlags([]string{"-size", "1"}, io.Discard); err != nil || c.size != 1 {
		t.Errorf("-size 1: %+v, %v", c, err)
	}
}

func TestParseNetFlagsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-conns", ""}, "bad connection count"},
		{[]string{"-conns", "0"}, "bad connection count"},
		{[]string{"-conns", "1,x"}, `bad connection count "x"`},
		{[]string{"-conns", "5001"}, "from 1 to 5000"},
		{[]string{"-conns", "64,64"}, "given twice"},
		{[]string{"-duration", "1ms"}, "want between"},
		{[]string{"-duration", "2h"}, "want between"},
		{[]string{"-duration", "fast"}, "invalid value"},
		{[]string{"-size", "0"}, "bad size"},
		{[]string{"-size", "-1KiB"}, "bad size"},
		{[]string{"-size", "1.5KiB"}, "bad size"},
		{[]string{"-size", "2MiB"}, "at most 1MiB"},
		{[]string{"-backends", "net,gnet"}, `unknown server "gnet"`},
		{[]string{"-backends", ""}, "unknown server"},
		{[]string{"-depth", "1"}, "not defined"},
		{[]string{"-workers", "-1"}, "want between 0 and"},
		{[]string{"-workers", "70000"}, "want between 0 and"},
		{[]string{"-rounds", "0"}, "want between 1 and"},
		{[]string{"-rounds", "21"}, "want between 1 and"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseNetFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseNetFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if !errors.As(err, new(usageError)) {
			t.Errorf("parseNetFlags(%q): %T is not a usageError", tt.args, err)
		}
	}
	var b strings.Builder
	if _, err := parseNetFlags([]string{"-h"}, &b); !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "-conns") {
		t.Errorf("-h: %v, usage %q", err, b.String())
	}
	// The subcommand after the file benchmark's flags is a mistake worth
	// a hint.
	if _, err := parseFlags([]string{"-duration", "1s", "net"}, io.Discard); err == nil || !strings.Contains(err.Error(), "comes first") {
		t.Errorf("execbench -duration 1s net: %v", err)
	}
}

func TestNetTable(t *testing.T) {
	r := func(ops int64, cpu time.Duration, sys uint64) cellResult {
		return cellResult{Ops: ops, Elapsed: time.Second, CPU: cpu, HaveCPU: true, Threads: 5,
			P50: 20 * time.Microsecond, P99: 90 * time.Microsecond, Syscalls: sys, HaveSyscalls: sys > 0, SyscallsWhy: "no perf"}
	}
	one := func(c netCell) []netCell { return []netCell{c} } // a single round
	cells := append(medianCells([][]netCell{
		one(newNetCell(1, "uring", r(20000, 400*time.Millisecond, 160000))),
		one(newNetCell(1, "portable", cellResult{Unavailable: "io_uring refused: nope"})),
		one(newNetCell(1, "net", r(40000, 800*time.Millisecond, 0))),
	}), medianCells([][]netCell{
		one(newNetCell(64, "uring", r(10000, 500*time.Millisecond, 70000))),
		one(newNetCell(64, "net", cellResult{Elapsed: time.Second})),
	})...)
	if cells[0].RoundsReqPerSec != nil {
		t.Errorf("one round lists its rounds: %+v", cells[0])
	}
	u := cells[0]
	if u.ReqPerSec != 20000 || !near(u.VsNet, 0.5) || !near(u.CPUPerReq, 20) || !near(u.SyscallsPerReq, 8) ||
		!near(u.P50, 20) || !near(u.P99, 90) || u.Threads == nil || *u.Threads != 5 {
		t.Errorf("uring cell: %+v", u)
	}
	if n := cells[2]; n.SyscallsPerReq != nil || n.SyscallsWhy != "no perf" || !near(n.VsNet, 1) {
		t.Errorf("net cell: %+v", n)
	}
	if cells[3].VsNet != nil || cells[4].Unavailable != "no round trip completed" {
		t.Errorf("64-connection cells: %+v %+v", cells[3], cells[4])
	}
	var b strings.Builder
	if err := writeNetTable(&b, cells); err != nil {
		t.Fatal(err)
	}
	want := `conns  server                   req/s ×net               p50 µs   p99 µs  CPU µs/req  syscalls/req  threads
    1  executor(uring)         20,000 0.50                 20.0     90.0        20.0          8.00        5
    1  executor(portable)           -  io_uring refused: nope
    1  net+goroutines          40,000 1.00                 20.0     90.0        20.0             -        5

   64  executor(uring)         10,000 -                    20.0     90.0        50.0          7.00        5
   64  net+goroutines               -  no round trip completed
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestMedianCells: with rounds, a cell's ratio is the median of its
// rounds' ratios to net in the same round, and its other figures are its
// median round's.
func TestMedianCells(t *testing.T) {
	r := func(ops int64, p99 time.Duration) cellResult {
		return cellResult{Ops: ops, Elapsed: time.Second, P50: time.Microsecond, P99: p99}
	}
	cells := medianCells([][]netCell{
		{ // uring: 100, 300, unavailable, 200
			newNetCell(64, "uring", r(100, 1*time.Millisecond)),
			newNetCell(64, "uring", r(300, 3*time.Millisecond)),
			newNetCell(64, "uring", cellResult{Unavailable: "failed: boom"}),
			newNetCell(64, "uring", r(200, 2*time.Millisecond)),
		},
		{ // net: 100, 100, 100, 400
			newNetCell(64, "net", r(100, time.Millisecond)),
			newNetCell(64, "net", r(100, time.Millisecond)),
			newNetCell(64, "net", r(100, time.Millisecond)),
			newNetCell(64, "net", r(400, time.Millisecond)),
		},
		{newNetCell(64, "portable", cellResult{Unavailable: "io_uring refused"}), newNetCell(64, "portable", cellResult{Unavailable: "io_uring refused"})},
	})
	u := cells[0]
	// Ratios 1, 3 and 0.5: median 1. Median round by req/s: 200 (p99 2 ms).
	if !near(u.VsNet, 1) || u.ReqPerSec != 200 || !near(u.P99, 2000) ||
		!slices.Equal(u.RoundsReqPerSec, []float64{100, 300, 200}) || !slices.Equal(u.RoundsVsNet, []float64{1, 3, 0.5}) {
		t.Errorf("uring cell: %+v", u)
	}
	if n := cells[1]; !near(n.VsNet, 1) || n.ReqPerSec != 100 {
		t.Errorf("net cell: %+v", n)
	}
	if p := cells[2]; p.Unavailable != "io_uring refused" {
		t.Errorf("portable cell: %+v", p)
	}
}
