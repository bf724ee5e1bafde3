package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// taskContender is one row of the task tables: a way of doing a workload.
type taskContender struct {
	key      string // the cell's contender, in cellSpec and JSON
	workload string // one of allWorkloads
	name     string // as the table shows it
}

// taskContenders are every row of the task tables, in order; the last of
// each workload is its anchor, plain goroutines doing the same work.
var taskContenders = []taskContender{
	{"join", "pingpong", "executor Join"},
	{"yield", "pingpong", "executor Yield"},
	{"chan", "pingpong", "goroutines+chan"},
	{"spawn", "spawn", "executor"},
	{"go", "spawn", "go+WaitGroup"},
	{"sleep", "sleep", "executor.Sleep"},
	{"time.Sleep", "sleep", "time.Sleep"},
}

// taskAnchors are the anchors of the workloads' ratios.
var taskAnchors = map[string]string{"pingpong": "chan", "spawn": "go", "sleep": "time.Sleep"}

// workloadNames and workloadOps name the workloads and what one op of
// each is, as the table does.
var (
	workloadNames = map[string]string{"pingpong": "ping-pong, 1 worker", "spawn": "spawn+join", "sleep": "sleepers"}
	workloadOps   = map[string]string{"pingpong": "hand-off", "spawn": "task", "sleep": "task"}
)

// taskCell is one row of the task tables and one element of their JSON
// output. Figures that do not apply, or were not measured, are nil.
//
// A row's ratios are costs: its figure divided by the anchor's (measured
// in the same round), so below 1 is better than goroutines. Ratio is of
// the workload's figure: wall time per op for ping-pong and spawn+join,
// CPU time per nap for sleepers, whose wall time is the nap.
type taskCell struct {
	Workload    string   `json:"workload"`  // "pingpong", "spawn" or "sleep"
	Contender   string   `json:"contender"` // a key of taskContenders
	Name        string   `json:"name"`      // as the table shows it
	Anchor      string   `json:"anchor"`    // the contender of the same workload its ratios are to
	Op          string   `json:"op"`        // what one op is: "hand-off" or "task"
	Ops         int64    `json:"ops"`
	Seconds     float64  `json:"seconds"`
	NsPerOp     float64  `json:"ns_per_op"` // wall time
	CPUNsPerOp  *float64 `json:"cpu_ns_per_op"`
	AllocsPerOp *float64 `json:"allocs_per_op"`
	Threads     *int     `json:"os_threads"`
	// Sleepers: the sleepers of a nap, the process's CPU time per nap (of
	// them all, from spawning to the last one's end; of its second nap,
	// and of its first, cold), the time it took to start them all, and the
	// heap and stacks in use per sleeper while they all sleep (or why not
	// measured); the memory, allocations and start are the first nap's,
	// WarmAllocs the allocations per sleeper of the second. See sleepers.
	Sleepers     int       `json:"sleepers,omitempty"`
	WarmAllocs   *float64  `json:"warm_allocs_per_task,omitempty"`
	CPUMsPerNap  *float64  `json:"cpu_ms_per_nap,omitempty"`
	ColdCPUMs    *float64  `json:"cold_cpu_ms_per_nap,omitempty"`
	ColdRatio    *float64  `json:"cold_cpu_ratio_to_anchor,omitempty"`
	StartMs      *float64  `json:"start_all_ms,omitempty"`
	BytesPerTask *float64  `json:"bytes_per_task,omitempty"`
	BytesWhy     string    `json:"bytes_unmeasured,omitempty"`
	Ratio        *float64  `json:"ratio_to_anchor"`
	CPURatio     *float64  `json:"cpu_ratio_to_anchor"`
	AllocsRatio  *float64  `json:"allocs_ratio_to_anchor"`
	BytesRatio   *float64  `json:"bytes_ratio_to_anchor,omitempty"`
	Unavailable  string    `json:"unavailable,omitempty"`
	RoundsFigure []float64 `json:"rounds_figure,omitempty"` // with -rounds above 1: every round's figure (ns/op, or CPU ms per nap)
	RoundsRatio  []float64 `json:"rounds_ratio_to_anchor,omitempty"`
}

