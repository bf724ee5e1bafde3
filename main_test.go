package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runChild runs the body of a child process started by one of the tests
// below, and reports whether it did.
func runChild() bool {
	switch os.Getenv("EXECUTOR_TEST_CHILD") {
	case "":
		return false
	case "panic":
		e, _ := New(Options{Workers: 1})
		Spawn(e.Context(), func(ctx context.Context) (int, error) { panic("kaboom") }, WithName("doomed")).Join(context.Background())
		fmt.Println("survived")
		os.Exit(0)
	case "inline-panic": // a task that joins doomed runs it inline
		e, _ := New(Options{Workers: 1})
		Spawn(e.Context(), func(ctx context.Context) (int, error) {
			return Spawn(ctx, func(ctx context.Context) (int, error) { panic("kaboom") }, WithName("doomed")).Join(ctx)
		}, WithName("joiner")).Join(context.Background())
		fmt.Println("survived")
		os.Exit(0)
	case "main-ok":
		Main(func(ctx context.Context) error {
			v, err := Spawn(ctx, func(ctx context.Context) (int, error) { return 123, Sleep(ctx, time.Millisecond) }).Join(ctx)
			fmt.Println(v)
			if e, ok := FromContext(ctx); !ok || e != Default() {
				return errors.New("Main's executor is not the default")
			}
			return err
		})
	case "main-err":
		Main(func(ctx context.Context) error { return errors.New("it broke") })
	}
	panic("unreachable: Main returned")
}

// child runs this test binary as a child process in the given role.
func child(t *testing.T, role string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXECUTOR_TEST_CHILD="+role)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func TestPanicCrashesWithTaskName(t *testing.T) {
	stdout, stderr, code := child(t, "panic")
	if code != 2 || strings.Contains(stdout, "survived") {
		t.Fatalf("exit code %d, stdout %q; want a crash (2)", code, stdout)
	}
	for _, want := range []string{"task doomed panicked", "panic: kaboom", "runChild"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestMainExitCodes(t *testing.T) {
	stdout, stderr, code := child(t, "main-ok")
	if code != 0 || stdout != "123\n" {
		t.Errorf("Main returning nil: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stderr, code = child(t, "main-err")
	if code != 1 || stderr != "error: it broke\n" {
		t.Errorf("Main returning an error: exit %d, stderr %q", code, stderr)
	}
}

func TestRunReturnsRootError(t *testing.T) {
	errRoot := errors.New("root failed")
	if err := Run(Options{Workers: 1}, func(ctx context.Context) error { return errRoot }); err != errRoot {
		t.Fatalf("Run = %v", err)
	}
	if err := Run(Options{Workers: -3}, func(ctx context.Context) error { return nil }); err == nil {
		t.Fatal("Run with bad options succeeded")
	}
}

// TestRunWaitsForCleanupOnly: when the root returns, cleanup tasks see the
// shutdown token trip and are waited for; other tasks are neither waited for
// nor cancelled.
func TestRunWaitsForCleanupOnly(t *testing.T) {
	var flushed bool
	background := make(chan struct{})
	backgroundDone := make(chan struct{})
	err := Run(Options{Workers: 2}, func(ctx context.Context) error {
		tok := ShutdownToken()
		Spawn(ctx, func(ctx context.Context) (int, error) {
			<-tok.Done() // a cleanup task waits for the end of the program
			if !errors.Is(context.Cause(tok), ErrRootReturned) {
				return 0, fmt.Errorf("cause = %v", context.Cause(tok))
			}
			Sleep(ctx, 10*time.Millisecond)
			flushed = true
			return 0, nil
		}, AsCleanup(), WithName("flusher"))
		Spawn(ctx, func(ctx context.Context) (int, error) {
			defer close(backgroundDone)
			Block(ctx, func() (int, error) { <-background; return 0, nil })
			return 0, nil
		}, WithName("background"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !flushed {
		t.Fatal("Run returned before its cleanup task finished")
	}
	select {
	case <-backgroundDone:
		t.Fatal("a non-cleanup task ended before it was released: was it cancelled?")
	default:
	}
	close(background)
	<-backgroundDone
	if ShutdownToken().IsCancelled() {
		t.Fatal("the next run's shutdown token starts cancelled")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunLogsCleanupTasksPastGrace(t *testing.T) {
	var logs syncBuffer
	stuck := make(chan struct{})
	stuckDone := make(chan struct{})
	err := Run(Options{Workers: 1, ShutdownGrace: 300 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		func(ctx context.Context) error {
			Spawn(ctx, func(ctx context.Context) (int, error) {
				defer close(stuckDone)
				Block(ctx, func() (int, error) { <-stuck; return 0, nil })
				return 0, nil
			}, AsCleanup(), WithName("slow-flush"))
			Spawn(ctx, func(ctx context.Context) (int, error) { return 0, nil }, AsCleanup(), WithName("quick-flush"))
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "slow-flush") || strings.Contains(out, "quick-flush") {
		t.Fatalf("log = %q; want the unfinished cleanup task named, and only it", out)
	}
	close(stuck)
	<-stuckDone
}

// TestRunLeavesNothingBehind: once Run has returned and every task has
// ended, no goroutine of the executor is left: the I/O driver's completion
// thread included.
func TestRunLeavesNothingBehind(t *testing.T) {
	before := goleak.IgnoreCurrent()
	release := make(chan struct{})
	orphanDone := make(chan struct{})
	name := t.TempDir() + "/f"
	err := Run(Options{Workers: 2}, func(ctx context.Context) error {
		f, err := Create(ctx, name)
		if err != nil {
			return err
		}
		defer f.Close()
		// An orphan task still doing I/O after the root returns.
		Spawn(ctx, func(ctx context.Context) (int, error) {
			defer close(orphanDone)
			Block(ctx, func() (int, error) { <-release; return 0, nil })
			g, err := Open(ctx, name)
			if err != nil {
				return 0, err
			}
			return 0, g.Close()
		})
		_, err = f.Write(ctx, []byte("x"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	<-orphanDone
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}
