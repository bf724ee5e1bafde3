package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tinyTasks are task cells small enough for a test: 20 ms, 1,000 sleepers
// of 5 ms.
func tinyTasks(contender string) cellSpec {
	return cellSpec{Bench: "tasks", Contender: contender, Duration: 20 * time.Millisecond, Sleepers: 1000, Nap: 5 * time.Millisecond}
}

// TestMeasureTask runs every task cell in this process, where goleak and
// the race detector watch the workloads themselves. It asserts no speed:
// only that each did its work and measured it.
func TestMeasureTask(t *testing.T) {
	for _, tc := range taskContenders {
		r, err := measure(tinyTasks(tc.key))
		if err != nil {
			t.Fatalf("%s: %v", tc.key, err)
		}
		spec := tinyTasks(tc.key)
		least := spec.Duration // a sleepers cell: one nap
		if tc.workload == "sleep" {
			least = spec.Nap
		}
		if r.Ops <= 0 || r.Elapsed < least || !r.HaveCPU || r.Threads <= 0 || r.Unavailable != "" {
			t.Errorf("%s: %+v", tc.key, r)
		}
		switch tc.key {
		case "join", "chan":
			if r.Ops%2 != 0 {
				t.Errorf("%s: %d hand-offs, want two per round trip", tc.key, r.Ops)
			}
		case "spawn", "go":
			if r.Ops%spawnBatch != 0 {
				t.Errorf("%s: %d tasks, want whole batches of %d", tc.key, r.Ops, spawnBatch)
			}
		case "sleep", "time.Sleep":
			// The memory in use is not checked here: this process may
			// have goroutines to reuse, left by other tests.
			if r.Ops != 1000 || r.StartAll <= 0 || r.ColdCPU <= 0 {
				t.Errorf("%s: %d sleepers, all started in %v; want 1000", tc.key, r.Ops, r.StartAll)
			}
		}
		// A spawned task is an allocation at least (its handle).
		if (tc.key == "join" || tc.key == "spawn" || tc.key == "sleep") && r.Mallocs < uint64(r.Ops)/2 {
			t.Errorf("%s: %d allocations for %d ops", tc.key, r.Mallocs, r.Ops)
		}
		// A warm nap still spawns a task, with its record, per sleeper.
		if tc.key == "sleep" && r.WarmMalloc < uint64(r.Ops) {
			t.Errorf("%s: %d allocations in the warm nap of %d sleepers", tc.key, r.WarmMalloc, r.Ops)
		}
	}
}

func TestMeasureTaskBadSpec(t *testing.T) {
	for _, spec := range []cellSpec{
		{Bench: "tasks", Contender: "fib", Duration: time.Millisecond, Sleepers: 1, Nap: time.Millisecond},
		{Bench: "tasks", Contender: "join"},
		{Bench: "tasks", Contender: "sleep", Duration: time.Millisecond},
	} {
		if _, err := measure(spec); err == nil {
			t.Errorf("measure(%+v) succeeded", spec)
		}
	}
}

// TestRunTasks runs the tasks subcommand end to end with tiny settings.
func TestRunTasks(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "tasks.json")
	var stdout, stderr strings.Builder
	args := []string{"tasks", "-duration", "20ms", "-rounds", "2", "-sleepers", "1000", "-nap", "100ms", "-json", jsonPath}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	if n := strings.Count(stderr.String(), "/14] "); n != 14 {
		t.Errorf("%d progress lines, want one per cell and round, 14", n)
	}
	checkTaskTables(t, stdout.String(), allWorkloads...)

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Machine taskMachine `json:"machine"`
		Tasks   []taskCell  `json:"tasks"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Machine.Rounds != 2 || rep.Machine.Sleepers != 1000 || len(rep.Tasks) != len(taskContenders) {
		t.Errorf("JSON report: %s", b)
	}
	for _, c := range rep.Tasks {
		if c.Unavailable != "" || c.Ratio == nil || len(c.RoundsRatio) != 2 || c.CPUNsPerOp == nil || c.AllocsPerOp == nil {
			t.Errorf("JSON cell %+v", c)
		}
		// A sleepers cell's process is new: its sleepers' goroutines and
		// stacks are too, if they all slept at once (a loaded machine may
		// take longer than the nap to start them).
		if c.Workload == "sleep" && (c.Sleepers != 1000 || c.StartMs == nil ||
			c.BytesWhy == "" && (c.BytesPerTask == nil || *c.BytesPerTask <= 0) || c.BytesWhy != "" && c.BytesPerTask != nil) {
			t.Errorf("JSON sleepers cell %+v", c)
		}
	}
}

// checkTaskTables checks that out has a task row with figures for every
// task contender of the workloads, in order, and none of another, and
// that each anchor's ratio is 1.
func checkTaskTables(t *testing.T, out string, workloads ...string) {
	t.Helper()
	var want []taskContender
	for _, tc := range taskContenders {
		if slices.Contains(workloads, tc.workload) {
			want = append(want, tc)
		} else if strings.Contains(out, " "+tc.name+" ") {
			t.Errorf("a row of %s, which was not asked for", tc.name)
		}
	}
	j := 0
	for _, line := range strings.Split(out, "\n") {
		if j == len(want) || !strings.Contains(line, " "+want[j].name+" ") {
			continue
		}
		tc := want[j]
		j++
		f := strings.Fields(ranges.ReplaceAllString(line[strings.Index(line, tc.name)+len(tc.name):], ""))
		// bytes/task may be missing, as the note under the table says.
		if len(f) < 6 || strings.Contains(line, "failed") || slices.Contains(f[:3], "-") {
			t.Errorf("row %q: want every figure", line)
			continue
		}
		if taskAnchors[tc.workload] == tc.key && f[1] != "1.00" {
			t.Errorf("anchor row %q: ratio %s, want 1.00", line, f[1])
		}
	}
	if j != len(want) {
		t.Errorf("found %d of %d task rows in\n%s", j, len(want), out)
	}
}
