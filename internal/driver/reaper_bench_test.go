package driver

import (
	"fmt"
	"os"
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
// Metrics: reaper-ns/op (the completion thread's CPU time per read,
// Stats.ThreadCPU), ceiling-ops/s (1e9 / reaper-ns/op), and ops/s and
// enters/op of the run itself.
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
			st := d.Stats()
			runRandReadSize(b, conc, 64<<20, func(p []byte, off int64) (int, error) {
				return d.ReadAt(b.Context(), fd, p, off)
			}, nil)
			after := d.Stats()
			if after.ThreadCPU == 0 {
				b.Skip("no per-thread CPU time")
			}
			ns := float64(after.ThreadCPU-st.ThreadCPU) / float64(b.N)
			b.ReportMetric(float64(after.Enters-st.Enters)/float64(b.N), "enters/op")
			b.ReportMetric(ns, "reaper-ns/op")
			b.ReportMetric(1e9/ns, "ceiling-ops/s")
		})
	}
}
