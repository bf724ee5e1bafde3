package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleCells are two mode/depth groups with every contender, one of them
// unavailable.
func sampleCells() []cell {
	r := func(ops int64, cpu time.Duration, enters uint64, threads int) cellResult {
		return cellResult{Ops: ops, Elapsed: time.Second, CPU: cpu, HaveCPU: true, Enters: enters, HaveEnters: true, Threads: threads}
	}
	ring := r(90000, 900*time.Millisecond, 9000, 6)
	ring.ThreadCPU = 180 * time.Millisecond
	cells := []cell{
		newCell("direct", 32, "uring", ring),
		newCell("direct", 32, "portable", r(45000, 450*time.Millisecond, 0, 36)),
		newCell("direct", 32, "os", r(45000, 900*time.Millisecond, 0, 35)),
		newCell("direct", 32, "fio", cellResult{Ops: 100000, Elapsed: time.Second, CPU: 500 * time.Millisecond, HaveCPU: true}),
		newCell("cached", 1, "uring", r(600000, 600*time.Millisecond, 0, 5)),
		newCell("cached", 1, "portable", cellResult{Unavailable: "io_uring refused: nope"}),
		newCell("cached", 1, "os", r(300000, 300*time.Millisecond, 0, 5)),
		newCell("cached", 1, "fio", cellResult{Unavailable: "fio not installed"}),
	}
	return oneRound(cells)
}

// oneRound returns the rows of cells measured in a single round: each
// group of the same mode and depth through medianFileCells.
func oneRound(cells []cell) []cell {
	var out []cell
	for i := 0; i < len(cells); {
		j := i
		var group [][]cell
		for ; j < len(cells) && cells[j].Mode == cells[i].Mode && cells[j].Depth == cells[i].Depth; j++ {
			group = append(group, []cell{cells[j]})
		}
		out = append(out, medianFileCells(group)...)
		i = j
	}
	return out
}

func near(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

func TestNewCellAndRatios(t *testing.T) {
	cells := sampleCells()
	u := cells[0]
	if u.OpsPerSec != 90000 || !near(u.VsOS, 2) || !near(u.VsFio, 0.9) || !near(u.CPUPerOp, 10) ||
		!near(u.EntersPerOp, 0.1) || !near(u.ThreadPerOp, 2) || u.Threads == nil || *u.Threads != 6 || u.Name != "executor(uring)" {
		t.Errorf("uring direct 32: %+v", u)
	}
	if o := cells[2]; !near(o.VsOS, 1) || !near(o.VsFio, 0.45) || !near(o.EntersPerOp, 0) || o.ThreadPerOp != nil {
		t.Errorf("os direct 32: %+v", o)
	}
	if f := cells[3]; !near(f.VsFio, 1) || !near(f.CPUPerOp, 5) || f.EntersPerOp != nil || f.Threads != nil {
		t.Errorf("fio direct 32: %+v", f)
	}
	// No fio at this mode and depth: no ratio to it.
	if c := cells[4]; !near(c.VsOS, 2) || c.VsFio != nil {
		t.Errorf("uring cached 1: %+v", c)
	}
	if c := cells[5]; c.Unavailable == "" || c.OpsPerSec != 0 || c.VsOS != nil || c.CPUPerOp != nil {
		t.Errorf("unavailable cell: %+v", c)
	}
	if c := newCell("cached", 1, "os", cellResult{}); c.Unavailable == "" {
		t.Errorf("a cell without reads has figures: %+v", c)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, sampleCells()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	t.Logf("\n%s", got)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 1+4+1+4 {
		t.Fatalf("%d lines, want a header, two groups of 4 and a blank line between", len(lines))
	}
	for _, h := range []string{"ops/s", "×os.File", "×fio", "CPU µs/op", "ring µs/op", "enters/op", "threads"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q lacks %q", lines[0], h)
		}
	}
	for i, want := range map[int][]string{
		1: {"O_DIRECT", "32", "executor(uring)", "90,000", "2.00", "0.90", "10.0", "2.00", "0.100", "6"},
		4: {"fio", "100,000", "2.22", "1.00", "5.0", "-"},
		5: {},
		7: {"page cache", "executor(portable)", "-", "io_uring refused: nope"},
		9: {"fio", "fio not installed"},
	} {
		if len(want) == 0 && lines[i] != "" {
			t.Errorf("line %d = %q, want blank", i, lines[i])
		}
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d = %q, lacks %q", i, lines[i], w)
			}
		}
	}
	// Columns line up: every figure row is as wide as the header.
	width := len([]rune(lines[0]))
	for _, i := range []int{1, 2, 3, 4, 6, 8} {
		if n := len([]rune(lines[i])); n != width {
			t.Errorf("line %d is %d runes wide, header %d:\n%s\n%s", i, n, width, lines[0], lines[i])
		}
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 97312: "97,312", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}

