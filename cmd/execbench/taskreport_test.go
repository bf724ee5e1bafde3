package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// taskRounds measures nothing: it builds the rounds of every task
// contender from figures, cost[j][k] being contender j's wall ns per op
// (sleepers: CPU ms per nap) in round k; 0 makes the round unavailable.
func taskRounds(cost [][]float64) [][]taskCell {
	rounds := make([][]taskCell, len(taskContenders))
	for j, tc := range taskContenders {
		for _, v := range cost[j] {
			r := cellResult{Unavailable: "failed: boom"}
			if v > 0 {
				r = cellResult{Ops: 1000, Elapsed: time.Duration(v * 1000), CPU: time.Duration(v * 500), HaveCPU: true,
					Mallocs: uint64(j) * 1000, Threads: 4}
				if tc.workload == "sleep" {
					// Naps of 500 sleepers, v ms of CPU, 2v for the first.
					r = cellResult{Ops: 500, Elapsed: 700 * time.Millisecond, CPU: time.Duration(v * 1e6), ColdCPU: time.Duration(2 * v * 1e6), HaveCPU: true,
						Mallocs: uint64(j) * 500, WarmMalloc: uint64(j) * 250, InUseBytes: int64(j) * 500_000, StartAll: 120 * time.Millisecond, Threads: 6}
				}
			}
			rounds[j] = append(rounds[j], newTaskCell(tc, r))
		}
	}
	return rounds
}

func TestMedianTaskCells(t *testing.T) {
	cells := medianTaskCells(taskContenders, taskRounds([][]float64{
		{300, 330, 0},   // join
		{100, 200, 150}, // yield
		{100, 110, 120}, // chan, the ping-pongs' anchor
		{400, 0, 0},     // spawn
		{0, 0, 0},       // go, spawn's anchor: never available
		{600, 620, 580}, // executor.Sleep
		{250, 300, 200}, // time.Sleep
	}))
	if len(cells) != len(taskContenders) {
		t.Fatalf("%d cells", len(cells))
	}
	j := cells[0]
	// Ratios 3 and 3: the median round by ns/op is the lower of 300 and 330.
	if j.NsPerOp != 300 || !near(j.Ratio, 3) || !slices.Equal(j.RoundsRatio, []float64{3, 3}) ||
		!slices.Equal(j.RoundsFigure, []float64{300, 330}) || !near(j.CPUNsPerOp, 150) || !near(j.CPURatio, 3) ||
		j.AllocsPerOp == nil || *j.AllocsPerOp != 0 || j.AllocsRatio != nil || j.Op != "hand-off" || j.Anchor != "chan" {
		t.Errorf("join: %+v", j)
	}
	if y := cells[1]; y.NsPerOp != 150 || !near(y.Ratio, 1.25) || !slices.Equal(y.RoundsRatio, []float64{1, 200.0 / 110, 1.25}) {
		t.Errorf("yield: %+v", y)
	}
	if s := cells[3]; s.NsPerOp != 400 || s.Ratio != nil || s.Op != "task" {
		t.Errorf("spawn without its anchor: %+v", s)
	}
	if g := cells[4]; g.Unavailable != "failed: boom" {
		t.Errorf("go: %+v", g)
	}
	e := cells[5]
	// The median round by CPU per nap: 600 ms, 500 sleepers a nap, 5 MB
	// in use per nap, 5 allocations per task; ratios 2.4, 2.07, 2.9.
	// Cold, the first naps took twice the CPU: the same ratios.
	if !near(e.CPUMsPerNap, 600) || !near(e.ColdCPUMs, 1200) || !near(e.ColdRatio, 2.4) || e.Sleepers != 500 ||
		!near(e.BytesPerTask, 5000) || !near(e.AllocsPerOp, 5) || !near(e.WarmAllocs, 2.5) || !near(e.Ratio, 600.0/250) || !near(e.BytesRatio, 5.0/6) || !near(e.AllocsRatio, 5.0/6) {
		t.Errorf("executor.Sleep: %+v", e)
	}
}

func TestWriteTaskTables(t *testing.T) {
	cells := medianTaskCells(taskContenders, taskRounds([][]float64{
		{300, 330}, {100, 200}, {100, 110}, {400, 410}, {0, 0}, {600, 620}, {250, 300},
	}))
	var b strings.Builder
	if err := writeTaskTables(&b, cells); err != nil {
		t.Fatal(err)
	}
	want := `workload             contender           ns/op ×anchor           CPU ns/op   ×CPU allocs/op threads
ping-pong, 1 worker  executor Join       300.0 3.00                  150.0   3.00      0.00       4
ping-pong, 1 worker  executor Yield      100.0 1.00 (1.00–1.82)       50.0   1.00      1.00       4
ping-pong, 1 worker  goroutines+chan     100.0 1.00                   50.0   1.00      2.00       4

spawn+join           executor            400.0 -                     200.0      -      3.00       4
spawn+join           go+WaitGroup            -  failed: boom

500 sleepers         contender        CPU ms/nap ×anchor            cold ms     × start ms bytes/task     × allocs/task     ×  warm threads
                     executor.Sleep        600.0 2.07 (2.07–2.40)    1200.0  2.07      120      5,000  0.83        5.00  0.83  2.50       6
                     time.Sleep            250.0 1.00                 500.0  1.00      120      6,000  1.00        6.00  1.00  3.00       6
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// Only the workloads measured get a table.
	b.Reset()
	if err := writeTaskTables(&b, cells[5:]); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "ns/op") || !strings.HasPrefix(s, "500 sleepers") {
		t.Errorf("sleepers alone:\n%s", s)
	}

	// A nap whose sleepers did not all sleep at once has no bytes/task,
	// and the table says why.
	late := newTaskCell(taskContenders[5], cellResult{Ops: 500, Elapsed: time.Second, CPU: time.Second, HaveCPU: true,
		InUseBytes: 1000, StartAll: 400 * time.Millisecond, BytesWhy: "starting took too long"})
	if late.BytesPerTask != nil || !near(late.StartMs, 400) || !near(late.CPUMsPerNap, 1000) {
		t.Errorf("late sleepers: %+v", late)
	}
	b.Reset()
	if err := writeTaskTables(&b, []taskCell{late}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "      400          -") || !strings.HasSuffix(s, "\nexecutor.Sleep: bytes/task not measured: starting took too long\n") {
		t.Errorf("late sleepers:\n%s", s)
	}

	var js bytes.Buffer
	if err := writeTaskJSON(&js, taskMachine{Rounds: 2, Sleepers: 500, Nap: "300ms"}, cells); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Machine map[string]any   `json:"machine"`
		Tasks   []map[string]any `json:"tasks"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, js.Bytes())
	}
	if got.Machine["rounds"] != 2.0 || got.Machine["nap"] != "300ms" || len(got.Tasks) != len(taskContenders) {
		t.Errorf("JSON: %s", js.Bytes())
	}
	if j := got.Tasks[0]; j["workload"] != "pingpong" || j["contender"] != "join" || j["anchor"] != "chan" ||
		j["ratio_to_anchor"] != 3.0 || j["ns_per_op"] != 300.0 || j["allocs_ratio_to_anchor"] != nil {
		t.Errorf("JSON join: %v", j)
	}
	if s := got.Tasks[3]; s["ratio_to_anchor"] != nil {
		t.Errorf("JSON spawn: ratio %v, want null", s["ratio_to_anchor"])
	}
}