// newTaskCell turns a task measurement into a row.
func newTaskCell(tc taskContender, r cellResult) taskCell {
	c := taskCell{Workload: tc.workload, Contender: tc.key, Name: tc.name, Anchor: taskAnchors[tc.workload],
		Op: workloadOps[tc.workload], Unavailable: r.Unavailable}
	if c.Unavailable != "" || r.Ops <= 0 || r.Elapsed <= 0 {
		if c.Unavailable == "" {
			c.Unavailable = "no op completed"
		}
		return c
	}
	n := float64(r.Ops)
	c.Ops = r.Ops
	c.Seconds = r.Elapsed.Seconds()
	c.NsPerOp = float64(r.Elapsed.Nanoseconds()) / n
	if r.HaveCPU {
		c.CPUNsPerOp = ptr(float64(r.CPU.Nanoseconds()) / n)
	}
	c.AllocsPerOp = ptr(float64(r.Mallocs) / n)
	if r.Threads > 0 {
		c.Threads = ptr(r.Threads)
	}
	if tc.workload == "sleep" { // an op is a sleeper, of one nap
		c.Sleepers = int(r.Ops)
		if r.HaveCPU {
			c.CPUMsPerNap = ptr(float64(r.CPU.Nanoseconds()) / 1e6)
			c.ColdCPUMs = ptr(float64(r.ColdCPU.Nanoseconds()) / 1e6)
		}
		c.StartMs = ptr(float64(r.StartAll.Microseconds()) / 1e3)
		c.WarmAllocs = ptr(float64(r.WarmMalloc) / n)
		if c.BytesWhy = r.BytesWhy; c.BytesWhy == "" {
			c.BytesPerTask = ptr(float64(r.InUseBytes) / n)
		}
	}
	return c
}

