//go:build !tinygo

// Allocation counts and benchmarks run on the host only: under TinyGo,
// testing.AllocsPerRun always reports 0, and its testing.B has neither
// ReportMetric nor Elapsed. There the proof that nothing allocates is the
// -gc=none link of examples/lm3s6965 (see qemu-test.sh).

package cortexm_test

import (
	"fmt"
	"testing"

	"github.com/executor-go/executor/cortexm"
	"github.com/executor-go/executor/cortexm/sim"
)

// waiter waits on line at each poll, left more times, then finishes. It
// allocates nothing, unlike the scripted tasks of the trace tests.
type waiter struct {
	line cortexm.Line
	left int
}

func (w *waiter) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if w.left == 0 {
		return true
	}
	w.left--
	ex.Wait(id, w.line)
	return false
}

// forever is a left count no test exhausts.
const forever = 1 << 30

func TestAllocsSpawn(t *testing.T) {
	r := newRig(t, cortexm.MaxSlots, 1)
	task := &waiter{left: forever}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.ex.Spawn(task); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Spawn into a free slot: %v allocs, want 0", allocs)
	}
}

func TestAllocsWaitAndUnwait(t *testing.T) {
	r := newRig(t, 1, 2)
	id, _ := r.ex.Spawn(&waiter{left: forever})
	r.ex.RunReady()
	allocs := testing.AllocsPerRun(100, func() {
		r.ex.Wait(id, 1)
		r.ex.Unwait(id, 1)
		r.ex.Wake(id)
	})
	if allocs != 0 {
		t.Errorf("Wait, Unwait and Wake: %v allocs, want 0", allocs)
	}
}

func TestAllocsOnInterrupt(t *testing.T) {
	r := newRig(t, 8, 2)
	for range 8 {
		r.ex.Spawn(&waiter{left: forever})
	}
	r.ex.RunReady()
	allocs := testing.AllocsPerRun(100, func() {
		r.ex.OnInterrupt(0) // 8 waiters polled
		r.ex.OnInterrupt(1) // nobody: latched
	})
	if allocs != 0 {
		t.Errorf("OnInterrupt: %v allocs, want 0", allocs)
	}
	if got := r.ex.Stats().Polls; got != 8+101*8 {
		t.Errorf("Stats.Polls %d, want %d", got, 8+101*8)
	}
}

// ticker waits for n expiries of a periodic timer.
type ticker struct {
	timer *sim.Timer
	line  cortexm.Line
	n     int
}

func (k *ticker) Poll(ex *cortexm.Executor, id cortexm.TaskID) bool {
	if k.timer.Expired() {
		k.timer.Clear()
		if k.n--; k.n == 0 {
			k.timer.Stop()
			return true
		}
	}
	ex.Wait(id, k.line)
	return false
}

func TestAllocsRun(t *testing.T) {
	r := newRig(t, 3, 3)
	var tasks [3]ticker
	for i := range tasks {
		tasks[i].timer = r.mcu.NewTimer(cortexm.Line(i))
		tasks[i].line = cortexm.Line(i)
	}
	allocs := testing.AllocsPerRun(20, func() {
		r.mcu.Reset()
		for i := range tasks {
			tasks[i].n = 5
			tasks[i].timer.StartPeriodic(uint64(10 * (i + 1)))
			if _, err := r.ex.Spawn(&tasks[i]); err != nil {
				t.Fatal(err)
			}
		}
		r.ex.Run()
	})
	if allocs != 0 {
		t.Errorf("Run: %v allocs, want 0", allocs)
	}
	if now := r.mcu.Now(); now != 150 {
		t.Errorf("Run ended at tick %d, want 150", now)
	}
}

// BenchmarkOnInterrupt measures one interrupt dispatch to n waiting tasks
// that each re-register; ns/task is the cost per waiting task.
func BenchmarkOnInterrupt(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			r := newRig(b, n, 1)
			for range n {
				r.ex.Spawn(&waiter{left: forever})
			}
			r.ex.RunReady()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.ex.OnInterrupt(0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/task")
		})
	}
}

// BenchmarkWait measures a Wait and the Unwait that undoes it.
func BenchmarkWait(b *testing.B) {
	r := newRig(b, 1, 1)
	id, _ := r.ex.Spawn(&waiter{left: forever})
	r.ex.RunReady()
	r.ex.Unwait(id, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.ex.Wait(id, 0)
		r.ex.Unwait(id, 0)
	}
}
