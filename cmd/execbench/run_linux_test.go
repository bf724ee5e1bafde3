package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runArgs are a small, quick run: an 8 MiB file, 2 rounds of 50 ms cells,
// no task rows.
func runArgs(dir, mode string) []string {
	return []string{"-size", "8MiB", "-duration", "50ms", "-rounds", "2", "-depth", "1,4", "-mode", mode,
		"-backends", "uring,portable,os", "-dir", dir, "-tasks", "none"}
}

// ranges matches the range of rounds beside a ratio in a table.
var ranges = regexp.MustCompile(` \([0-9.]+–[0-9.]+\)`)

// checkRun runs the program with args plus -json and -svg, and checks that
// it printed one row per cell with figures, and removed its file from dir;
// and the task rows if tasks, none if not.
func checkRun(t *testing.T, dir string, args []string, modeName string, tasks bool) {
	t.Helper()
	out := t.TempDir()
	jsonPath, svgPath := filepath.Join(out, "r.json"), filepath.Join(out, "r.svg")
	args = append(args, "-json", jsonPath, "-svg", svgPath)
	var stdout, stderr strings.Builder
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())

	if left, _ := filepath.Glob(filepath.Join(dir, "execbench-*")); len(left) > 0 {
		t.Errorf("test file left behind: %v", left)
	}
	if n := strings.Count(stderr.String(), "/12] "); n != 12 {
		t.Errorf("%d progress lines, want one per cell and round, 12", n)
	}
	var rows int
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(line, modeName) {
			continue
		}
		rows++
		if strings.Contains(line, "executor(uring)") && strings.Contains(line, "io_uring refused") {
			t.Logf("io_uring unavailable here: %s", line) // a kernel or sandbox may refuse it
			continue
		}
		f := strings.Fields(ranges.ReplaceAllString(strings.TrimPrefix(line, modeName), ""))
		// depth, contender, ops/s, ×os.File, ×fio, CPU µs/op, ring µs/op, enters/op, rw sc/op, threads
		ring := strings.Contains(line, "executor(uring)")
		if len(f) != 10 || f[2] == "-" || f[2] == "0" || f[3] == "-" || f[4] != "-" || (f[6] == "-") == ring || f[8] == "-" || f[9] == "-" {
			t.Errorf("row %q: want figures in every column but ×fio, and ring µs/op for uring only", line)
			continue
		}
		// os.File makes one pread64 per read, and the process a few reads
		// more (of /proc, for one).
		if rw, err := strconv.ParseFloat(f[8], 64); f[1] == "os.File" && (f[3] != "1.00" || f[7] != "0.000" || err != nil || rw < 1) {
			t.Errorf("os.File row %q: want ratio 1.00, no io_uring_enter calls and at least one read system call per read", line)
		}
	}
	if rows != 6 {
		t.Errorf("%d rows, want 6 (2 depths × 3 contenders)", rows)
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if tasks {
		checkTaskTables(t, stdout.String(), "sleep")
		if len(rep.Tasks) != 2 || rep.Machine.Sleepers != 1000 {
			t.Errorf("JSON report's tasks: %+v", rep.Tasks)
		}
	} else if strings.Contains(stdout.String(), "ns/op") || len(rep.Tasks) != 0 {
		t.Errorf("task rows with -tasks none:\n%s", stdout.String())
	}
	if len(rep.Cells) != 6 || rep.Machine.Rounds != 2 || rep.Machine.GOMAXPROCS < 1 || rep.Machine.Kernel == "" || rep.Machine.BackendReasons["portable"] == "" {
		t.Errorf("JSON report: %s", b)
	}
	for _, c := range rep.Cells {
		if c.Contender == "uring" && strings.HasPrefix(c.Unavailable, "io_uring refused") {
			continue
		}
		if c.Ops <= 0 || c.Unavailable != "" || len(c.RoundsOpsPerSec) != 2 || c.RWCallsPerOp == nil {
			t.Errorf("JSON cell %+v", c)
		}
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	parseXML(t, svg)
}

func TestRunCached(t *testing.T) {
	dir := t.TempDir()
	// The task rows follow the file table, with its rounds.
	args := append(runArgs(dir, "cached"), "-tasks", "sleep", "-sleepers", "1000", "-nap", "5ms")
	checkRun(t, dir, args, "page cache", true)
}

func TestRunDirect(t *testing.T) {
	dir := t.TempDir()
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, make([]byte, blockSize), 0o666); err != nil {
		t.Fatal(err)
	}
	why, err := checkDirect(probe)
	if err != nil {
		t.Fatal(err)
	}
	if why != "" {
		t.Skipf("%s (%s): %s", dir, fsName(dir), why)
	}
	os.Remove(probe)
	checkRun(t, dir, runArgs(dir, "direct"), "O_DIRECT", false)
}

