package executor

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/executor-go/executor/internal/driver"
	"golang.org/x/sys/unix"
)

// taskNamed returns the live task with the given name, if there is one.
func taskNamed(e *Executor, name string) (TaskInfo, bool) {
	for _, ti := range e.Tasks() {
		if ti.Name == name {
			return ti, true
		}
	}
	return TaskInfo{}, false
}

// waitForTask polls Tasks until the task named name reports the state and
// wait given, and returns it.
func waitForTask(t *testing.T, e *Executor, name, state, wait string) TaskInfo {
	t.Helper()
	var last TaskInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		ti, ok := taskNamed(e, name)
		if ok && ti.State == state && ti.Wait == wait {
			return ti
		}
		last = ti
		if time.Now().After(deadline) {
			t.Fatalf("task %q: last seen as %+v; want state %q, wait %q", name, last, state, wait)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// blockedWait is one row of TestTasksShowEveryWait. setup returns block,
// which waits in the task (it returns when the wait ends), unblock, which
// ends the wait from the test's goroutine, and the path or address that
// Wait should name after kind, if any.
type blockedWait struct {
	kind    string
	name    string // of the subtest; kind if empty
	setup   func(t *testing.T, e *Executor) (block func(ctx context.Context) error, unblock func(), arg string)
	workers int // 0: 2
}

// plain makes the setup of a row whose wait names nothing.
func plain(setup func(t *testing.T, e *Executor) (func(context.Context) error, func())) func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
	return func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
		block, unblock := setup(t, e)
		return block, unblock, ""
	}
}

// TestTasksShowEveryWait: a task blocked in each kind of wait shows it in
// Tasks, with the file's path or the peer's address where there is one, on
// both backends.
func TestTasksShowEveryWait(t *testing.T) {
	for _, backend := range []string{"uring", "portable"} {
		t.Run(backend, func(t *testing.T) {
			for _, w := range blockedWaits() {
				if w.name == "" {
					w.name = w.kind
				}
				t.Run(w.name, func(t *testing.T) {
					workers := w.workers
					if workers == 0 {
						workers = 2
					}
					e := newExecutor(t, Options{Workers: workers, Backend: backend})
					if e.Backend() != backend {
						t.Skipf("backend %s unavailable: %s", backend, e.BackendReason())
					}
					block, unblock, arg := w.setup(t, e)
					want := w.kind
					if arg != "" {
						want += " " + arg
					}
					h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
						return 0, block(ctx)
					}, WithName("blocked"))
					state := "waiting"
					if w.kind == "yield" {
						state = "runnable"
					}
					ti := waitForTask(t, e, "blocked", state, want)
					if ti.Since.Before(ti.Spawned) || time.Since(ti.Since) < 0 {
						t.Errorf("Spawned %v, Since %v: not in order before now", ti.Spawned, ti.Since)
					}
					unblock()
					// Some rows unblock by cancelling or closing.
					_, err := h.Join(context.Background())
					if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, fs.ErrClosed) && !errors.Is(err, net.ErrClosed) {
						t.Fatalf("the blocked task returned %v", err)
					}
					if _, ok := taskNamed(e, "blocked"); ok {
						t.Errorf("the task still shows after Join")
					}
				})
			}
		})
	}
}

