package executor

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestSleepUnderSynctest: an executor created inside a synctest bubble runs
// on the bubble's fake clock, so code that sleeps for an hour tests in no
// time.
func TestSleepUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := New(Options{Workers: 1, Backend: "portable"})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		b := NewTaskResultBundle(e.Context())
		for i := 1; i <= 3; i++ {
			b.Spawn("sleeper", func(ctx context.Context) error {
				return Sleep(ctx, time.Duration(i)*time.Hour)
			})
		}
		if err := b.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 3*time.Hour {
			t.Fatalf("the sleepers took %v of fake time; want 3h (they sleep side by side)", got)
		}
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