// taskFigure is a task row's figure for medians and ratios, a cost: wall
// ns per op, or for sleepers CPU ms per nap.
func taskFigure(c taskCell) float64 {
	if c.Workload == "sleep" {
		return deref(c.CPUMsPerNap)
	}
	return c.NsPerOp
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// medianTaskCells turns the rounds of the task contenders (rounds[j] are
// contenders[j]'s, in order) into one row each: its median round by its
// figure, with the medians of its rounds' ratios to its anchor's in the
// same round. A contender's unavailable rounds are left out; one with none
// available keeps its first.
func medianTaskCells(contenders []taskContender, rounds [][]taskCell) []taskCell {
	anchor := make(map[string][]taskCell) // workload: its anchor's rounds
	for j, tc := range contenders {
		if taskAnchors[tc.workload] == tc.key {
			anchor[tc.workload] = rounds[j]
		}
	}
	cpu := func(c taskCell) float64 { return deref(c.CPUNsPerOp) }
	allocs := func(c taskCell) float64 { return deref(c.AllocsPerOp) }
	bytes := func(c taskCell) float64 { return deref(c.BytesPerTask) }
	cold := func(c taskCell) float64 { return deref(c.ColdCPUMs) }
	cells := make([]taskCell, 0, len(rounds))
	for j, rs := range rounds {
		a := anchor[contenders[j].workload]
		c, figs, ratios, ok := summarize(rs, taskFigure, a)
		if !ok {
			cells = append(cells, rs[0])
			continue
		}
		c.Ratio = median(ratios[0])
		c.CPURatio = median(roundRatios(rs, a, cpu))
		c.AllocsRatio = median(roundRatios(rs, a, allocs))
		c.BytesRatio = median(roundRatios(rs, a, bytes))
		c.ColdRatio = median(roundRatios(rs, a, cold))
		if len(rs) > 1 {
			c.RoundsFigure, c.RoundsRatio = figs, ratios[0]
		}
		cells = append(cells, c)
	}
	return cells
}

// writeTaskTables prints the task rows as two aligned tables: hand-offs and
// spawn+join by time per op, then sleepers by CPU and memory per task.
// Either is left out if it has no row.
func writeTaskTables(w io.Writer, cells []taskCell) error {
	var b strings.Builder
	var ops, sleep []taskCell
	for _, c := range cells {
		if c.Workload == "sleep" {
			sleep = append(sleep, c)
		} else {
			ops = append(ops, c)
		}
	}
	if len(ops) > 0 {
		const format = "%-20s %-16s %8s %-17s %9s %6s %9s %7s\n"
		fmt.Fprintf(&b, format, "workload", "contender", "ns/op", "×anchor", "CPU ns/op", "×CPU", "allocs/op", "threads")
		for i, c := range ops {
			if i > 0 && c.Workload != ops[i-1].Workload {
				b.WriteByte('\n')
			}
			if c.Unavailable != "" {
				fmt.Fprintf(&b, "%-20s %-16s %8s  %s\n", workloadNames[c.Workload], c.Name, "-", c.Unavailable)
				continue
			}
			fmt.Fprintf(&b, format, workloadNames[c.Workload], c.Name, strconv.FormatFloat(c.NsPerOp, 'f', 1, 64),
				withRange(c.Ratio, c.RoundsRatio, 2), fixed(c.CPUNsPerOp, 1), fixed(c.CPURatio, 2), fixed(c.AllocsPerOp, 2), integer(c.Threads))
		}
	}
	if len(sleep) > 0 {
		if len(ops) > 0 {
			b.WriteByte('\n')
		}
		n := 0
		for _, c := range sleep {
			n = max(n, c.Sleepers)
		}
		const format = "%-20s %-16s %10s %-17s %8s %5s %8s %10s %5s %11s %5s %5s %7s\n"
		fmt.Fprintf(&b, format, group(int64(n))+" sleepers", "contender", "CPU ms/nap", "×anchor", "cold ms", "×", "start ms",
			"bytes/task", "×", "allocs/task", "×", "warm", "threads")
		why := ""
		for _, c := range sleep {
			if c.Unavailable != "" {
				fmt.Fprintf(&b, "%-20s %-16s %12s  %s\n", "", c.Name, "-", c.Unavailable)
				continue
			}
			bytes := "-"
			if c.BytesPerTask != nil {
				bytes = group(int64(math.Round(*c.BytesPerTask)))
			} else if why == "" {
				why = c.Name + ": bytes/task not measured: " + c.BytesWhy
			}
			fmt.Fprintf(&b, format, "", c.Name, fixed(c.CPUMsPerNap, 1), withRange(c.Ratio, c.RoundsRatio, 2),
				fixed(c.ColdCPUMs, 1), fixed(c.ColdRatio, 2), fixed(c.StartMs, 0),
				bytes, fixed(c.BytesRatio, 2), fixed(c.AllocsPerOp, 2), fixed(c.AllocsRatio, 2), fixed(c.WarmAllocs, 2), integer(c.Threads))
		}
		if why != "" {
			b.WriteString(why + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// taskMachine describes where and how the task rows were measured.
type taskMachine struct {
	host
	CellDuration string   `json:"cell_duration"`
	Rounds       int      `json:"rounds"`
	Sleepers     int      `json:"sleepers"`
	Nap          string   `json:"nap"`
	Notes        []string `json:"notes,omitempty"`
}

// writeTaskJSON writes the task report.
func writeTaskJSON(w io.Writer, m taskMachine, cells []taskCell) error {
	return writeIndented(w, struct {
		Machine taskMachine `json:"machine"`
		Tasks   []taskCell  `json:"tasks"`
	}{m, cells})
}
