package executor

import (
	"time"

	"github.com/executor-go/executor/internal/sched"
)

// Latency summarizes a distribution of durations. The quantiles are
// estimates from a histogram with four buckets per power of two, within
// 25% of the true value; Count, Total and Max are exact.
type Latency struct {
	Count int64         // durations measured
	Total time.Duration // their sum
	P50   time.Duration // the median
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration // the longest
}

// Mean returns the average duration, or 0 when none was measured.
func (l Latency) Mean() time.Duration {
	if l.Count == 0 {
		return 0
	}
	return l.Total / time.Duration(l.Count)
}

func latencyOf(h *sched.Histogram) Latency {
	return Latency{
		Count: h.Count(), Total: h.Sum(), Max: h.Max(),
		P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99),
	}
}

// WaitStat counts the waits of one kind (see TaskInfo.Wait for the kinds).
type WaitStat struct {
	Kind    string        // "sleep", "read", ...
	Waiting int64         // tasks waiting there now
	Count   int64         // waits that ended
	Total   time.Duration // the time those waits took, summed
}

// waitStats lists the kinds that have been waited on, in a fixed order.
func waitStats(ws *[sched.MaxKinds]sched.WaitCount) []WaitStat {
	var out []WaitStat
	for k := range numWaitKinds {
		if w := ws[k]; w.Now != 0 || w.Count != 0 {
			out = append(out, WaitStat{Kind: waitNames[k], Waiting: w.Now, Count: w.Count, Total: w.Total})
		}
	}
	return out
}
