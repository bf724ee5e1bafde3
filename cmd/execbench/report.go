package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// cellResult is what one cell measured. Unavailable, if set, says why the
// cell could not run, and the counters are zero.
type cellResult struct {
	Ops         int64         `json:"ops"`
	Elapsed     time.Duration `json:"elapsed"`
	CPU         time.Duration `json:"cpu"` // user+system time of the measuring process
	HaveCPU     bool          `json:"haveCPU"`
	Enters      uint64        `json:"enters"` // io_uring_enter calls
	HaveEnters  bool          `json:"haveEnters"`
	Inline      uint64        `json:"inline"`              // executor reads completed without the ring
	Fixed       uint64        `json:"fixed"`               // executor reads made into a registered buffer (READ_FIXED)
	ThreadCPU   time.Duration `json:"threadCPU,omitempty"` // CPU time of the executor's completion thread (IOStats.ThreadCPU)
	RWCalls     uint64        `json:"rwCalls"`             // read and write system calls of the process (rwCalls)
	HaveRWCalls bool          `json:"haveRWCalls"`
	Threads     int           `json:"threads"` // peak OS threads; 0: not measured
	Backend     string        `json:"backend,omitempty"`
	Unavailable string        `json:"unavailable,omitempty"`

	// Echo cells only.
	P50          time.Duration `json:"p50,omitempty"` // round-trip latency, median
	P99          time.Duration `json:"p99,omitempty"` // and 99th percentile
	Syscalls     uint64        `json:"syscalls,omitempty"`
	HaveSyscalls bool          `json:"haveSyscalls,omitempty"`
	SyscallsWhy  string        `json:"syscallsWhy,omitempty"` // why Syscalls was not measured
	LateThreads  int           `json:"lateThreads,omitempty"` // threads whose system calls were counted from a few ms after they started

	// Task cells only.
	Mallocs    uint64        `json:"mallocs,omitempty"`     // heap allocations (runtime.MemStats.Mallocs) while measuring (sleepers: in the first nap)
	WarmMalloc uint64        `json:"warmMallocs,omitempty"` // sleepers: heap allocations in the second nap
	ColdCPU    time.Duration `json:"coldCPU,omitempty"`     // sleepers: CPU time of the process's first nap (CPU: of the second)
	InUseBytes int64         `json:"inUseBytes,omitempty"`  // sleepers: heap and stacks in use while all sleep
	BytesWhy   string        `json:"bytesWhy,omitempty"`    // sleepers: why InUseBytes was not measured
	StartAll   time.Duration `json:"startAll,omitempty"`    // sleepers: from the first start to all asleep
}

// cell is one row of the table and one element of the JSON output. Figures
// that do not apply, or were not measured, are nil (null in JSON, blank in
// the table).
type cell struct {
	Mode         string   `json:"mode"`      // "direct" or "cached"
	Depth        int      `json:"depth"`     // concurrent readers
	Contender    string   `json:"contender"` // "uring", "portable", "os" or "fio"
	Name         string   `json:"name"`      // as the table shows it
	Ops          int64    `json:"ops"`
	Seconds      float64  `json:"seconds"`
	OpsPerSec    float64  `json:"ops_per_sec"`
	VsOS         *float64 `json:"ratio_to_os_file"`
	VsFio        *float64 `json:"ratio_to_fio"`
	CPUPerOp     *float64 `json:"cpu_us_per_op"`
	EntersPerOp  *float64 `json:"io_uring_enter_per_op"`
	RWCallsPerOp *float64 `json:"rw_syscalls_per_op"`              // read and write system calls (syscr+syscw)
	InlinePerOp  *float64 `json:"inline_per_op,omitempty"`         // executor: reads done without the ring
	FixedPerOp   *float64 `json:"fixed_per_op,omitempty"`          // pool: reads made into a registered buffer
	ThreadPerOp  *float64 `json:"ring_thread_us_per_op,omitempty"` // uring, pool: the completion thread's CPU µs per read
	Threads      *int     `json:"os_threads"`
	Backend      string   `json:"backend,omitempty"`
	Unavailable  string   `json:"unavailable,omitempty"` // why the cell has no figures
	// With -rounds above 1: every round's ops/s and ratios, in order. The
	// other figures are those of the median round by ops/s; the ratios are
	// the medians of the rounds' ratios.
	RoundsOpsPerSec []float64 `json:"rounds_ops_per_sec,omitempty"`
	RoundsVsOS      []float64 `json:"rounds_ratio_to_os_file,omitempty"`
	RoundsVsFio     []float64 `json:"rounds_ratio_to_fio,omitempty"`
}

// contenderNames are the contenders as the table and chart name them.
var contenderNames = map[string]string{
	"uring":     "executor(uring)",
	"pool":      "executor(pool)",
	"portable":  "executor(portable)",
	"os":        "os.File",
	"fio":       "fio",
	"fio-fixed": "fio --fixedbufs",
}

// modeNames are the modes as the table and chart name them.
var modeNames = map[string]string{
	"direct": "O_DIRECT",
	"cached": "page cache",
}

