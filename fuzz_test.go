package executor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzSchedule interprets the input as a program of tasks that compute,
// yield, sleep, block, spawn and join, runs it on a small executor, and
// checks the scheduler's invariants: every task ends, never more than
// Workers run at once, and the counters agree once everything has ended.
func FuzzSchedule(f *testing.F) {
	f.Add(uint8(1), []byte{0, 1, 2, 3, 4, 5, 6})
	f.Add(uint8(2), []byte{4, 4, 4, 5, 5, 1, 1, 1, 6, 6, 3})
	f.Add(uint8(3), []byte{1, 1, 1, 1, 2, 2, 2, 4, 5, 0, 3, 6, 6, 6, 4, 4, 4, 4})
	f.Fuzz(func(t *testing.T, workers uint8, program []byte) {
		w := int(workers%4) + 1
		if len(program) > 64 {
			program = program[:64]
		}
		e, err := New(Options{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		var running, over, spawned atomic.Int64
		enter := func() {
			if running.Add(1) > int64(w) {
				over.Add(1)
			}
		}
		leave := func() { running.Add(-1) }
		// step runs program[i:] as one task; op 4 spawns the rest of the
		// program as a child, op 5 joins the children spawned so far.
		var step func(ctx context.Context, i int) (int, error)
		step = func(ctx context.Context, i int) (int, error) {
			enter()
			var children []*JoinHandle[int]
			n := 0
			for ; i < len(program); i++ {
				switch program[i] % 7 {
				case 0: // compute
					n++
				case 1:
					leave()
					Yield(ctx)
					enter()
				case 2:
					leave()
					Sleep(ctx, time.Duration(program[i]%3)*time.Microsecond)
					enter()
				case 3:
					leave()
					Block(ctx, func() (int, error) { return 0, nil })
					enter()
				case 4:
					if spawned.Add(1) > 256 { // children run the rest of the program: keep the tree small
						continue
					}
					j := i + 1
					children = append(children, Spawn(ctx, func(ctx context.Context) (int, error) { return step(ctx, j) }))
					i += int(program[i] % 3) // the child runs some ops this task skips
				case 5, 6:
					leave()
					for _, c := range children {
						v, err := c.Join(ctx)
						if err != nil {
							return 0, err
						}
						n += v
					}
					children = children[:0]
					enter()
				}
			}
			leave()
			for _, c := range children { // join the rest, as a bundle would
				v, _ := c.Join(ctx)
				n += v
			}
			return n + 1, nil
		}
		if _, err := Spawn(e.Context(), func(ctx context.Context) (int, error) { return step(ctx, 0) }).Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v (stats %+v)", err, e.Stats())
		}
		st := e.Stats()
		if over.Load() > 0 || st.MaxRunning > int64(w) {
			t.Fatalf("more than %d tasks ran at once (MaxRunning %d)", w, st.MaxRunning)
		}
		if st.Spawned != st.Completed || st.Running != 0 || st.Runnable != 0 || st.Waiting != 0 {
			t.Fatalf("counters after the end: %+v", st)
		}
	})
}
