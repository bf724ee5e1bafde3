package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.size != 1<<30 || c.duration != time.Second || c.rounds != 3 || c.jsonPath != "" || c.svgPath != "" || c.dir == "" {
		t.Errorf("defaults: %+v", c)
	}
	if !slices.Equal(c.depths, []int{1, 32, 128}) {
		t.Errorf("depths = %v", c.depths)
	}
	if !slices.Equal(c.modes, allModes) || !slices.Equal(c.backends, allBackends) {
		t.Errorf("modes = %v, backends = %v", c.modes, c.backends)
	}
}

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	c, err := parseFlags([]string{"-size", "8MiB", "-duration", "100ms", "-depth", "4, 1",
		"-mode", "cached", "-backends", "os,uring", "-dir", dir, "-json", "a.json", "-svg", "b.svg", "-rounds", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.size != 8<<20 || c.duration != 100*time.Millisecond || c.dir != dir || c.jsonPath != "a.json" || c.svgPath != "b.svg" || c.rounds != 5 {
		t.Errorf("got %+v", c)
	}
	if !slices.Equal(c.depths, []int{4, 1}) {
		t.Errorf("depths = %v, want the order given", c.depths)
	}
	if !slices.Equal(c.modes, []string{"cached"}) {
		t.Errorf("modes = %v", c.modes)
	}
	if !slices.Equal(c.backends, []string{"uring", "os"}) {
		t.Errorf("backends = %v, want the canonical order", c.backends)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	file := t.TempDir() + "/f"
	if err := os.WriteFile(file, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-size", "0"}, "bad size"},
		{[]string{"-size", "-1GiB"}, "bad size"},
		{[]string{"-size", "1.5GiB"}, "bad size"},
		{[]string{"-size", "1GB2"}, "bad size"},
		{[]string{"-size", "12345678"}, "not a multiple of 4096"},
		{[]string{"-size", "64KiB"}, "below the minimum"},
		{[]string{"-size", "100000000TiB"}, "too large"},
		{[]string{"-duration", "1ms"}, "want between"},
		{[]string{"-duration", "-1s"}, "want between"},
		{[]string{"-duration", "fast"}, "invalid value"},
		{[]string{"-depth", ""}, "bad depth"},
		{[]string{"-depth", "0"}, "bad depth"},
		{[]string{"-depth", "1,x"}, "bad depth \"x\""},
		{[]string{"-depth", "5000"}, "bad depth"},
		{[]string{"-depth", "4,4"}, "given twice"},
		{[]string{"-mode", "fast"}, "unknown mode \"fast\""},
		{[]string{"-mode", ""}, "unknown mode"},
		{[]string{"-backends", "uring,spdk"}, "unknown contender \"spdk\""},
		{[]string{"-dir", ""}, "-dir is empty"},
		{[]string{"-dir", file}, "not a directory"},
		{[]string{"-dir", file + "/nope"}, "-dir"},
		{[]string{"-rounds", "0"}, "want between 1 and 20"},
		{[]string{"-rounds", "21"}, "want between 1 and 20"},
		{[]string{"-rounds", "x"}, "invalid value"},
		{[]string{"-nope"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if !errors.As(err, new(usageError)) {
			t.Errorf("parseFlags(%q): %T is not a usageError", tt.args, err)
		}
	}
	var b strings.Builder
	if _, err := parseFlags([]string{"-h"}, &b); !errors.Is(err, flag.ErrHelp) || !strings.Contains(b.String(), "-backends") {
		t.Errorf("-h: %v, usage %q", err, b.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB":    1 << 30,
		"1G":      1 << 30,
		"1gb":     1 << 30,
		"256MiB":  256 << 20,
		"1024KiB": 1 << 20,
		"1048576": 1 << 20,
		" 2 TiB ": 2 << 40,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, n := range []int64{1 << 20, 8 << 20, 1 << 30, 1 << 20 * 3, 4096 * 1000} {
		if got, err := parseSize(sizeString(n)); err != nil && n >= minSize || err == nil && got != n {
			t.Errorf("parseSize(sizeString(%d) = %q) = %d, %v", n, sizeString(n), got, err)
		}
	}
}

func TestParseModes(t *testing.T) {
	for in, want := range map[string][]string{
		"both":          {"direct", "cached"},
		"all":           {"direct", "cached"},
		"cached,direct": {"direct", "cached"},
		"direct":        {"direct"},
	} {
		if got, err := parseModes(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseModes(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