// newCell turns a measurement into a row.
func newCell(mode string, depth int, contender string, r cellResult) cell {
	c := cell{Mode: mode, Depth: depth, Contender: contender, Name: contenderNames[contender],
		Backend: r.Backend, Unavailable: r.Unavailable}
	if c.Unavailable != "" || r.Ops <= 0 || r.Elapsed <= 0 {
		if c.Unavailable == "" {
			c.Unavailable = "no read completed"
		}
		return c
	}
	ops := float64(r.Ops)
	c.Ops = r.Ops
	c.Seconds = r.Elapsed.Seconds()
	c.OpsPerSec = ops / c.Seconds
	if r.HaveCPU {
		c.CPUPerOp = ptr(float64(r.CPU.Microseconds()) / ops)
	}
	if r.HaveEnters {
		c.EntersPerOp = ptr(float64(r.Enters) / ops)
	}
	if r.HaveRWCalls {
		c.RWCallsPerOp = ptr(float64(r.RWCalls) / ops)
	}
	if contender == "uring" || contender == "pool" || contender == "portable" {
		c.InlinePerOp = ptr(float64(r.Inline) / ops)
	}
	if contender == "pool" {
		c.FixedPerOp = ptr(float64(r.Fixed) / ops)
	}
	if contender == "uring" || contender == "pool" {
		c.ThreadPerOp = ptr(float64(r.ThreadCPU.Nanoseconds()) / 1e3 / ops)
	}
	if r.Threads > 0 {
		c.Threads = ptr(r.Threads)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// medianFileCells turns the rounds of the contenders at one mode and depth
// (rounds[j] are contender j's, in order) into one cell per contender:
// each round's ratios are to os.File's and fio's in the same round, the
// cell's ratios are the medians of those, and its other figures are those
// of its median round by ops/s. A contender's unavailable rounds are left
// out; a contender with none available keeps its first.
func medianFileCells(rounds [][]cell) []cell {
	var osRounds, fioRounds []cell
	for _, rs := range rounds {
		if len(rs) == 0 {
			continue
		}
		switch rs[0].Contender {
		case "os":
			osRounds = rs
		case "fio":
			fioRounds = rs
		}
	}
	cells := make([]cell, 0, len(rounds))
	for _, rs := range rounds {
		c, rates, ratios, ok := summarize(rs, fileRate, osRounds, fioRounds)
		if !ok {
			cells = append(cells, rs[0])
			continue
		}
		c.VsOS, c.VsFio = median(ratios[0]), median(ratios[1])
		if len(rs) > 1 {
			c.RoundsOpsPerSec, c.RoundsVsOS, c.RoundsVsFio = rates, ratios[0], ratios[1]
		}
		cells = append(cells, c)
	}
	return cells
}

// fileRate is a file cell's figure for medians and ratios: ops/s.
func fileRate(c cell) float64 { return c.OpsPerSec }

// writeTable prints the cells as an aligned table, a blank line between
// groups of the same mode and depth. A ratio measured over several rounds
// shows the range of its rounds beside it.
func writeTable(w io.Writer, cells []cell) error {
	var b strings.Builder
	const format = "%-10s %5s  %-18s %11s %-16s %-16s %9s %10s %9s %10s %7s\n"
	fmt.Fprintf(&b, format, "mode", "depth", "contender", "ops/s", "×os.File", "×fio", "CPU µs/op", "ring µs/op", "enters/op", "rw sc/op", "threads")
	for i, c := range cells {
		if i > 0 && (c.Mode != cells[i-1].Mode || c.Depth != cells[i-1].Depth) {
			b.WriteByte('\n')
		}
		if c.Unavailable != "" {
			fmt.Fprintf(&b, "%-10s %5d  %-18s %11s  %s\n", modeNames[c.Mode], c.Depth, c.Name, "-", c.Unavailable)
			continue
		}
		fmt.Fprintf(&b, format, modeNames[c.Mode], strconv.Itoa(c.Depth), c.Name, group(int64(math.Round(c.OpsPerSec))),
			withRange(c.VsOS, c.RoundsVsOS, 2), withRange(c.VsFio, c.RoundsVsFio, 2),
			fixed(c.CPUPerOp, 1), fixed(c.ThreadPerOp, 2), fixed(c.EntersPerOp, 3), fixed(c.RWCallsPerOp, 2), integer(c.Threads))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fixed formats *p with prec decimals, or "-" for nil.
func fixed(p *float64, prec int) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', prec, 64)
}

func integer(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

// group formats n with commas between groups of three digits: 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// host describes the machine and the run, in every JSON report.
type host struct {
	Time       string `json:"time"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
}

// machine describes where and how the results were measured.
type machine struct {
	host
	Dir            string            `json:"dir"`
	FileSystem     string            `json:"file_system"`
	FileSize       int64             `json:"file_size"`
	CellDuration   string            `json:"cell_duration"`
	Rounds         int               `json:"rounds"`
	Sleepers       int               `json:"sleepers,omitempty"` // the task rows' sleepers per nap
	Nap            string            `json:"nap,omitempty"`      // and how long each sleeps
	Fio            string            `json:"fio"`                // fio's version, or why there is none
	BackendReasons map[string]string `json:"backend_reasons"`    // backend: why the executor uses it, or why not
	Notes          []string          `json:"notes,omitempty"`    // what the run had to say about itself
}

// report is the JSON output.
type report struct {
	Machine machine    `json:"machine"`
	Cells   []cell     `json:"cells"`
	Tasks   []taskCell `json:"tasks,omitempty"` // the task rows, as execbench tasks writes them
}

// writeJSON writes the report.
func writeJSON(w io.Writer, m machine, cells []cell, tasks []taskCell) error {
	return writeIndented(w, report{Machine: m, Cells: cells, Tasks: tasks})
}

// writeIndented writes v as JSON, indented for people who read it.
func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sizeString formats a byte count with the largest binary unit that
// divides it: 1GiB, 8MiB, 12KiB.
func sizeString(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}
