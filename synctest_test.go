package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/executor-go/executor/internal/driver"
)

// TestSleepUnderSynctest: an executor created inside a synctest bubble runs
// on the bubble's fake clock, so code that sleeps for an hour tests in no
// time. (The portable backend is named here only to test it on its own;
// the default Options choose it inside a bubble, see
// TestSynctestWithDefaultOptions.)
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

// TestSynctestWithDefaultOptions: an executor made inside a bubble with
// the default Options does file I/O and then sleeps on the bubble's fake
// clock. io_uring's completion thread waits in a system call, which would
// keep the bubble from ever going idle, so inside a bubble the driver
// takes the portable backend and says why.
func TestSynctestWithDefaultOptions(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EXECUTOR_BACKEND", "") // the default choice, even where CI forces one
	bubbleOrHang(t, func(t *testing.T) {
		e, err := New(Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		h := Spawn(e.Context(), func(ctx context.Context) (string, error) {
			f, err := Open(ctx, name)
			if err != nil {
				return "", err
			}
			defer f.Close()
			buf := make([]byte, 5)
			if _, err := f.ReadAt(ctx, buf, 0); err != nil {
				return "", err
			}
			return string(buf), Sleep(ctx, time.Hour)
		})
		got, err := h.Join(context.Background())
		if got != "hello" || err != nil {
			t.Fatalf("Join = %q, %v", got, err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Fatalf("the task took %v of fake time; want 1h", d)
		}
		if e.Backend() != "portable" || !strings.Contains(e.BackendReason(), "synctest") {
			t.Errorf("inside a bubble: Backend() = %q (%s); want portable, saying why", e.Backend(), e.BackendReason())
		}
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSynctestWithRingOpenedOutside: an executor whose ring was set up
// outside the bubble serves tasks inside one; its completion thread is
// not a member, so the bubble goes idle while they sleep.
func TestSynctestWithRingOpenedOutside(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1, Backend: "uring"})
	if e.Backend() != "uring" {
		t.Skipf("io_uring unavailable: %s", e.BackendReason())
	}
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A task sleeps outside the bubble first: the executor's timers are
	// then made outside it too, and must not serve the bubble's sleeps.
	Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, Sleep(ctx, time.Millisecond) }).Join(context.Background())
	bubbleOrHang(t, func(t *testing.T) {
		start := time.Now()
		h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			f, err := Open(ctx, name)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			n, err := f.ReadAt(ctx, make([]byte, 5), 0)
			if err != nil {
				return n, err
			}
			return n, Sleep(ctx, time.Hour)
		})
		if n, err := h.Join(context.Background()); n != 5 || err != nil {
			t.Fatalf("Join = %d, %v", n, err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Fatalf("the task took %v of fake time; want 1h", d)
		}
	})
}

// TestSynctestRingRequestedInside: Options.Backend "uring" cannot work in
// a bubble; the first I/O says so instead of hanging the bubble.
func TestSynctestRingRequestedInside(t *testing.T) {
	bubbleOrHang(t, func(t *testing.T) {
		e, err := New(Options{Workers: 1, Backend: "uring"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(e.Context(), os.DevNull)
		if err == nil || !strings.Contains(err.Error(), "synctest") {
			t.Fatalf("Open with Backend \"uring\" in a bubble = %v; want an error naming synctest", err)
		}
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// bubbleOrHang runs f in a synctest bubble and fails the test, rather
// than hanging it, when the bubble has not ended after a minute of real
// time (the bubble's goroutines are then left behind: the test has
// failed).
func bubbleOrHang(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		synctest.Test(t, f)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the synctest bubble never went idle: hung")
	}
}

// TestInSynctestBubble: the check made by every Sleep and by the
// scheduler's pool tells a bubble from the outside.
func TestInSynctestBubble(t *testing.T) {
	if driver.InBubble() {
		t.Fatal("driver.InBubble() outside a bubble")
	}
	synctest.Test(t, func(t *testing.T) {
		if !driver.InBubble() {
			t.Fatal("!driver.InBubble() inside a bubble")
		}
		time.Sleep(time.Hour)
		if !driver.InBubble() {
			t.Fatal("!driver.InBubble() inside a bubble an hour on")
		}
	})
}

// TestSynctestThenOutside: tasks that queued for a worker inside a bubble
// leave nothing behind that tasks outside it then use. (The scheduler's
// pool of hand-off channels once handed a channel made in a bubble to a
// task outside it: "fatal error: receive on synctest channel from outside
// bubble", a crash of the whole process.)
func TestSynctestThenOutside(t *testing.T) {
	churn := func(e *Executor) {
		var hs []*JoinHandle[int]
		for range 200 {
			hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (int, error) {
				Yield(ctx) // queues for the one worker
				return 0, Sleep(ctx, time.Millisecond)
			}))
		}
		for _, h := range hs {
			if _, err := h.Join(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	bubbleOrHang(t, func(t *testing.T) {
		e, err := New(Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		churn(e)
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	churn(newExecutor(t, Options{Workers: 1}))
}
