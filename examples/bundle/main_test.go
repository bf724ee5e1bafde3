package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"slices"
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

// start starts cmd and returns its standard output, line by line.
func start(t *testing.T, cmd *exec.Cmd) *bufio.Scanner {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return bufio.NewScanner(out)
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
	lines := start(t, cmd)
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

// TestDumpOnRequest: SIGUSR1 prints a task dump that names each member
// and what it waits on, and the program goes on until Ctrl-C; -dump-after
// prints one by itself.
func TestDumpOnRequest(t *testing.T) {
	for _, how := range []string{"signal", "flag"} {
		t.Run(how, func(t *testing.T) {
			args := "-interval 5ms -report 10ms"
			if how == "flag" {
				args += " -dump-after 50ms"
			}
			cmd := command(args)
			lines := start(t, cmd)
			var got []string
			dump := map[string][]string{} // member name -> fields of its line
			inDump, metrics := false, 0
			for lines.Scan() {
				line := lines.Text()
				got = append(got, line)
				switch {
				case strings.HasPrefix(line, "metrics:"):
					if metrics++; metrics == 2 && how == "signal" {
						cmd.Process.Signal(syscall.SIGUSR1)
					}
					inDump = false
				case line == "task dump:":
					inDump = true
				case inDump:
					if f := strings.Fields(line); len(f) >= 5 {
						dump[f[1]] = f
					}
					if len(dump) == 4 && metrics < 1000 {
						metrics = 1000 // seen: ask to stop
						cmd.Process.Signal(syscall.SIGINT)
					}
				}
			}
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("exit code %d; want 0\n%s", code, strings.Join(got, "\n"))
			}
			for _, member := range []string{"accept", "metrics", "health", "dump"} {
				f := dump[member]
				if f == nil {
					t.Errorf("the dump has no line for %q:\n%s", member, strings.Join(got, "\n"))
					continue
				}
				// health sleeps for good and dump is the task printing;
				// accept and metrics wake up now and then.
				want := map[string]string{"accept": "sleep -", "metrics": "sleep -", "health": "sleep", "dump": "-"}[member]
				if !slices.Contains(strings.Fields(want), f[3]) {
					t.Errorf("%s waits on %q; want one of %q (line %q)", member, f[3], want, strings.Join(f, " "))
				}
			}
		})
	}
}