// blockedWaits lists the rows of TestTasksShowEveryWait.
func blockedWaits() []blockedWait {
	return []blockedWait{
		{kind: "sleep", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			tok := NewCancellationToken()
			return func(ctx context.Context) error { return Sleep(tok.Bind(ctx), time.Hour) }, tok.Cancel
		})},
		{kind: "join", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			var ev Event
			return func(ctx context.Context) error {
				_, err := Spawn(ctx, func(ctx context.Context) (int, error) { return 0, ev.Wait(ctx) }).Join(ctx)
				return err
			}, ev.Set
		})},
		{kind: "yield", workers: 1, setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			// The blocked task yields to a task that holds the only
			// worker until told to stop.
			var stop atomic.Bool
			return func(ctx context.Context) error {
					Spawn(ctx, func(ctx context.Context) (int, error) {
						for !stop.Load() {
							runtime.Gosched() // holding the worker
						}
						return 0, nil
					})
					Yield(ctx)
					return nil
				}, func() {
					waitForTask(t, e, "blocked", "runnable", "yield")
					stop.Store(true)
				}
		})},
		{kind: "block", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			ch := make(chan struct{})
			return func(ctx context.Context) error {
				_, err := Block(ctx, func() (int, error) { <-ch; return 0, nil })
				return err
			}, func() { close(ch) }
		})},
		{kind: "mutex", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			var m Mutex
			m.Lock(context.Background())
			return func(ctx context.Context) error {
				if err := m.Lock(ctx); err != nil {
					return err
				}
				m.Unlock()
				return nil
			}, m.Unlock
		})},
		{kind: "semaphore", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			s := NewSemaphore(1)
			s.Acquire(context.Background(), 1)
			return func(ctx context.Context) error {
				if err := s.Acquire(ctx, 1); err != nil {
					return err
				}
				s.Release(1)
				return nil
			}, func() { s.Release(1) }
		})},
		{kind: "event", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			var ev Event
			return ev.Wait, ev.Set
		})},
		{kind: "waitgroup", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			var g WaitGroup
			g.Add(1)
			return g.Wait, g.Done
		})},
		{kind: "recv", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			ch := make(chan int)
			return func(ctx context.Context) error {
				_, _, err := Recv(ctx, ch)
				return err
			}, func() { close(ch) }
		})},
		{kind: "send", setup: plain(func(t *testing.T, e *Executor) (func(context.Context) error, func()) {
			ch := make(chan int)
			return func(ctx context.Context) error { return Send(ctx, ch, 1) }, func() { <-ch }
		})},
		fifoWait("read-file", "read", func(ctx context.Context, f *File) error {
			_, err := f.Read(ctx, make([]byte, 1))
			return err
		}),
		fifoWait("write-file", "write", func(ctx context.Context, f *File) error {
			_, err := f.Write(ctx, make([]byte, 4<<20)) // more than the pipe holds
			return err
		}),
		{kind: "open", setup: func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
			// Opening a FIFO for reading waits for a writer. (O_CREAT,
			// which changes nothing for an existing FIFO, keeps io_uring
			// from trying the open with O_NONBLOCK first, which would
			// not wait.)
			path := fifoPath(t)
			return func(ctx context.Context) error {
					f, err := OpenFile(ctx, path, os.O_RDONLY|os.O_CREATE, 0o600)
					if err == nil {
						f.Close()
					}
					return err
				}, func() {
					w, err := os.OpenFile(path, os.O_WRONLY, 0)
					if err != nil {
						t.Fatal(err)
					}
					w.Close()
				}, path
		}},
		{kind: "sync", setup: func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
			// No real fsync waits reliably long enough to be seen: a
			// driver whose Fsync waits for the test stands in.
			d, err := e.driver()
			if err != nil {
				t.Fatal(err)
			}
			slow := &slowSync{Driver: d, release: make(chan struct{})}
			f := &File{name: "/slow/file", fd: -1, d: slow}
			return f.Sync, func() { close(slow.release) }, f.name
		}},
		socketWait("read-socket", "read", func(ctx context.Context, c *Conn, _ *Listener) error {
			_, err := c.Read(ctx, make([]byte, 1))
			return err
		}),
		socketWait("write-socket", "write", func(ctx context.Context, c *Conn, _ *Listener) error {
			// The peer reads nothing: the socket buffers fill up.
			_, err := c.Write(ctx, make([]byte, 64<<20))
			return err
		}),
		socketWait("accept", "accept", func(ctx context.Context, _ *Conn, l *Listener) error {
			c, err := l.Accept(ctx)
			if err == nil {
				c.Close()
			}
			return err
		}),
		connectWait(),
	}
}

// slowSync is a driver whose Fsync waits until release is closed.
type slowSync struct {
	driver.Driver
	release chan struct{}
}

func (s *slowSync) Fsync(ctx context.Context, fd int, datasync bool) error {
	<-s.release
	return nil
}

