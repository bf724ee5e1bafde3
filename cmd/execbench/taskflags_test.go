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

func TestParseTaskFlagsDefaults(t *testing.T) {
	c, err := parseTaskFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.workloads, allWorkloads) || c.duration != time.Second || c.rounds != 3 ||
		c.sleepers != 100_000 || c.nap != 2*time.Second || c.jsonPath != "" {
		t.Errorf("defaults: %+v", c)
	}
	// The default run measures the same task rows, with its own duration
	// and rounds.
	f, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.tasks == nil || !slices.Equal(f.tasks.workloads, allWorkloads) || f.tasks.rounds != f.rounds ||
		f.tasks.duration != f.duration || f.tasks.sleepers != 100_000 || f.tasks.jsonPath != "" {
		t.Errorf("default run's tasks: %+v", f.tasks)
	}
}

func TestParseTaskFlags(t *testing.T) {
	c, err := parseTaskFlags([]string{"-tasks", "sleep, pingpong", "-duration", "50ms", "-rounds", "5",
		"-sleepers", "1000", "-nap", "10ms", "-json", "t.json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.workloads, []string{"pingpong", "sleep"}) {
		t.Errorf("workloads = %v, want the canonical order", c.workloads)
	}
	if c.duration != 50*time.Millisecond || c.rounds != 5 || c.sleepers != 1000 || c.nap != 10*time.Millisecond || c.jsonPath != "t.json" {
		t.Errorf("got %+v", c)
	}
	f, err := parseFlags([]string{"-tasks", "none", "-rounds", "2", "-duration", "20ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.tasks.workloads) != 0 {
		t.Errorf("-tasks none: workloads %v", f.tasks.workloads)
	}
	f, err = parseFlags([]string{"-tasks", "spawn", "-rounds", "2", "-duration", "20ms", "-sleepers", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.tasks.workloads, []string{"spawn"}) || f.tasks.rounds != 2 || f.tasks.duration != 20*time.Millisecond || f.tasks.sleepers != 7 {
		t.Errorf("default run's tasks: %+v", f.tasks)
	}
}

func TestParseTaskFlagsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-tasks", "none"}, "nothing to measure"},
		{[]string{"-tasks", "pingpong,fib"}, `unknown workload "fib"`},
		{[]string{"-tasks", ""}, "unknown workload"},
		{[]string{"-sleepers", "0"}, "want between 1 and"},
		{[]string{"-sleepers", "2000000"}, "want between 1 and"},
		{[]string{"-nap", "0s"}, "want between 1ms and"},
		{[]string{"-nap", "2m"}, "want between 1ms and"},
		{[]string{"-duration", "1ms"}, "want between"},
		{[]string{"-rounds", "0"}, "want between 1 and 20"},
		{[]string{"-size", "1MiB"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseTaskFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseTaskFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if !errors.As(err, new(usageError)) {
			t.Errorf("parseTaskFlags(%q): %T is not a usageError", tt.args, err)
		}
	}
	// The default run checks the task flags too.
	for _, args := range [][]string{{"-tasks", "fib"}, {"-sleepers", "-1"}, {"-nap", "1h"}} {
		if _, err := parseFlags(args, io.Discard); err == nil || !errors.As(err, new(usageError)) {
			t.Errorf("parseFlags(%q) = %v, want a usage error", args, err)
		}
	}
	var b strings.Builder
	if _, err := parseTaskFlags([]string{"-h"}, &b); !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "-sleepers") {
		t.Errorf("-h: %v, usage %q", err, b.String())
	}
	if _, err := parseFlags([]string{"-duration", "1s", "tasks"}, io.Discard); err == nil || !strings.Contains(err.Error(), "tasks subcommand comes first") {
		t.Errorf("execbench -duration 1s tasks: %v", err)
	}
}