func testMachine() machine {
	return machine{host: host{Time: "2026-01-01T00:00:00Z", GOMAXPROCS: 2, NumCPU: 2, Kernel: "6.18", GoVersion: "go1.26"},
		Dir: "/tmp", FileSystem: "ext2/3/4", FileSize: 1 << 30, CellDuration: "2s", Fio: "fio-3.33",
		BackendReasons: map[string]string{"uring": "io_uring available", "portable": "requested"}}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, testMachine(), sampleCells(), nil); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Machine map[string]any   `json:"machine"`
		Cells   []map[string]any `json:"cells"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.Bytes())
	}
	if got.Machine["gomaxprocs"] != 2.0 || got.Machine["kernel"] != "6.18" {
		t.Errorf("machine = %v", got.Machine)
	}
	if r, _ := got.Machine["backend_reasons"].(map[string]any); r["uring"] != "io_uring available" {
		t.Errorf("backend_reasons = %v", got.Machine["backend_reasons"])
	}
	if len(got.Cells) != 8 {
		t.Fatalf("%d cells, want 8", len(got.Cells))
	}
	c := got.Cells[0]
	for k, v := range map[string]any{"mode": "direct", "depth": 32.0, "contender": "uring", "ops_per_sec": 90000.0,
		"ratio_to_os_file": 2.0, "ratio_to_fio": 0.9, "cpu_us_per_op": 10.0, "io_uring_enter_per_op": 0.1, "os_threads": 6.0} {
		if g, ok := c[k]; !ok || g != v {
			t.Errorf("cells[0][%q] = %v, want %v", k, g, v)
		}
	}
	// Figures that do not apply are null, not 0: 0 would be a measurement.
	if v, ok := got.Cells[3]["io_uring_enter_per_op"]; !ok || v != nil {
		t.Errorf("fio's enters/op = %v (present %v), want null", v, ok)
	}
	if got.Cells[5]["unavailable"] != "io_uring refused: nope" {
		t.Errorf("cells[5] = %v", got.Cells[5])
	}
}

// parseXML checks that b is well-formed XML and returns its elements'
// names and its text.
func parseXML(t *testing.T, b []byte) (elems map[string]int, text string) {
	t.Helper()
	elems = make(map[string]int)
	var sb strings.Builder
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			elems[tok.Name.Local]++
		case xml.CharData:
			sb.Write(tok)
			sb.WriteByte('\n')
		}
	}
	return elems, sb.String()
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	cells := sampleCells()
	cells[4].Name = "a<b>&c" // escaped, not markup
	if err := writeSVG(&b, testMachine(), cells); err != nil {
		t.Fatal(err)
	}
	elems, text := parseXML(t, b.Bytes())
	if elems["svg"] != 1 {
		t.Errorf("%d svg elements", elems["svg"])
	}
	// A bar per available cell, a legend swatch per contender, a
	// background.
	if want := 6 + 4 + 1; elems["rect"] != want {
		t.Errorf("%d rects, want %d", elems["rect"], want)
	}
	for _, s := range []string{"O_DIRECT", "page cache", "depth 32", "depth 1", "executor(uring)", "os.File", "fio", "90k", "600k", "n/a", "a<b>&c"} {
		if !strings.Contains(text, s) {
			t.Errorf("SVG text lacks %q", s)
		}
	}
}

func TestNiceScale(t *testing.T) {
	for _, peak := range []float64{0, 1, 7, 97312, 100000, 634000, 1.79e6} {
		step, ymax := niceScale(peak)
		if ymax < peak || step <= 0 || ymax/step < 1 || ymax/step > 10 {
			t.Errorf("niceScale(%v) = %v, %v", peak, step, ymax)
		}
	}
	for v, want := range map[float64]string{950: "950", 1500: "1.5k", 97312: "97k", 2e6: "2M", 1.25e6: "1.25M"} {
		if got := short(v); got != want {
			t.Errorf("short(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestMedianFileCells: with rounds, a cell's ratios are the medians of its
// rounds' ratios to os.File and fio in the same round, its other figures
// its median round's, and the table shows each ratio's range.
func TestMedianFileCells(t *testing.T) {
	r := func(ops int64, threads int) cellResult {
		return cellResult{Ops: ops, Elapsed: time.Second, CPU: time.Duration(ops) * time.Microsecond, HaveCPU: true,
			Threads: threads, RWCalls: uint64(ops) / 2, HaveRWCalls: true}
	}
	c := func(contender string, res cellResult) cell { return newCell("cached", 32, contender, res) }
	cells := medianFileCells([][]cell{
		{c("uring", r(100, 1)), c("uring", r(300, 3)), c("uring", cellResult{Unavailable: "failed: boom"}), c("uring", r(200, 2))},
		{c("os", r(100, 5)), c("os", r(100, 5)), c("os", r(100, 5)), c("os", r(400, 5))},
		{c("fio", r(50, 0)), c("fio", cellResult{Unavailable: "failed"}), c("fio", r(100, 0)), c("fio", r(100, 0))},
	})
	u := cells[0]
	// Ratios to os.File 1, 3 and 0.5, median 1; to fio 2 and 2. Median
	// round by ops/s: 200 (2 threads).
	if !near(u.VsOS, 1) || !near(u.VsFio, 2) || u.OpsPerSec != 200 || *u.Threads != 2 || !near(u.RWCallsPerOp, 0.5) ||
		!slices.Equal(u.RoundsOpsPerSec, []float64{100, 300, 200}) || !slices.Equal(u.RoundsVsOS, []float64{1, 3, 0.5}) ||
		!slices.Equal(u.RoundsVsFio, []float64{2, 2}) {
		t.Errorf("uring cell: %+v", u)
	}
	if o := cells[1]; !near(o.VsOS, 1) || o.OpsPerSec != 100 {
		t.Errorf("os cell: %+v", o)
	}
	var b strings.Builder
	if err := writeTable(&b, cells); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	t.Logf("\n%s", b.String())
	if f := lines[1]; !strings.Contains(f, "1.00 (0.50–3.00)") || !strings.Contains(f, "2.00 ") || strings.Contains(f, "2.00 (") ||
		!strings.Contains(f, " 0.50 ") {
		t.Errorf("uring row %q: want ×os.File with its range, ×fio without (all rounds agree), rw calls 0.50", f)
	}
	if f := lines[2]; !strings.Contains(f, " 100 1.00   ") || !strings.Contains(f, "2.00 (1.00–4.00)") {
		t.Errorf("os row %q: want ×os.File 1.00 without a range, ×fio with one", f)
	}
	if n, h := len([]rune(lines[1])), len([]rune(lines[0])); n != h {
		t.Errorf("row is %d runes wide, header %d", n, h)
	}
}
