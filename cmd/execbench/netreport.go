package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// netCell is one row of the echo table and one element of its JSON output.
// Figures that were not measured are nil (null in JSON, "-" in the table).
type netCell struct {
	Conns          int      `json:"conns"`
	Contender      string   `json:"contender"` // the server: "uring", "ring", "portable" or "net"
	Name           string   `json:"name"`      // as the table shows it
	Requests       int64    `json:"requests"`  // round trips completed
	Seconds        float64  `json:"seconds"`
	ReqPerSec      float64  `json:"req_per_sec"`
	VsNet          *float64 `json:"ratio_to_net"`
	P50            *float64 `json:"p50_us"`
	P99            *float64 `json:"p99_us"`
	CPUPerReq      *float64 `json:"cpu_us_per_req"`
	SyscallsPerReq *float64 `json:"syscalls_per_req"`
	SyscallsWhy    string   `json:"syscalls_unmeasured,omitempty"`  // why SyscallsPerReq is null
	LateThreads    int      `json:"threads_counted_late,omitempty"` // threads started during the cell: their first few ms of system calls are missing
	Threads        *int     `json:"os_threads"`
	Backend        string   `json:"backend,omitempty"`
	Unavailable    string   `json:"unavailable,omitempty"` // why the cell has no figures
	// With -rounds: every round's req/s and ratio to net, in order. The
	// other figures are those of the median round; ratio_to_net is the
	// median of the rounds' ratios.
	RoundsReqPerSec []float64 `json:"rounds_req_per_sec,omitempty"`
	RoundsVsNet     []float64 `json:"rounds_ratio_to_net,omitempty"`
}

// netContenderNames are the echo servers as the table names them.
var netContenderNames = map[string]string{
	"uring":    "executor(uring)",
	"ring":     "executor(ring)",
	"portable": "executor(portable)",
	"net":      "net+goroutines",
}

// newNetCell turns an echo measurement into a row.
func newNetCell(conns int, contender string, r cellResult) netCell {
	c := netCell{Conns: conns, Contender: contender, Name: netContenderNames[contender],
		Backend: r.Backend, Unavailable: r.Unavailable}
	if c.Unavailable != "" || r.Ops <= 0 || r.Elapsed <= 0 {
		if c.Unavailable == "" {
			c.Unavailable = "no round trip completed"
		}
		return c
	}
	n := float64(r.Ops)
	c.Requests = r.Ops
	c.Seconds = r.Elapsed.Seconds()
	c.ReqPerSec = n / c.Seconds
	c.P50 = ptr(float64(r.P50.Nanoseconds()) / 1e3)
	c.P99 = ptr(float64(r.P99.Nanoseconds()) / 1e3)
	if r.HaveCPU {
		c.CPUPerReq = ptr(float64(r.CPU.Nanoseconds()) / 1e3 / n)
	}
	if r.HaveSyscalls {
		c.SyscallsPerReq = ptr(float64(r.Syscalls) / n)
		c.LateThreads = r.LateThreads
	} else {
		c.SyscallsWhy = r.SyscallsWhy
	}
	if r.Threads > 0 {
		c.Threads = ptr(r.Threads)
	}
	return c
}

// medianCells turns the rounds of the servers at one connection count
// (rounds[j] are server j's, in order) into one cell per server: each
// round's ratio is to net's in the same round, the cell's ratio is the
// median of those, and its other figures are those of its median round by
// req/s. A server's unavailable rounds are left out; a server with none
// available keeps its first.
func medianCells(rounds [][]netCell) []netCell {
	var anchor []netCell
	for _, rs := range rounds {
		if len(rs) > 0 && rs[0].Contender == "net" {
			anchor = rs
		}
	}
	cells := make([]netCell, 0, len(rounds))
	for _, rs := range rounds {
		c, reqs, ratios, ok := summarize(rs, netRate, anchor)
		if !ok {
			cells = append(cells, rs[0])
			continue
		}
		c.VsNet = median(ratios[0])
		if len(rs) > 1 {
			c.RoundsReqPerSec, c.RoundsVsNet = reqs, ratios[0]
		}
		cells = append(cells, c)
	}
	return cells
}

// netRate is an echo cell's figure for medians and ratios: req/s.
func netRate(c netCell) float64 { return c.ReqPerSec }

// writeNetTable prints the echo cells as an aligned table, a blank line
// between groups of the same number of connections. A ratio measured over
// several rounds shows the range of its rounds beside it.
func writeNetTable(w io.Writer, cells []netCell) error {
	var b strings.Builder
	const format = "%5s  %-18s %11s %-16s %8s %8s %11s %13s %8s\n"
	fmt.Fprintf(&b, format, "conns", "server", "req/s", "×net", "p50 µs", "p99 µs", "CPU µs/req", "syscalls/req", "threads")
	for i, c := range cells {
		if i > 0 && c.Conns != cells[i-1].Conns {
			b.WriteByte('\n')
		}
		if c.Unavailable != "" {
			fmt.Fprintf(&b, "%5d  %-18s %11s  %s\n", c.Conns, c.Name, "-", c.Unavailable)
			continue
		}
		fmt.Fprintf(&b, format, strconv.Itoa(c.Conns), c.Name, group(int64(math.Round(c.ReqPerSec))),
			withRange(c.VsNet, c.RoundsVsNet, 2), fixed(c.P50, 1), fixed(c.P99, 1), fixed(c.CPUPerReq, 1), fixed(c.SyscallsPerReq, 2), integer(c.Threads))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// netMachine describes where and how the echo results were measured.
type netMachine struct {
	host
	CellDuration   string            `json:"cell_duration"`
	MsgSize        int               `json:"msg_size"`
	Workers        int               `json:"workers"` // the executor servers' Workers
	Client         string            `json:"client"`
	Gnet           string            `json:"gnet"`
	BackendReasons map[string]string `json:"backend_reasons"` // backend: why the executor uses it, or why not
	Notes          []string          `json:"notes,omitempty"`
}

// writeNetJSON writes the echo report.
func writeNetJSON(w io.Writer, m netMachine, cells []netCell) error {
	return writeIndented(w, struct {
		Machine netMachine `json:"machine"`
		Cells   []netCell  `json:"cells"`
	}{m, cells})
}
