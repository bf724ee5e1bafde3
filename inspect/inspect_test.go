package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/executor-go/executor"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scene is an executor with tasks in every state: one waiting in Sleep for
// a while, one holding the only worker, one queued behind it.
type scene struct {
	e       *executor.Executor
	release func()
}

func newScene(t *testing.T) *scene {
	t.Helper()
	e, err := executor.New(executor.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	tok := executor.NewCancellationToken()
	gate := make(chan struct{})
	var hs []*executor.JoinHandle[int]
	hs = append(hs, executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		return 0, executor.Sleep(tok.Bind(ctx), time.Hour)
	}, executor.WithName("old-sleeper")))
	waitUntil(t, func() bool { return e.Stats().Waiting == 1 })
	time.Sleep(5 * time.Millisecond) // the old sleeper's wait is the longest
	hs = append(hs, executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		return 0, executor.Sleep(tok.Bind(ctx), time.Hour)
	}, executor.WithName("young-sleeper")))
	hs = append(hs, executor.Spawn(e.Context(), func(ctx context.Context) (int, error) {
		<-gate // holds the only worker
		return 0, nil
	}, executor.WithName("hog")))
	waitUntil(t, func() bool { return e.Stats().Running == 1 && e.Stats().Waiting == 2 })
	hs = append(hs, executor.Spawn(e.Context(), func(ctx context.Context) (int, error) { return 0, nil }, executor.WithName("queued")))
	s := &scene{e: e}
	s.release = func() {
		tok.Cancel()
		close(gate)
		for _, h := range hs {
			h.Join(context.Background())
		}
		if err := e.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(s.release)
	return s
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30s")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func get(t *testing.T, h http.Handler, path string) (string, *http.Response) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return string(body), res
}

// TestRoutes: the four routes answer under a mount point, with and
// without http.StripPrefix, and anything else is not found.
func TestRoutes(t *testing.T) {
	s := newScene(t)
	mux := http.NewServeMux()
	mux.Handle("/debug/executor/", Handler(s.e))
	mux.Handle("/stripped/", http.StripPrefix("/stripped", Handler(s.e)))
	mux.Handle("/slash/", http.StripPrefix("/slash/", Handler(s.e))) // paths left without a slash
	for _, prefix := range []string{"/debug/executor", "/stripped", "/slash"} {
		for path, ctype := range map[string]string{
			"/":           "text/html",
			"/tasks":      "text/plain",
			"/tasks.json": "application/json",
			"/stats.json": "application/json",
		} {
			body, res := get(t, mux, prefix+path)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || body == "" {
				t.Errorf("GET %s: %d %q, %d bytes", prefix+path, res.StatusCode, res.Header.Get("Content-Type"), len(body))
			}
		}
		if _, res := get(t, mux, prefix+"/nope"); res.StatusCode != 404 {
			t.Errorf("GET %s/nope: %d; want 404", prefix, res.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/debug/executor/tasks", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d; want 405", rec.Code)
	}
}

// TestTasksDump: one line per task, the waits first, longest first, then
// the running task; each line has the ID, name, state, wait and age.
func TestTasksDump(t *testing.T) {
	s := newScene(t)
	body, _ := get(t, Handler(s.e), "/tasks")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines; want 4:\n%s", len(lines), body)
	}
	want := [][]string{
		{"old-sleeper", "waiting", "sleep"},
		{"young-sleeper", "waiting", "sleep"},
		{"queued", "runnable", "-"},
		{"hog", "running", "-"},
	}
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 5 || f[1] != want[i][0] || f[2] != want[i][1] || f[3] != want[i][2] {
			t.Errorf("line %d = %q; want ID %s %s %s age", i, line, want[i][0], want[i][1], want[i][2])
			continue
		}
		if d, err := time.ParseDuration(f[4]); err != nil || d < 0 {
			t.Errorf("line %d: age %q: %v", i, f[4], err)
		}
	}
	if !strings.HasPrefix(lines[0], "1 ") {
		t.Errorf("the old sleeper's line does not start with its ID 1: %q", lines[0])
	}
}

