package inspect

import (
	"html/template"
	"io"
	"slices"
	"time"

	"github.com/executor-go/executor"
)

// refreshSeconds is how often the page reloads itself.
const refreshSeconds = 2

// longest is how many of the longest waits the page lists.
const longest = 20

// ioKinds are the waits the page counts as I/O, in the order it shows them.
var ioKinds = []string{"read", "write", "accept", "connect", "open", "sync", "stat", "path"}

// page is what the HTML page shows.
type page struct {
	Refresh   int
	Backend   string
	Stats     executor.Stats
	IOStats   executor.IOStats
	Workers   []bool // one per worker (up to 64): true when busy
	Live      int
	ByState   []count
	ByWait    []count // waiting tasks by the kind of their wait
	Longest   []row
	IO, Other []executor.WaitStat
}

// row is one of the longest waits.
type row struct {
	ID                uint64
	Name, State, Wait string
	Age               time.Duration
}

// threadPerOp is the completion thread's CPU time per operation that went
// through the ring, whose inverse bounds the ring's operations a second;
// "-" before any did, and on the portable backend.
func threadPerOp(io executor.IOStats) string {
	ring := io.Completed - io.Inline
	if ring == 0 || io.ThreadCPU == 0 {
		return "-"
	}
	return age(io.ThreadCPU / time.Duration(ring))
}

