package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fault suite: the driver's set-up and first use under faults that a
// test cannot inject in its own process without disturbing the others
// (lowered RLIMIT_NOFILE and RLIMIT_MEMLOCK, a seccomp filter, the
// kernel.io_uring_disabled sysctl). Each case runs TestFaultChild in a
// child process (this test binary, run again), which checks that every
// step ends in a working executor or a clear error and that Backend and
// BackendReason say what happened; the parent turns a hang into a failure
// with the child's goroutines dumped.

// faultCaseEnv names the case a child runs; faultURingEnv says whether the
// parent found io_uring usable.
const (
	faultCaseEnv  = "EXECUTOR_FAULT_CASE"
	faultURingEnv = "EXECUTOR_FAULT_URING"
	// faultSysctlEnv lets the suite flip kernel.io_uring_disabled, which is
	// machine-wide: another test binary opening a ring meanwhile (go test
	// ./... runs packages side by side) would see io_uring refused. .ci/run
	// sets it in a block of its own, with nothing else running.
	faultSysctlEnv = "EXECUTOR_FAULT_SYSCTL"
)

const ioUringDisabled = "/proc/sys/kernel/io_uring_disabled"

func TestDriverFaults(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the faults are Linux's")
	}
	probe, err := New(Options{Backend: "uring"})
	if err != nil {
		t.Fatal(err)
	}
	uringOK := probe.Backend() == "uring"
	probe.Shutdown(context.Background())
	if !uringOK {
		t.Logf("io_uring unavailable here (%s): the cases check the portable backend only", probe.BackendReason())
	}
	for _, c := range []string{"nofile", "nofile-eventfd", "nofile-sockets", "memlock", "memlock-nofile", "seccomp-eperm", "seccomp-enosys"} {
		t.Run(c, func(t *testing.T) { runFaultChild(t, c, uringOK) })
	}
	t.Run("sysctl", func(t *testing.T) {
		if os.Getenv(faultSysctlEnv) != "1" {
			t.Skipf("kernel.io_uring_disabled is machine-wide and would refuse io_uring to every process meanwhile: set %s=1 where nothing else runs (.ci/run does)", faultSysctlEnv)
		}
		old, err := os.ReadFile(ioUringDisabled)
		if err != nil {
			t.Skipf("kernel.io_uring_disabled not here (Linux before 6.6?): %v", err)
		}
		if err := os.WriteFile(ioUringDisabled, []byte("2"), 0); err != nil {
			t.Skipf("may not set kernel.io_uring_disabled: %v", err)
		}
		defer func() {
			if err := os.WriteFile(ioUringDisabled, old, 0); err != nil {
				t.Errorf("restoring kernel.io_uring_disabled to %s: %v", bytes.TrimSpace(old), err)
			}
		}()
		runFaultChild(t, "sysctl", uringOK)
	})
}