// TestJSON: tasks.json decodes into TaskInfo values and stats.json into
// a Stats, with the same content as the executor's own.
func TestJSON(t *testing.T) {
	s := newScene(t)
	h := Handler(s.e)
	body, _ := get(t, h, "/tasks.json")
	var ts []struct {
		executor.TaskInfo
		AgeSeconds float64
	}
	if err := json.Unmarshal([]byte(body), &ts); err != nil {
		t.Fatalf("tasks.json: %v\n%s", err, body)
	}
	if len(ts) != 4 || ts[0].Name != "old-sleeper" || ts[0].Wait != "sleep" || ts[0].AgeSeconds < 0.005 || ts[0].Spawned.IsZero() {
		t.Errorf("tasks.json = %+v", ts)
	}
	// A file read, so that the I/O driver has something to count.
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := executor.ReadFile(s.e.Context(), name); err != nil {
		t.Fatal(err)
	}
	body, _ = get(t, h, "/stats.json")
	var st struct {
		Backend string
		executor.Stats
		IO executor.IOStats
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("stats.json: %v\n%s", err, body)
	}
	if st.Backend != s.e.Backend() || st.Workers != 1 || st.Running != 1 || st.Runnable != 1 || st.Waiting != 2 || len(st.Waits) == 0 {
		t.Errorf("stats.json = %+v", st)
	}
	if st.IO.Completed == 0 || st.IO.InFlight != 0 {
		t.Errorf("stats.json IO = %+v, want completed operations and none in flight", st.IO)
	}
}

// TestPage: the HTML page reloads itself, and shows the workers, the
// queue, the waits and the longest of them.
func TestPage(t *testing.T) {
	s := newScene(t)
	body, _ := get(t, Handler(s.e), "/")
	for _, want := range []string{
		`<meta http-equiv="refresh" content="2">`,
		"1 / 1 busy", "run queue", "old-sleeper", "young-sleeper",
		"Time queued for a worker", "I/O waits", `<a href="tasks">`,
		"I/O driver", "in flight", "fixed buffers", "completion thread CPU",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Index(body, "old-sleeper") > strings.Index(body, "young-sleeper") {
		t.Errorf("the longest wait is not listed first")
	}
}

var published int

// TestPublish: the expvar variable is the executor's Stats, and a second
// Publish of the same name is an error, not a panic.
func TestPublish(t *testing.T) {
	s := newScene(t)
	published++ // expvar names last as long as the process: one per run
	name := fmt.Sprintf("executor_test_%d", published)
	if err := Publish(name, s.e); err != nil {
		t.Fatal(err)
	}
	var st executor.Stats
	if err := json.Unmarshal([]byte(expvar.Get(name).String()), &st); err != nil || st.Workers != 1 || st.Waiting != 2 {
		t.Errorf("expvar: %+v, %v", st, err)
	}
	if err := Publish(name, s.e); !errors.Is(err, ErrPublished) {
		t.Errorf("second Publish: %v; want ErrPublished", err)
	}
}

// TestThreadPerOp: the completion thread's CPU per ring operation, and a
// dash where there is none to divide.
func TestThreadPerOp(t *testing.T) {
	for _, c := range []struct {
		io   executor.IOStats
		want string
	}{
		{executor.IOStats{Completed: 2500, Inline: 500, ThreadCPU: 5 * time.Millisecond}, "2.5µs"},
		{executor.IOStats{Completed: 500, Inline: 500, ThreadCPU: time.Millisecond}, "-"}, // all inline
		{executor.IOStats{Completed: 500}, "-"},                                           // portable
	} {
		if got := threadPerOp(c.io); got != c.want {
			t.Errorf("threadPerOp(%+v) = %q, want %q", c.io, got, c.want)
		}
	}
}