func writePage(w io.Writer, e *executor.Executor, now time.Time) error {
	st := e.Stats()
	ts := e.Tasks()
	p := page{Refresh: refreshSeconds, Backend: e.Backend(), Stats: st, IOStats: e.IOStats(), Live: len(ts)}
	if st.Workers <= 64 {
		p.Workers = make([]bool, st.Workers)
		for i := range min(int(st.Running), st.Workers) {
			p.Workers[i] = true
		}
	}
	p.ByState = countBy(ts, func(t executor.TaskInfo) string { return t.State })
	var waiting []executor.TaskInfo
	for _, t := range ts {
		if t.Wait != "" {
			waiting = append(waiting, t)
		}
	}
	p.ByWait = countBy(waiting, func(t executor.TaskInfo) string { return kindOf(t.Wait) })
	for _, t := range byLongestWait(waiting) {
		if len(p.Longest) == longest {
			break
		}
		p.Longest = append(p.Longest, row{t.ID, orDash(t.Name), t.State, t.Wait, now.Sub(t.Since)})
	}
	for _, ws := range st.Waits {
		if slices.Contains(ioKinds, ws.Kind) {
			p.IO = append(p.IO, ws)
		} else {
			p.Other = append(p.Other, ws)
		}
	}
	return pageTemplate.Execute(w, p)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"age":         age,
	"threadPerOp": threadPerOp,
	"mean": func(ws executor.WaitStat) time.Duration {
		if ws.Count == 0 {
			return 0
		}
		return ws.Total / time.Duration(ws.Count)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>executor: {{.Stats.Running}}/{{.Stats.Workers}} busy, {{.Live}} tasks</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #f6f7f9; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
h2 { font-size: 1em; margin: 0 0 .5em; color: #4a5468; text-transform: uppercase; letter-spacing: .04em; }
.sub { color: #6b7385; margin-bottom: 1.2em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 1em; }
.card { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 1em 1.2em; }
.wide { grid-column: 1 / -1; }
.big { font-size: 2em; font-weight: 600; }
.kpis { display: flex; gap: 2em; flex-wrap: wrap; }
.kpi span { display: block; color: #6b7385; font-size: .85em; }
.workers { display: flex; gap: 4px; flex-wrap: wrap; margin: .6em 0; }
.w { width: 22px; height: 22px; border-radius: 4px; background: #e3e7ee; }
.w.busy { background: #3b82f6; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em .25em 0; border-bottom: 1px solid #eef0f4; white-space: nowrap; }
th { color: #6b7385; font-weight: 500; font-size: .9em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.wait { font-family: ui-monospace, monospace; white-space: normal; word-break: break-all; }
.state-running { color: #1d6f42; } .state-runnable { color: #a16207; } .state-waiting { color: #4a5468; }
.none { color: #9aa1b0; }
a { color: #2563eb; }
</style>
</head>
<body>
<h1>executor</h1>
<div class="sub">backend {{.Backend}} · {{.Stats.Workers}} workers · refreshes every {{.Refresh}} s ·
<a href="tasks">tasks</a> · <a href="tasks.json">tasks.json</a> · <a href="stats.json">stats.json</a></div>
<div class="grid">
<div class="card">
<h2>Workers</h2>
<div class="big">{{.Stats.Running}} / {{.Stats.Workers}} busy</div>
{{with .Workers}}<div class="workers">{{range .}}<div class="w{{if .}} busy{{end}}"></div>{{end}}</div>{{end}}
<div class="kpis">
<div class="kpi">{{.Stats.Runnable}}<span>run queue</span></div>
<div class="kpi">{{.Stats.Waiting}}<span>waiting</span></div>
<div class="kpi">{{age .Stats.Busy}}<span>busy time, all workers</span></div>
<div class="kpi">{{.Stats.MaxRunning}}<span>most busy at once</span></div>
</div>
</div>
<div class="card">
<h2>Tasks</h2>
<div class="kpis">
<div class="kpi"><div class="big">{{.Live}}</div><span>live</span></div>
<div class="kpi"><div class="big">{{.Stats.Spawned}}</div><span>spawned</span></div>
<div class="kpi"><div class="big">{{.Stats.Completed}}</div><span>ended</span></div>
<div class="kpi"><div class="big">{{.Stats.Panicked}}</div><span>panicked</span></div>
</div>
<table>
<tr><th>state</th><th class="n">tasks</th></tr>
{{range .ByState}}<tr><td class="state-{{.Label}}">{{.Label}}</td><td class="n">{{.N}}</td></tr>
{{else}}<tr><td class="none" colspan="2">no tasks</td></tr>{{end}}
</table>
</div>
<div class="card">
<h2>Waiting on</h2>
<table>
<tr><th>wait</th><th class="n">tasks</th></tr>
{{range .ByWait}}<tr><td>{{.Label}}</td><td class="n">{{.N}}</td></tr>
{{else}}<tr><td class="none" colspan="2">no task waits</td></tr>{{end}}
</table>
</div>
<div class="card">
<h2>Time queued for a worker</h2>
{{template "latency" .Stats.QueueTime}}
<h2 style="margin-top:1em">I/O waits</h2>
{{template "latency" .Stats.IOTime}}
</div>
<div class="card">
<h2>I/O driver</h2>
<div class="kpis">
<div class="kpi"><div class="big">{{.IOStats.InFlight}}</div><span>in flight</span></div>
<div class="kpi"><div class="big">{{.IOStats.Completed}}</div><span>completed</span></div>
<div class="kpi">{{.IOStats.Inline}}<span>without the ring</span></div>
<div class="kpi">{{.IOStats.Enters}}<span>ring entries</span></div>
<div class="kpi">{{.IOStats.Fixed}}<span>fixed buffers</span></div>
<div class="kpi">{{.IOStats.Cancelled}}<span>cancellations</span></div>
<div class="kpi">{{age .IOStats.ThreadCPU}}<span>completion thread CPU</span></div>
<div class="kpi">{{threadPerOp .IOStats}}<span>of it per ring operation</span></div>
</div>
</div>
<div class="card">
<h2>I/O by operation</h2>
{{template "waits" .IO}}
<h2 style="margin-top:1em">Other waits</h2>
{{template "waits" .Other}}
</div>
<div class="card wide">
<h2>Longest waits</h2>
<table>
<tr><th class="n">id</th><th>name</th><th>state</th><th>wait</th><th class="n">for</th></tr>
{{range .Longest}}<tr><td class="n">{{.ID}}</td><td>{{.Name}}</td><td class="state-{{.State}}">{{.State}}</td><td class="wait">{{.Wait}}</td><td class="n">{{age .Age}}</td></tr>
{{else}}<tr><td class="none" colspan="5">no task waits</td></tr>{{end}}
</table>
</div>
</div>
</body>
</html>
{{define "waits"}}<table>
<tr><th>wait</th><th class="n">waiting now</th><th class="n">waits ended</th><th class="n">mean</th></tr>
{{range .}}<tr><td>{{.Kind}}</td><td class="n">{{.Waiting}}</td><td class="n">{{.Count}}</td><td class="n">{{age (mean .)}}</td></tr>
{{else}}<tr><td class="none" colspan="4">none yet</td></tr>{{end}}
</table>{{end}}
{{define "latency"}}<table>
<tr><th class="n">count</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">max</th></tr>
<tr><td class="n">{{.Count}}</td><td class="n">{{age .P50}}</td><td class="n">{{age .P90}}</td><td class="n">{{age .P99}}</td><td class="n">{{age .Max}}</td></tr>
</table>{{end}}`))