// runFaultChild runs TestFaultChild in a child process for case c.
func runFaultChild(t *testing.T, c string, uringOK bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFaultChild$", "-test.v", "-test.count=1")
	// On a hang, SIGQUIT makes the child print every goroutine.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EXECUTOR_BACKEND=") { // the cases pick their backends
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, faultCaseEnv+"="+c, fmt.Sprintf("%s=%t", faultURingEnv, uringOK))
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("case %s hung; the child's goroutines:\n%s", c, out)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestFaultChild")) {
		t.Fatalf("case %s failed (%v):\n%s", c, err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(line, "fault_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// TestFaultChild is the body of a child of TestDriverFaults.
func TestFaultChild(t *testing.T) {
	c := os.Getenv(faultCaseEnv)
	if c == "" {
		t.Skip("run by TestDriverFaults in a child process")
	}
	uringOK := os.Getenv(faultURingEnv) == "true"
	f := &faultChild{t: t, uringOK: uringOK, dir: t.TempDir()}
	switch c {
	case "nofile":
		f.nofile()
	case "nofile-eventfd":
		f.nofileEventfd()
	case "nofile-sockets":
		f.nofileSockets()
	case "memlock":
		f.memlock(false)
	case "memlock-nofile":
		f.memlock(true)
	case "seccomp-eperm":
		f.refused(func() { installSeccompRefusal(t, unix.EPERM) }, "operation not permitted")
	case "seccomp-enosys":
		f.refused(func() { installSeccompRefusal(t, unix.ENOSYS) }, "function not implemented")
	case "sysctl":
		f.refused(func() {}, "operation not permitted")
	default:
		t.Fatalf("unknown fault case %q", c)
	}
}

type faultChild struct {
	t       *testing.T
	uringOK bool
	dir     string
}

// newExecutor returns an executor shut down at the end of the case.
func (f *faultChild) newExecutor(backend string) *Executor {
	return newExecutor(f.t, Options{Workers: 2, Backend: backend})
}

// works checks that e's backend is want and that a file written and read
// back through it holds what was written.
func (f *faultChild) works(e *Executor, want string) {
	t := f.t
	t.Helper()
	if got := e.Backend(); got != want {
		t.Fatalf("Backend() = %q (%s); want %q", got, e.BackendReason(), want)
	}
	ctx := e.Context()
	file, err := Create(ctx, filepath.Join(f.dir, "works"))
	if err != nil {
		t.Fatalf("on a healed executor: %v", err)
	}
	defer file.Close()
	if _, err := file.WriteAt(ctx, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := file.ReadAt(ctx, buf, 0); n != 5 || err != nil || string(buf) != "hello" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, buf)
	}
	t.Logf("working: backend %s (%s)", e.Backend(), e.BackendReason())
}

// best is the backend the default Options should end on.
func (f *faultChild) best() string {
	if f.uringOK {
		return "uring"
	}
	return "portable"
}

// nofile: every descriptor taken when the driver first opens. The call
// fails with EMFILE, Backend says nothing was opened and why, and once
// descriptors are back the same executor sets io_uring up: the shortage
// did not pin it to the portable backend.
func (f *faultChild) nofile() {
	t := f.t
	for _, backend := range []string{"", "uring", "portable"} {
		if backend == "uring" && !f.uringOK {
			continue
		}
		e := f.newExecutor(backend)
		hold := exhaustFDs(t, 0)
		_, err := Create(e.Context(), filepath.Join(f.dir, "f"))
		if !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("Backend %q, no descriptor free: Create = %v; want an error wrapping EMFILE", backend, err)
		}
		t.Logf("Backend %q, no descriptor free: %v", backend, err)
		if backend != "portable" && f.uringOK {
			if got, why := e.Backend(), e.BackendReason(); got != "" || !strings.Contains(why, "too many open files") {
				t.Fatalf("Backend() = %q (%s) during the shortage; want \"\" and the EMFILE", got, why)
			}
		}
		hold.release()
		want := backend
		if want == "" {
			want = f.best()
		}
		f.works(e, want)
	}
}

// nofileEventfd: one descriptor free, taken by the ring, so that the
// completion thread's eventfd fails: the half-made ring is released and
// the next call, with descriptors back, succeeds.
func (f *faultChild) nofileEventfd() {
	t := f.t
	if !f.uringOK {
		t.Skip("io_uring unavailable")
	}
	e := f.newExecutor("")
	hold := exhaustFDs(t, 1)
	if got, why := e.Backend(), e.BackendReason(); got != "" || !strings.Contains(why, "too many open files") {
		t.Fatalf("one descriptor free: Backend() = %q (%s); want \"\" and the EMFILE", got, why)
	}
	t.Logf("one descriptor free: %s", e.BackendReason())
	if n := openFDs(t); n != hold.held+hold.base {
		t.Fatalf("%d descriptors open after the failed set-up; want %d (the ring leaked)", n, hold.held+hold.base)
	}
	hold.release()
	f.works(e, "uring")
}

// nofileSockets: the driver is up, and then descriptors run out: Listen,
// Dial and an Accept of a waiting connection fail with EMFILE on every
// socket path, and work again once descriptors are back.
func (f *faultChild) nofileSockets() {
	t := f.t
	paths := []struct {
		name string
		opts Options
	}{{"portable", Options{Backend: "portable"}}}
	if f.uringOK {
		paths = append(paths, struct {
			name string
			opts Options
		}{"uring", Options{Backend: "uring"}}, struct {
			name string
			opts Options
		}{"ring", Options{Backend: "uring", RingSockets: true}})
	}
	for _, p := range paths {
		p.opts.Workers = 2
		e := newExecutor(t, p.opts)
		ctx := e.Context()
		e.Backend() // the driver opens with descriptors to spare
		l, err := Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peer, err := net.Dial("tcp", l.Addr().String()) // waits in the backlog
		if err != nil {
			t.Fatal(err)
		}
		hold := exhaustFDs(t, 0)
		if _, err := Listen(ctx, "tcp", "127.0.0.1:0"); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("%s: Listen with no descriptor free = %v; want EMFILE", p.name, err)
		}
		if _, err := Dial(ctx, "tcp", l.Addr().String()); !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("%s: Dial with no descriptor free = %v; want EMFILE", p.name, err)
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = l.Accept(actx)
		cancel()
		if !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("%s: Accept with no descriptor free = %v; want EMFILE", p.name, err)
		}
		t.Logf("%s, no descriptor free: Accept: %v", p.name, err)
		hold.release()
		c, err := l.Accept(ctx)
		if err != nil {
			t.Fatalf("%s: Accept after the shortage: %v", p.name, err)
		}
		if _, err := peer.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1)
		if n, err := c.Read(ctx, buf); n != 1 || err != nil {
			t.Fatalf("%s: Read after the shortage = %d, %v", p.name, n, err)
		}
		c.Close()
		peer.Close()
		l.Close()
		f.works(e, e.Backend())
	}
}

