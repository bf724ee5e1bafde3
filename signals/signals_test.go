package signals

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("SIGNALS_TEST_CHILD") == "1" {
		child()
		return
	}
	os.Exit(m.Run())
}

// child waits on two shutdown tokens, reports their cancellation, and then
// hangs until the second signal ends the process.
func child() {
	a, b := NewShutdownToken(), NewShutdownToken()
	fmt.Println("ready")
	<-a.Done()
	<-b.Done()
	var se *SignalError
	if !errors.As(context.Cause(a), &se) {
		fmt.Println("bad cause:", context.Cause(a))
		os.Exit(3)
	}
	fmt.Println("cancelled by", se.Signal)
	select {} // only a second signal ends this
}

func TestSignals(t *testing.T) {
	for _, tc := range []struct {
		first, second syscall.Signal
		name          string
	}{
		{syscall.SIGINT, syscall.SIGINT, "interrupt"},
		{syscall.SIGTERM, syscall.SIGINT, "terminated"},
		{syscall.SIGINT, syscall.SIGTERM, "interrupt"},
	} {
		t.Run(fmt.Sprint(tc.first, "+", tc.second), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "SIGNALS_TEST_CHILD=1")
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewReader(out)
			expect := func(want string) {
				t.Helper()
				line, err := lines.ReadString('\n')
				if err != nil || strings.TrimSpace(line) != want {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child said %q (%v); want %q", line, err, want)
				}
			}
			expect("ready")
			cmd.Process.Signal(tc.first)
			expect("cancelled by " + tc.name)
			cmd.Process.Signal(tc.second)
			io.Copy(io.Discard, out)
			err = cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(tc.second) {
				t.Fatalf("exit code %d (%v); want %d", code, err, 128+int(tc.second))
			}
		})
	}
}