// fifoPath returns the path of a new FIFO.
func fifoPath(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fifoWait is a row whose task reads or writes a FIFO that the test
// drains or feeds to unblock it.
func fifoWait(name, op string, wait func(ctx context.Context, f *File) error) blockedWait {
	return blockedWait{name: name, kind: op, setup: func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
		path := fifoPath(t)
		// O_RDWR opens a FIFO without waiting for the other end.
		f, err := OpenFile(e.Context(), path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return func(ctx context.Context) error { return wait(ctx, f) }, func() {
			// Closing the File cancels the operation in flight.
			f.Close()
		}, path
	}}
}

// socketWait is a row whose task waits on a connected socket (or its
// listener); the test closes them to unblock it.
func socketWait(name, op string, wait func(ctx context.Context, c *Conn, l *Listener) error) blockedWait {
	return blockedWait{name: name, kind: op, setup: func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
		l, err := Listen(e.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var c *Conn
		peer, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if c, err = l.Accept(e.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { peer.Close(); c.Close(); l.Close() })
		arg := c.RemoteAddr().String()
		if op == "accept" {
			arg = l.Addr().String()
		}
		return func(ctx context.Context) error { return wait(ctx, c, l) }, func() { c.Close(); l.Close() }, arg
	}}
}

// connectWait is the row of a Dial to a listener whose accept queue is
// full: Linux drops the SYN, and the connect waits for a retry.
func connectWait() blockedWait {
	return blockedWait{kind: "connect", setup: func(t *testing.T, e *Executor) (func(context.Context) error, func(), string) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 0); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
		// Fill the accept queue (a backlog of 0 holds one connection).
		for range 2 {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}
		tok := NewCancellationToken()
		return func(ctx context.Context) error {
			c, err := Dial(tok.Bind(ctx), "tcp", addr)
			if err == nil {
				c.Close()
				return errors.New("the connect did not wait")
			}
			return nil
		}, tok.Cancel, addr
	}}
}

// TestTasksStatesAndAges: a running, a runnable and a waiting task show
// their states, with Spawned and Since inside the intervals in which the
// test saw them spawned and change state; an ended task disappears.
func TestTasksStatesAndAges(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var stop atomic.Bool
	tok := NewCancellationToken()

	beforeSleeper := time.Now()
	sleeper := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		return 0, Sleep(tok.Bind(ctx), time.Hour)
	}, WithName("sleeper"))
	slept := waitForTask(t, e, "sleeper", "waiting", "sleep")
	afterSleeper := time.Now()

	beforeHog := time.Now()
	hog := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		for !stop.Load() {
			runtime.Gosched() // holds the only worker
		}
		return 0, nil
	}, WithName("hog"))
	running := waitForTask(t, e, "hog", "running", "")
	queued := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, nil }, WithName("queued"))
	runnable := waitForTask(t, e, "queued", "runnable", "")
	afterQueued := time.Now()

	within := func(what string, got, lo, hi time.Time) {
		t.Helper()
		if got.Before(lo) || got.After(hi) {
			t.Errorf("%s = %v, not within [%v, %v]", what, got.Format(time.StampNano), lo.Format(time.StampNano), hi.Format(time.StampNano))
		}
	}
	within("sleeper's Spawned", slept.Spawned, beforeSleeper, afterSleeper)
	within("sleeper's Since", slept.Since, slept.Spawned, afterSleeper)
	within("hog's Spawned", running.Spawned, beforeHog, afterQueued)
	within("hog's Since", running.Since, running.Spawned, afterQueued)
	within("queued's Since", runnable.Since, runnable.Spawned, afterQueued)

	// Ages grow while the states stay.
	time.Sleep(20 * time.Millisecond)
	again, _ := taskNamed(e, "sleeper")
	if moved := again.Since.Sub(slept.Since).Abs(); moved > 5*time.Microsecond || time.Since(again.Since) < 20*time.Millisecond {
		t.Errorf("sleeper: Since moved from %v to %v (by %v; Spawned and Since are good to a microsecond or so), or its age %v is under 20ms",
			slept.Since, again.Since, moved, time.Since(again.Since))
	}

	// Oldest first: IDs in the order of Spawn.
	ts := e.Tasks()
	var names []string
	for i, ti := range ts {
		names = append(names, ti.Name)
		if i > 0 && ti.ID <= ts[i-1].ID {
			t.Errorf("Tasks not oldest first: %+v", ts)
		}
	}
	if got := strings.Join(names, ","); got != "sleeper,hog,queued" {
		t.Errorf("Tasks = %s; want sleeper,hog,queued", got)
	}

	stop.Store(true)
	tok.Cancel()
	for _, h := range []*JoinHandle[int]{sleeper, hog, queued} {
		h.Join(context.Background())
	}
	if ts := e.Tasks(); len(ts) != 0 {
		t.Errorf("after every task ended, Tasks = %+v", ts)
	}
}