// memlock: RLIMIT_MEMLOCK at 0 when the driver first opens. Since Linux
// 5.12 rings are charged to the memory cgroup, not to this limit, so the
// ring comes up; before, the set-up fails with ENOMEM, which is a
// shortage: the call fails, and the next one after the limit is raised
// sets io_uring up. Either way the case ends on a working executor. With
// nofile, descriptors are short too.
func (f *faultChild) memlock(nofile bool) {
	t := f.t
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: 0, Max: lim.Max}); err != nil {
		t.Fatal(err)
	}
	e := f.newExecutor("")
	var hold *fdHold
	if nofile {
		hold = exhaustFDs(t, 0)
	}
	got, why := e.Backend(), e.BackendReason()
	t.Logf("RLIMIT_MEMLOCK 0 (nofile %v): Backend() = %q (%s)", nofile, got, why)
	switch {
	case got == f.best() && !nofile:
		// The kernel does not charge rings to RLIMIT_MEMLOCK.
	case got == "" && (strings.Contains(why, "cannot allocate memory") || strings.Contains(why, "too many open files")):
		// A shortage: reported, and not remembered.
	default:
		t.Fatalf("RLIMIT_MEMLOCK 0: Backend() = %q (%s); want %q or a shortage", got, why, f.best())
	}
	if hold != nil {
		hold.release()
	}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	f.works(e, f.best())
}

// refused: io_uring refused for good (by refuse: a seccomp filter, or the
// sysctl the parent set). The default Options take the portable backend,
// say why, and keep it; Options.Backend "uring" is an error naming the
// refusal, every time.
func (f *faultChild) refused(refuse func(), why string) {
	t := f.t
	refuse()
	e := f.newExecutor("")
	for range 2 {
		f.works(e, "portable")
		if r := e.BackendReason(); !strings.Contains(r, why) {
			t.Fatalf("BackendReason() = %q; want it to say %q", r, why)
		}
	}
	u := f.newExecutor("uring")
	for range 2 {
		_, err := Create(u.Context(), filepath.Join(f.dir, "f"))
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Fatalf("Backend \"uring\", refused: Create = %v; want an error saying %q", err, why)
		}
		if got, r := u.Backend(), u.BackendReason(); got != "" || !strings.Contains(r, why) {
			t.Fatalf("Backend \"uring\", refused: Backend() = %q (%s)", got, r)
		}
	}
	t.Logf("refused: default Options on portable (%s); Backend \"uring\": %s", e.BackendReason(), u.BackendReason())
}

// fdHold is a set of descriptors taken to exhaust the process's limit;
// its release gives them back and restores the limit.
type fdHold struct {
	held, base int // descriptors taken, and open before
	release    func()
}

// exhaustFDs lowers RLIMIT_NOFILE a little above the descriptors in use
// and takes every descriptor below it except free of them.
func exhaustFDs(t *testing.T, free int) *fdHold {
	t.Helper()
	// Make the runtime open its poller's descriptors now, not in the
	// middle of the case.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	base := openFDs(t)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(maxFD(t) + 64), Max: lim.Max}); err != nil {
		t.Fatal(err)
	}
	var held []int
	for {
		fd, err := unix.Dup(2)
		if errors.Is(err, unix.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, fd)
	}
	for _, fd := range held[len(held)-free:] {
		unix.Close(fd)
	}
	held = held[:len(held)-free]
	h := &fdHold{held: len(held), base: base}
	h.release = func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// maxFD returns the highest open descriptor.
func maxFD(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := 0
	for _, e := range ents {
		var fd int
		fmt.Sscan(e.Name(), &fd)
		m = max(m, fd)
	}
	return m
}

// installSeccompRefusal makes io_uring_setup fail with errno in every
// thread of this process, as a container's seccomp profile does. It
// cannot be undone: only children of TestDriverFaults call it.
func installSeccompRefusal(t *testing.T, errno unix.Errno) {
	t.Helper()
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = 0xc000003e // AUDIT_ARCH_X86_64
	case "arm64":
		arch = 0xc00000b7 // AUDIT_ARCH_AARCH64
	default:
		t.Skipf("no seccomp filter written for %s", runtime.GOARCH)
	}
	const (
		ldAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret     = unix.BPF_RET | unix.BPF_K
		nrSetup = 425 // io_uring_setup, the same number on every architecture
	)
	prog := []unix.SockFilter{
		{Code: ldAbs, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 3, K: arch},
		{Code: ldAbs, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 0, Jf: 1, K: nrSetup},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		t.Skipf("seccomp filter refused: %v", e)
	}
	runtime.KeepAlive(prog)
}