// TestRunInterrupted: a cancelled run (Ctrl-C) stops, says so, and removes
// its file.
func TestRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var stdout, stderr strings.Builder
	args := append(runArgs(dir, "cached"), "-duration", "1s")
	err := run(ctx, args, &stdout, &stderr)
	if !errors.Is(err, errInterrupted) {
		t.Errorf("run = %v, want interrupted", err)
	}
	if stdout.Len() > 0 {
		t.Errorf("an interrupted run printed a table:\n%s", stdout.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestMeasureBadSpec: a child that cannot measure reports an error.
func TestMeasureBadSpec(t *testing.T) {
	if _, err := measure(cellSpec{Contender: "os", Path: "/nonexistent", Size: 1 << 20, Depth: 1, Duration: time.Millisecond}); err == nil {
		t.Error("measuring a missing file succeeded")
	}
	if _, err := measure(cellSpec{Contender: "spdk", Path: "x", Size: 1 << 20, Depth: 1, Duration: time.Millisecond}); err == nil {
		t.Error("measuring an unknown contender succeeded")
	}
	if _, err := measure(cellSpec{Contender: "os", Depth: 0}); err == nil {
		t.Error("measuring a bad spec succeeded")
	}
}

// TestRunWithoutFio: without fio on PATH, the fio rows say so and the other
// contenders still run.
func TestRunWithoutFio(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", t.TempDir())
	var stdout, stderr strings.Builder
	args := []string{"-size", "1MiB", "-duration", "20ms", "-depth", "1", "-mode", "cached", "-backends", "os,fio", "-dir", dir, "-tasks", "none"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), fioMissing) {
		t.Errorf("stderr lacks %q:\n%s", fioMissing, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "os.File") || strings.Contains(lines[1], "unavailable") ||
		!strings.Contains(lines[2], "fio not installed") {
		t.Errorf("table:\n%s", stdout.String())
	}
}

// TestRunCellFails: a cell whose child fails reports the child's error.
func TestRunCellFails(t *testing.T) {
	_, err := runCell(context.Background(), cellSpec{Contender: "os", Path: filepath.Join(t.TempDir(), "missing"),
		Size: 1 << 20, Depth: 1, Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("runCell on a missing file: %v", err)
	}
}

// TestMeasure runs cells in this process, where goleak and the race
// detector watch the harness itself.
func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	name, err := createFile(context.Background(), dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, contender := range []string{"uring", "portable", "os"} {
		r, err := measure(cellSpec{Contender: contender, Path: name, Size: 1 << 20, Depth: 3, Duration: 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("%s: %v", contender, err)
		}
		if r.Unavailable != "" {
			t.Logf("%s: unavailable: %s", contender, r.Unavailable)
			continue
		}
		if r.Ops <= 0 || r.Elapsed < 20*time.Millisecond || !r.HaveCPU || !r.HaveEnters || r.Threads <= 0 {
			t.Errorf("%s: %+v", contender, r)
		}
		if contender != "os" && r.Backend != contender {
			t.Errorf("%s: ran on backend %q", contender, r.Backend)
		}
	}
}