// TestTasksWhileTasksChurn: Tasks, called without pause while tasks are
// spawned, wait, yield and end on every side, returns consistent snapshots
// (never more running tasks than workers, IDs unique and ascending) and is
// race-free; once all have ended, none is left.
func TestTasksWhileTasksChurn(t *testing.T) {
	const workers = 2
	e := newExecutor(t, Options{Workers: workers})
	var done atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !done.Load(); i++ {
				var hs []*JoinHandle[int]
				for j := range 20 {
					hs = append(hs, Spawn(e.Context(), func(ctx context.Context) (int, error) {
						switch j % 4 {
						case 0:
							Sleep(ctx, time.Microsecond)
						case 1:
							Yield(ctx)
						case 2:
							Spawn(ctx, func(ctx context.Context) (int, error) { return 0, nil }).Join(ctx)
						}
						return j, nil
					}, WithName(strconv.Itoa(g))))
				}
				for _, h := range hs {
					h.Join(context.Background())
				}
			}
		}()
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	snapshots := 0
	for time.Now().Before(deadline) {
		ts := e.Tasks()
		snapshots++
		running := 0
		for i, ti := range ts {
			if ti.State == "running" {
				running++
			}
			if i > 0 && ti.ID <= ts[i-1].ID {
				t.Fatalf("IDs not ascending: %d after %d", ti.ID, ts[i-1].ID)
			}
			switch ti.State {
			case "running", "runnable":
				if ti.Wait != "" && ti.Wait != "yield" {
					t.Fatalf("a %s task waits on %q", ti.State, ti.Wait)
				}
			case "waiting":
				if ti.Wait == "" {
					t.Fatalf("a waiting task with no Wait: %+v", ti)
				}
			default:
				t.Fatalf("state %q", ti.State)
			}
		}
		if running > workers {
			t.Fatalf("%d running tasks on %d workers", running, workers)
		}
	}
	done.Store(true)
	wg.Wait()
	if ts := e.Tasks(); len(ts) != 0 {
		t.Errorf("after every task ended, Tasks = %+v", ts)
	}
	if snapshots < 10 {
		t.Errorf("only %d snapshots taken", snapshots)
	}
}

// TestTaskPprofLabel: a named task's goroutine carries the label
// task=<name> in a goroutine profile; an unnamed task that later runs on
// the same goroutine does not inherit it.
func TestTaskPprofLabel(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var ev Event
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, ev.Wait(ctx) }, WithName("labelled-sleeper"))
	waitForTask(t, e, "labelled-sleeper", "waiting", "event")
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	if !strings.Contains(buf.String(), `"task":"labelled-sleeper"`) {
		t.Errorf("goroutine profile has no label task=labelled-sleeper:\n%s", buf.String())
	}
	ev.Set()
	h.Join(context.Background())

	// The finished named task's goroutine runs the next task: with one
	// worker and a queue, the next task runs on it.
	gate := make(chan struct{})
	first := Spawn(e.Context(), func(ctx context.Context) (int, error) { <-gate; return 0, nil }, WithName("first"))
	var labels string
	second := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		var b bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&b, 1)
		labels = b.String()
		return 0, nil
	})
	close(gate)
	first.Join(context.Background())
	second.Join(context.Background())
	if strings.Contains(labels, `"task":"first"`) {
		t.Errorf("the label of a finished task lingers:\n%s", labels)
	}
}

