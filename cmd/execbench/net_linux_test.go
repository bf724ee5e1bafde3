package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunNet runs the net subcommand end to end with tiny settings and
// checks that the table has a row per cell with figures that make sense.
// It asserts no speed: only that every figure is there and positive.
func TestRunNet(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "net.json")
	var stdout, stderr strings.Builder
	args := []string{"net", "-conns", "1,4", "-duration", "100ms", "-rounds", "2", "-json", jsonPath}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	if n := strings.Count(stderr.String(), "/16] "); n != 16 {
		t.Errorf("%d progress lines, want one per cell and round, 16", n)
	}
	if !strings.Contains(stdout.String(), gnetNote) {
		t.Errorf("stdout lacks the gnet line %q", gnetNote)
	}

	rows := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(ranges.ReplaceAllString(line, ""))
		if len(f) < 2 || (f[0] != "1" && f[0] != "4") {
			continue
		}
		rows++
		if (f[1] == "executor(uring)" || f[1] == "executor(ring)") && strings.Contains(line, "io_uring refused") {
			t.Logf("io_uring unavailable here: %s", line) // a kernel or sandbox may refuse it
			continue
		}
		// conns, server, req/s, ×net, p50, p99, CPU µs/req, syscalls/req, threads
		if len(f) != 9 {
			t.Errorf("row %q: want 9 columns", line)
			continue
		}
		positive := func(col int, s string) {
			v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
			if err != nil || v <= 0 {
				t.Errorf("row %q: column %d is %q, want a positive number", line, col, s)
			}
		}
		for col := 2; col <= 8; col++ {
			if col == 7 && f[col] == "-" {
				continue // syscalls need perf events, which a sandbox may refuse
			}
			positive(col, f[col])
		}
		if f[1] == "net+goroutines" && f[3] != "1.00" {
			t.Errorf("net row %q: want ratio 1.00", line)
		}
		p50, _ := strconv.ParseFloat(f[4], 64)
		p99, _ := strconv.ParseFloat(f[5], 64)
		if p99 < p50 {
			t.Errorf("row %q: p99 below p50", line)
		}
	}
	if rows != 8 {
		t.Errorf("%d rows, want 8 (2 connection counts × 4 servers)", rows)
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Machine netMachine `json:"machine"`
		Cells   []netCell  `json:"cells"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) != 8 || rep.Machine.MsgSize != 1024 || rep.Machine.BackendReasons["portable"] == "" ||
		rep.Machine.Workers != runtime.GOMAXPROCS(0) {
		t.Errorf("JSON report: %s", b)
	}
	for _, c := range rep.Cells {
		if (c.Contender == "uring" || c.Contender == "ring") && strings.HasPrefix(c.Unavailable, "io_uring refused") {
			continue
		}
		if c.Requests <= 0 || c.Unavailable != "" || c.P50 == nil || c.CPUPerReq == nil || c.Threads == nil ||
			len(c.RoundsReqPerSec) != 2 || len(c.RoundsVsNet) != 2 {
			t.Errorf("JSON cell %+v", c)
		}
	}
}

// TestMeasureNet runs echo cells in this process, where goleak and the
// race detector watch the servers, the clients and the counters, and the
// cell must leave nothing running.
func TestMeasureNet(t *testing.T) {
	for _, contender := range allNetBackends {
		r, err := measure(cellSpec{Bench: "net", Contender: contender, Conns: 3, MsgSize: 100, Duration: 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("%s: %v", contender, err)
		}
		if r.Unavailable != "" {
			t.Logf("%s: unavailable: %s", contender, r.Unavailable)
			continue
		}
		if r.Ops <= 0 || r.Elapsed < 20*time.Millisecond || !r.HaveCPU || r.Threads <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: %+v", contender, r)
		}
		if !r.HaveSyscalls {
			t.Logf("%s: syscalls not counted: %s", contender, r.SyscallsWhy)
		} else if r.Syscalls == 0 {
			t.Errorf("%s: 0 system calls counted for %d round trips", contender, r.Ops)
		}
		want := contender
		switch contender {
		case "net":
			want = "" // no executor
		case "ring":
			want = "uring"
		}
		if r.Backend != want {
			t.Errorf("%s: ran on backend %q", contender, r.Backend)
		}
	}
}

func TestMeasureNetBadSpec(t *testing.T) {
	for _, spec := range []cellSpec{
		{Bench: "net", Contender: "net", Conns: 0, MsgSize: 10, Duration: time.Millisecond},
		{Bench: "net", Contender: "net", Conns: 1, MsgSize: 0, Duration: time.Millisecond},
		{Bench: "net", Contender: "gnet", Conns: 1, MsgSize: 10, Duration: time.Millisecond},
	} {
		if _, err := measure(spec); err == nil {
			t.Errorf("measure(%+v) succeeded", spec)
		}
	}
}

// TestEchoServers checks that every server echoes byte for byte, a
// message larger than its buffer included.
func TestEchoServers(t *testing.T) {
	for _, contender := range allNetBackends {
		srv, why, err := startEcho(contender, 64, 0)
		if err != nil {
			t.Fatalf("%s: %v", contender, err)
		}
		if why != "" {
			t.Logf("%s: %s", contender, why)
			continue
		}
		var clients []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		n, err := echoClients(clients, 1000, 3, 0, nil)
		for _, c := range clients {
			c.Close()
		}
		if serr := srv.stop(); serr != nil {
			t.Errorf("%s: stop: %v", contender, serr)
		}
		if err != nil || n != 6 {
			t.Errorf("%s: %d round trips, %v; want 6", contender, n, err)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("empty histogram: quantile not 0")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	h.record(-time.Second)  // clamped to 0, not a panic
	h.record(time.Hour * 2) // beyond the last bucket: counted there
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tt.q)
		if d := float64(got-tt.want) / float64(tt.want); d < -1.0/32 || d > 1.0/32 {
			t.Errorf("quantile(%v) = %v, want about %v", tt.q, got, tt.want)
		}
	}
	for v := uint64(0); v < 1<<20; v = v*5/4 + 1 {
		mid := histValue(histIndex(v))
		if d := float64(mid) - float64(v); d < -float64(v)/32 || d > float64(v)/32 {
			t.Errorf("bucket of %d has middle %d", v, mid)
		}
	}
	var sum histogram
	sum.add(&h)
	sum.add(&h)
	if sum.n != 2*h.n || sum.quantile(0.5) != h.quantile(0.5) {
		t.Errorf("add: n %d, median %v; want %d, %v", sum.n, sum.quantile(0.5), 2*h.n, h.quantile(0.5))
	}
}

func TestBackendMismatch(t *testing.T) {
	for _, tt := range []struct{ want, got, reason, out string }{
		{"uring", "uring", "requested", ""},
		{"uring", "", "io_uring_setup: operation not permitted", "io_uring refused: io_uring_setup: operation not permitted"},
		{"uring", "portable", "forced by EXECUTOR_BACKEND=portable", "runs on the portable backend: forced by EXECUTOR_BACKEND=portable"},
	} {
		if out := backendMismatch(tt.want, tt.got, tt.reason); out != tt.out {
			t.Errorf("backendMismatch(%q, %q, %q) = %q, want %q", tt.want, tt.got, tt.reason, out, tt.out)
		}
	}
}
