package inspect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/executor-go/executor"
	"golang.org/x/sys/unix"
)

// browser returns the path of a Chromium or Chrome binary, or "".
func browser() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestPageInBrowser loads the page in headless Chromium: the DOM it
// renders has the page's sections and tasks, and it takes a screenshot
// (to INSPECT_SCREENSHOT if set, as docs/inspect.png is made). It skips
// when no browser is installed (Debian: apt-get install chromium).
func TestPageInBrowser(t *testing.T) {
	bin := browser()
	if bin == "" {
		t.Skip("no chromium in PATH")
	}
	e := busyScene(t)
	srv := httptest.NewServer(http.StripPrefix("/debug/executor", Handler(e)))
	defer srv.Close()
	url := srv.URL + "/debug/executor/"

	shot := os.Getenv("INSPECT_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "inspect.png")
	}
	shot, _ = filepath.Abs(shot)
	profile := t.TempDir()
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--no-first-run", "--user-data-dir=" + profile, "--hide-scrollbars"}, args...)
		out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
		return string(out)
	}
	dom := run("--dump-dom")
	for _, want := range []string{"Workers", "busy", "Waiting on", "Longest waits", "I/O by operation", "reader-", "read /", "accept 127.0.0.1:", "mutex"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q", want)
		}
	}
	run("--screenshot="+shot, "--window-size=1280,1000")
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, st.Size())
	}
	t.Logf("screenshot: %s", shot)
}

// busyScene is an executor with something in every part of the page:
// busy workers and a queue, file reads and an accept waiting, tasks on a
// mutex, sleepers, and some I/O already done.
func busyScene(t *testing.T) *executor.Executor {
	e, err := executor.New(executor.Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := e.Context()
	tok := executor.NewCancellationToken()
	stop := make(chan struct{})
	var hs []interface {
		Join(context.Context) (int, error)
	}
	spawn := func(name string, fn func(ctx context.Context) (int, error)) {
		hs = append(hs, executor.Spawn(ctx, fn, executor.WithName(name)))
	}
	t.Cleanup(func() {
		tok.Cancel()
		close(stop)
		for _, h := range hs {
			h.Join(context.Background())
		}
		e.Shutdown(context.Background())
	})

	// Files: FIFOs that readers wait on, after some reads that waited.
	dir := t.TempDir()
	for i := range 3 {
		path := filepath.Join(dir, "data-"+string(rune('a'+i)))
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		f, err := executor.OpenFile(ctx, path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		for range 5 { // reads that wait a little, for the latency tables
			h := executor.Spawn(ctx, func(ctx context.Context) (int, error) { return f.Read(ctx, make([]byte, 1)) })
			time.Sleep(time.Millisecond)
			w, _ := os.OpenFile(path, os.O_WRONLY, 0)
			w.Write([]byte{1})
			w.Close()
			h.Join(context.Background())
		}
		spawn("reader-"+string(rune('a'+i)), func(ctx context.Context) (int, error) {
			return f.Read(tok.Bind(ctx), make([]byte, 1))
		})
	}
	// A server waiting for connections.
	l, err := executor.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	spawn("accept-loop", func(ctx context.Context) (int, error) {
		c, err := l.Accept(tok.Bind(ctx))
		if err == nil {
			c.Close()
		}
		return 0, nil
	})
	// Tasks queued on a mutex held by a sleeping task.
	var mu executor.Mutex
	mu.Lock(ctx)
	spawn("holder", func(ctx context.Context) (int, error) {
		executor.Sleep(tok.Bind(ctx), time.Hour)
		mu.Unlock()
		return 0, nil
	})
	for i := range 3 {
		spawn("cache-update-"+string(rune('0'+i)), func(ctx context.Context) (int, error) {
			if err := mu.Lock(ctx); err != nil {
				return 0, err
			}
			mu.Unlock()
			return 0, nil
		})
	}
	// Busy workers and a run queue.
	for i := range 6 {
		spawn("worker-"+string(rune('0'+i)), func(ctx context.Context) (int, error) {
			for {
				select {
				case <-stop:
					return 0, nil
				default:
				}
				executor.Yield(ctx)
				time.Sleep(50 * time.Microsecond) // computing, holding the worker
			}
		})
	}
	waitUntil(t, func() bool {
		st := e.Stats()
		return st.Running == 4 && st.Waiting >= 8
	})
	time.Sleep(50 * time.Millisecond)
	return e
}
