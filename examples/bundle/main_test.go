package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("BUNDLE_EXAMPLE") == "1" {
		os.Args = append([]string{"bundle"}, strings.Fields(os.Getenv("BUNDLE_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

func command(args string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BUNDLE_EXAMPLE=1", "BUNDLE_ARGS="+args)
	return cmd
}

func TestFailingMemberStopsTheProgram(t *testing.T) {
	cmd := command("-fail-after 100ms -interval 5ms")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit code %d; want 1\n%s%s", code, stdout.String(), stderr.String())
	}
	if got := stderr.String(); got != "error: task \"health\": disk full\n" {
		t.Fatalf("stderr = %q", got)
	}
	if !strings.Contains(stdout.String(), "accept: stopped after") {
		t.Fatalf("the accept loop did not drain:\n%s", stdout.String())
	}
}

func TestInterruptStopsCleanly(t *testing.T) {
	cmd := command("-interval 5ms -report 10ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
		if len(got) == 1 { // running: the first metrics line is out
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after Ctrl-C; want 0\n%s", code, strings.Join(got, "\n"))
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "stopped: served") {
		t.Fatalf("last line %q", last)
	}
}
