package executor

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The scheduler's hand-off channels are pooled process-wide. A channel made
// inside a synctest bubble belongs to that bubble: used outside it, it is a
// fatal error; a goroutine inside a bubble that waits on a channel made
// outside is not durably blocked, so the bubble's clock cannot advance.
// Tasks inside and outside bubbles, in the same process, must both work.

// queueSleepers runs n tasks on e's one worker that sleep d with their own
// contexts: they come due together, so all but one queue for the worker,
// each on its hand-off channel.
func queueSleepers(t *testing.T, e *Executor, n int, d time.Duration) {
	t.Helper()
	hs := make([]*JoinHandle[int], n)
	for i := range hs {
		hs[i] = Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, Sleep(ctx, d) })
	}
	for _, h := range hs {
		if _, err := h.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.Stats(); st.Completed != int64(n) {
		t.Fatalf("Stats %+v", st)
	}
}

func inBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := New(Options{Workers: 1, Backend: "portable"})
		if err != nil {
			t.Fatal(err)
		}
		queueSleepers(t, e, 20, time.Hour)
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func outsideBubble(t *testing.T) {
	queueSleepers(t, newExecutor(t, Options{Workers: 1}), 20, time.Millisecond)
}

// TestBubbleChild is the body of TestTasksInAndOutOfBubbles's child
// processes, which run it in a fresh process (a fatal error or a hang
// must not take this test binary with it).
func TestBubbleChild(t *testing.T) {
	switch os.Getenv("EXECUTOR_TEST_BUBBLE") {
	case "":
		t.Skip("run by TestTasksInAndOutOfBubbles")
	case "bubble-first":
		inBubble(t)
		outsideBubble(t)
	case "plain-first":
		outsideBubble(t)
		inBubble(t)
	case "two-bubbles":
		inBubble(t)
		inBubble(t)
	}
}

// TestTasksInAndOutOfBubbles: tasks that queue for a worker inside a
// synctest bubble, then outside it, or the other way round, or in two
// bubbles one after the other, in one process, all run.
func TestTasksInAndOutOfBubbles(t *testing.T) {
	for _, order := range []string{"bubble-first", "plain-first", "two-bubbles"} {
		t.Run(order, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBubbleChild$", "-test.v", "-test.timeout=10s")
			cmd.Env = append(os.Environ(), "EXECUTOR_TEST_BUBBLE="+order)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestBubbleChild") {
				head, _, _ := strings.Cut(string(out), "\ngoroutine ")
				if len(head) > 2000 {
					head = head[:2000]
				}
				t.Fatalf("child (%v):\n%s", err, head)
			}
		})
	}
}