// TestTaskTrace: an execution trace taken while tasks run names them, and
// their waits are regions.
func TestTaskTrace(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("the execution trace is already on")
	}
	e := newExecutor(t, Options{Workers: 1})
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skipf("trace.Start: %v", err)
	}
	Spawn(e.Context(), func(ctx context.Context) (int, error) {
		Sleep(ctx, time.Millisecond)
		return 0, nil
	}, WithName("traced-task")).Join(context.Background())
	trace.Stop()
	for _, want := range []string{"traced-task", "executor.wait sleep"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("the trace does not contain %q", want)
		}
	}
}

// TestStatsTimings: queue time, wait counts, I/O time and busy time move
// as tasks queue, wait on I/O and compute.
func TestStatsTimings(t *testing.T) {
	onBackends(t, 1, func(t *testing.T, e *Executor) {
		gate := make(chan struct{})
		hold := Spawn(e.Context(), func(ctx context.Context) (int, error) {
			<-gate // holds the only worker
			return 0, nil
		})
		waitFor(t, func() bool { return e.Stats().Running == 1 })
		queued := Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, nil })
		time.Sleep(5 * time.Millisecond)
		close(gate)
		hold.Join(context.Background())
		queued.Join(context.Background())

		st := e.Stats()
		if st.QueueTime.Count < 2 || st.QueueTime.Max < 5*time.Millisecond {
			t.Errorf("QueueTime = %+v; want 2 tasks or more, the longest at least 5ms", st.QueueTime)
		}
		if st.Busy < 5*time.Millisecond {
			t.Errorf("Busy = %v; want at least the 5ms a task held the worker", st.Busy)
		}

		// A read of a FIFO that waits for data is an I/O wait.
		path := fifoPath(t)
		f, err := OpenFile(e.Context(), path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r := Spawn(e.Context(), func(ctx context.Context) (int, error) { return f.Read(ctx, make([]byte, 1)) }, WithName("reader"))
		waitForTask(t, e, "reader", "waiting", "read "+path)
		time.Sleep(2 * time.Millisecond)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte{1})
		w.Close()
		if _, err := r.Join(context.Background()); err != nil {
			t.Fatal(err)
		}
		st = e.Stats()
		if st.IOTime.Count < 1 || st.IOTime.Max < 2*time.Millisecond || st.IOTime.P50 > st.IOTime.Max {
			t.Errorf("IOTime = %+v; want a read of at least 2ms", st.IOTime)
		}
		var reads WaitStat
		for _, ws := range st.Waits {
			if ws.Kind == "read" {
				reads = ws
			}
		}
		if reads.Count < 1 || reads.Waiting != 0 || reads.Total < 2*time.Millisecond {
			t.Errorf("Waits[read] = %+v; want 1 ended read of at least 2ms", reads)
		}
		if st.Running != 0 || st.Runnable != 0 || st.Waiting != 0 {
			t.Errorf("states after every task ended: %+v", st)
		}
	})
}

// TestTasksJoinInline: a task that joins a task not yet started runs it on
// its own worker (RunInline); meanwhile Tasks shows the joiner waiting on
// "join" and the joined task running, and the worker count stays right.
func TestTasksJoinInline(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	var seen []TaskInfo
	h := Spawn(e.Context(), func(ctx context.Context) (int, error) {
		child := Spawn(ctx, func(ctx context.Context) (int, error) {
			seen = e.Tasks()
			return 0, nil
		}, WithName("child")) // queued: the parent holds the only worker
		_, err := child.Join(ctx)
		return 0, err
	}, WithName("parent"))
	if _, err := h.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Name != "parent" || seen[0].State != "waiting" || seen[0].Wait != "join" ||
		seen[1].Name != "child" || seen[1].State != "running" {
		t.Fatalf("Tasks while the child ran inline: %+v", seen)
	}
	if st := e.Stats(); st.Running != 0 || st.Waiting != 0 || len(e.Tasks()) != 0 {
		t.Fatalf("after both ended: %+v, %d tasks", st, len(e.Tasks()))
	}
}
