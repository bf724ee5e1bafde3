package driver

import (
	"context"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestThreadClock checks the clock that ThreadCPU reads another thread's
// CPU time from against the calling thread's own (CLOCK_THREAD_CPUTIME_ID):
// a wrong clock ID would read some other clock, or fail.
func TestThreadClock(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		// Spin, so that the thread has run for a while.
	}
	var own, byID unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &own); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(threadClock(unix.Gettid()), &byID); err != nil {
		t.Fatalf("clock of thread %d: %v", unix.Gettid(), err)
	}
	if d := byID.Nano() - own.Nano(); own.Nano() < int64(10*time.Millisecond) || d < 0 || d > int64(5*time.Millisecond) {
		t.Errorf("thread CPU %v by its ID, %v by CLOCK_THREAD_CPUTIME_ID", time.Duration(byID.Nano()), time.Duration(own.Nano()))
	}
}

// TestThreadCPU checks Stats.ThreadCPU: it grows while the completion
// thread serves requests, stays within the process's CPU time, and keeps
// its last value once the thread has stopped serving the ring (the runtime
// may then run other goroutines on it).
func TestThreadCPU(t *testing.T) {
	cfg := defaultConfig
	cfg.nowait, cfg.blocking = false, false // every read through the ring
	d := newTestUring(t, cfg)
	fd, _ := openTemp(t, d, 1<<20, unix.O_RDONLY)
	before := d.Stats().ThreadCPU
	p := make([]byte, 4096)
	for i := range 5000 {
		if _, err := d.ReadAt(context.Background(), fd, p, int64(i%256)*4096); err != nil {
			t.Fatal(err)
		}
	}
	running := d.Stats().ThreadCPU
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	process := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if running <= before || running > process {
		t.Errorf("ThreadCPU %v before 5,000 ring reads, %v after; the process has run %v", before, running, process)
	}
	unix.Close(fd)
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	ended := d.Stats().ThreadCPU
	if ended < running || d.Stats().ThreadCPU != ended {
		t.Errorf("ThreadCPU %v while running, %v then %v once the thread ended", running, ended, d.Stats().ThreadCPU)
	}

	pd := newPortable("test")
	defer pd.Shutdown()
	if got := pd.Stats().ThreadCPU; got != 0 {
		t.Errorf("portable ThreadCPU = %v", got)
	}
}
