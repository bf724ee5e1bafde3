// Package inspect shows what an executor's tasks are doing: which task
// waits on what and for how long, how long tasks queue for a worker, how
// long I/O takes. Mount Handler under a path of a debug server:
//
//	mux.Handle("/debug/executor/", inspect.Handler(e))
//
// and open /debug/executor/ in a browser: a page that refreshes itself
// every two seconds. /debug/executor/tasks is a plain-text dump of the
// tasks, longest wait first, for curl and for bug reports;
// /debug/executor/tasks.json and /debug/executor/stats.json are the same
// data for programs. Publish makes the executor's Stats an expvar variable,
// for scrapers of /debug/vars.
//
// The pprof labels and the execution trace need nothing from this package:
// a named task's goroutine carries the label task=<name> in every profile,
// and while a trace is taken each task is a trace task and each wait a
// region (see executor.WithName).
package inspect

import (
	"cmp"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/executor-go/executor"
)

// Handler returns a handler serving e's state. Its routes are relative to
// where it is mounted: it looks only at the end of the request's path, so
// it works with or without http.StripPrefix.
//
//   - "/" (any path ending in a slash): an HTML page of the workers, the
//     run queue, the tasks by state and wait, the longest waits, the queue
//     and I/O latencies; it refreshes itself every two seconds.
//   - "/tasks": one line per task (ID, name, state, wait, age in its
//     state), longest wait first. A dash stands for an empty name or wait.
//   - "/tasks.json": the same tasks as a JSON array of executor.TaskInfo
//     objects, each with AgeSeconds added.
//   - "/stats.json": e.Stats() as a JSON object, with Backend added, and
//     IO, e.IOStats() (the I/O driver's operations in flight, completed,
//     done without the ring, ring entries, fixed-buffer transfers,
//     cancellations, the completion thread's CPU time). The page shows
//     the last also per ring operation: its inverse is the most
//     operations a second the ring can carry.
func Handler(e *executor.Executor) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		// The last element of the path names the route, whatever the
		// mount point and whether a prefix was stripped with its slash.
		p := r.URL.Path
		switch p[strings.LastIndexByte(p, '/')+1:] {
		case "tasks":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			WriteTasks(w, e)
		case "tasks.json":
			writeJSON(w, tasksJSON(e, time.Now()))
		case "stats.json":
			writeJSON(w, newStatsJSON(e))
		case "":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			writePage(w, e, time.Now())
		default:
			http.NotFound(w, r)
		}
	})
}

// WriteTasks writes the plain-text dump that Handler serves at "/tasks":
// one line per live task of e (ID, name, state, wait, age in its state),
// longest wait first, with the columns aligned.
func WriteTasks(w io.Writer, e *executor.Executor) error {
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, t := range byLongestWait(e.Tasks()) {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, orDash(t.Name), t.State, orDash(t.Wait), age(now.Sub(t.Since)))
	}
	return tw.Flush()
}

// byLongestWait sorts tasks for the dump: tasks that wait (for an event or
// for a worker) before running ones, each group longest in its state first.
func byLongestWait(ts []executor.TaskInfo) []executor.TaskInfo {
	slices.SortStableFunc(ts, func(a, b executor.TaskInfo) int {
		if ra, rb := a.State == "running", b.State == "running"; ra != rb {
			if ra {
				return 1
			}
			return -1
		}
		return a.Since.Compare(b.Since)
	})
	return ts
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age rounds d for reading: three significant digits or so.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return d.Round(100 * time.Nanosecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// taskJSON is a TaskInfo with its age.
type taskJSON struct {
	executor.TaskInfo
	AgeSeconds float64 // time since Since
}

func tasksJSON(e *executor.Executor, now time.Time) []taskJSON {
	ts := byLongestWait(e.Tasks())
	out := make([]taskJSON, len(ts))
	for i, t := range ts {
		out[i] = taskJSON{t, max(0, now.Sub(t.Since)).Seconds()}
	}
	return out
}

// statsJSON is a Stats with the backend's name and the I/O driver's
// counters.
type statsJSON struct {
	Backend string
	executor.Stats
	IO executor.IOStats
}

// newStatsJSON reads e's statistics.
func newStatsJSON(e *executor.Executor) statsJSON {
	return statsJSON{Backend: e.Backend(), Stats: e.Stats(), IO: e.IOStats()}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ErrPublished is returned by Publish for a name expvar already has.
var ErrPublished = errors.New("inspect: expvar name already published")

// Publish makes e.Stats(), with the backend's name and IOStats as in
// stats.json, the expvar variable
// name, which /debug/vars serves as JSON. Unlike expvar.Publish, it
// returns an error wrapping ErrPublished, rather than panicking, when the
// name is taken.
func Publish(name string, e *executor.Executor) error {
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q", ErrPublished, name)
	}
	expvar.Publish(name, expvar.Func(func() any { return newStatsJSON(e) }))
	return nil
}

// kindOf returns the kind of a wait, without its path or address.
func kindOf(wait string) string {
	k, _, _ := strings.Cut(wait, " ")
	return k
}

// count is a label and how many.
type count struct {
	Label string
	N     int
}

// countBy counts tasks by key, largest count first, then by label.
func countBy(ts []executor.TaskInfo, key func(executor.TaskInfo) string) []count {
	m := map[string]int{}
	for _, t := range ts {
		m[key(t)]++
	}
	out := make([]count, 0, len(m))
	for k, n := range m {
		out = append(out, count{k, n})
	}
	slices.SortFunc(out, func(a, b count) int {
		if c := cmp.Compare(b.N, a.N); c != 0 {
			return c
		}
		return cmp.Compare(a.Label, b.Label)
	})
	return out
}
