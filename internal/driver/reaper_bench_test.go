package driver

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCompletionThread measures what one ring's completion thread
// spends per operation, the figure that bounds a ring's throughput: its
// thread alone submits every request and delivers every completion, so
// it can serve at most 1e9 / reaper-ns/op operations a second however many
// cores the tasks run on. Reads of a 64 MiB file in the page cache go
// through the ring (no RWF_NOWAIT attempt, no lone blocking read), so
// each read is one request and one completion that costs the kernel
// little: what is left is the thread's own work. Reproduce with
//
//	go test -run '^$' -bench CompletionThread -benchtime 2s ./internal/driver/
//
// Metrics: reaper-ns/op (the completion thread's CPU time per read, from
// /proc/self/task/TID/schedstat), ceiling-ops/s (1e9 / reaper-ns/op), and
// ops/s and enters/op of the run itself.
func BenchmarkCompletionThread(b *testing.B) {
	path, _ := tempFile(b, 64<<20)
	for _, conc := range []int{32, 128} {
		b.Run(fmt.Sprintf("g=%d", conc), func(b *testing.B) {
			cfg := defaultConfig
			cfg.nowait, cfg.blocking = false, false
			d := newTestUring(b, cfg)
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fd := int(f.Fd())
			tid := int(d.reaperTid.Load())
			before, enters := threadCPU(b, tid), d.Stats().Enters
			// d is not passed: runRandReadSize would shut it down, ending
			// the thread, before its CPU time is read.
			runRandReadSize(b, conc, 64<<20, func(p []byte, off int64) (int, error) {
				return d.ReadAt(b.Context(), fd, p, off)
			}, nil)
			ns := float64(threadCPU(b, tid)-before) / float64(b.N)
			b.ReportMetric(float64(d.Stats().Enters-enters)/float64(b.N), "enters/op")
			b.ReportMetric(ns, "reaper-ns/op")
			b.ReportMetric(1e9/ns, "ceiling-ops/s")
		})
	}
}

// threadCPU returns the CPU time, in nanoseconds, that thread tid of this
// process has run.
func threadCPU(b *testing.B, tid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		b.Skipf("no per-thread CPU time: %v", err)
	}
	ns, err := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	if err != nil {
		b.Fatalf("schedstat %q: %v", raw, err)
	}
	return ns
}
