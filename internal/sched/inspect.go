package sched

import (
	"runtime/trace"
	"time"

	"github.com/executor-go/executor/internal/clock"
)

// This file holds what the scheduler records for inspection: every live
// task in one list, oldest first, with its state, since when, and what it
// waits on; and counters of queue times, wait times and busy workers.
//
// Everything here is written inside the critical sections that Spawn,
// Acquire, Yield and release already take, as plain fields guarded by s.mu:
// recording adds no lock, no atomic operation and no allocation to a
// transition, only one reading of the cheap clock (package clock), which a
// hand-off shares between the task that lets the worker go and the one
// that gets it.

// State is a task's scheduling state.
type State uint8

const (
	gone     State = iota // not in the list: ended (or never spawned)
	Runnable              // queued for a worker
	Running               // holding a worker
	Waiting               // in a wait, holding no worker and not queued for one
)

// Wait kinds are the executor's small integers naming what a task waits on
// (ReleaseFor). Two are the scheduler's own.
const (
	KindNone  uint8 = 0  // not waiting, or a wait nobody labelled
	KindYield uint8 = 1  // queued behind others by Yield
	MaxKinds        = 32 // kinds are below MaxKinds
)

// info is a task's inspection record, guarded by s.mu except region.
type info struct {
	id           uint64
	older, newer *Task // the live list
	spawned, at  int64 // clock readings: at Spawn, and when state began
	state        State
	kind         uint8 // what a Waiting task waits on, or KindYield for a Runnable one
	arg          any   // the object of the wait (a file's name, an address), for the executor

	// region is the wait's trace region, set and ended by the goroutine
	// in the wait (the one that holds the task's released state).
	region *trace.Region
}

// label is what a wait is about, handed to release.
type label struct {
	kind uint8
	arg  any
	end  bool // the task is ending, not waiting
}

// ending is the label of a task that gives its worker back for good.
var ending = label{end: true}

// inspector is the scheduler's share of the records, guarded by s.mu.
type inspector struct {
	oldest, newest *Task
	ids            uint64 // the last ID given
	live           int    // tasks in the list
	waiting        int    // tasks in state Waiting
	busy, busyAt   int64  // ticks of workers held, summed, up to the reading busyAt
	ioKinds        uint32 // kinds whose durations the io histogram counts
	queue, io      Histogram
	waits          [MaxKinds]WaitCount
}

// WaitCount counts the waits of one kind.
type WaitCount struct {
	Now   int64         // tasks waiting there now
	Count int64         // waits that ended
	Total time.Duration // the time those waits took, summed
	total int64         // the same, in ticks, while the scheduler counts
}

// SetIOKinds names the wait kinds (a bit per kind) whose durations Stats
// reports as IO. Call it before the first task is spawned.
func (s *Scheduler) SetIOKinds(mask uint32) {
	s.mu.Lock()
	s.ins.ioKinds = mask
	s.mu.Unlock()
}

// link adds a newly spawned task to the live list, queued.
func (s *Scheduler) link(t *Task, now int64) {
	in := &s.ins
	in.ids++
	in.live++
	t.in = info{id: in.ids, older: in.newest, spawned: now, at: now, state: Runnable}
	if in.newest == nil {
		in.oldest = t
	} else {
		in.newest.in.newer = t
	}
	in.newest = t
}

// unlink removes an ending task from the live list.
func (s *Scheduler) unlink(t *Task) {
	in := &s.ins
	if t.in.state == gone {
		return
	}
	in.live--
	if t.in.state == Waiting {
		in.waiting--
		in.waits[t.in.kind].Now--
	}
	if t.in.older == nil {
		in.oldest = t.in.newer
	} else {
		t.in.older.in.newer = t.in.newer
	}
	if t.in.newer == nil {
		in.newest = t.in.older
	} else {
		t.in.newer.in.older = t.in.older
	}
	t.in.older, t.in.newer, t.in.state, t.in.arg = nil, nil, gone, nil
}

// forget unlinks a task that ends holding no worker (a goroutine other
// than its own is in a wait with its context).
func (t *Task) forget() {
	t.s.mu.Lock()
	t.s.unlink(t)
	t.s.mu.Unlock()
}

// run records that t got a worker at now: its time in the queue ends.
func (s *Scheduler) run(t *Task, now int64) {
	if t.in.state == gone {
		return
	}
	s.ins.queue.add(now - t.in.at)
	t.in.state, t.in.at, t.in.kind, t.in.arg = Running, now, KindNone, nil
}

// queue records that t, holding no worker, queued for one at now.
func (s *Scheduler) queue(t *Task, now int64, kind uint8) {
	if t.in.state == gone {
		return
	}
	t.in.state, t.in.at, t.in.kind = Runnable, now, kind
}

// left records that t gave its worker up at now, for a wait or for good.
func (s *Scheduler) left(t *Task, l label, now int64) {
	switch {
	case t == nil:
	case l.end:
		s.unlink(t)
	case t.in.state != gone:
		t.in.state, t.in.at, t.in.kind, t.in.arg = Waiting, now, l.kind, l.arg
		s.ins.waiting++
		s.ins.waits[l.kind].Now++
	}
}

// woke records the end of t's wait at now.
func (s *Scheduler) woke(t *Task, now int64) {
	if t.in.state != Waiting {
		return
	}
	in := &s.ins
	d := max(0, now-t.in.at)
	w := &in.waits[t.in.kind]
	w.Now--
	w.Count++
	w.total += d
	if in.ioKinds&(1<<t.in.kind) != 0 {
		in.io.add(d)
	}
	in.waiting--
	t.in.state, t.in.at, t.in.kind, t.in.arg = Runnable, now, KindNone, nil
}

// account adds the time workers were held since the last change of their
// number; call it before s.running changes.
func (s *Scheduler) account(now int64) {
	s.ins.busy += int64(s.running) * max(0, now-s.ins.busyAt)
	s.ins.busyAt = now
}

// ReleaseFor is Release for a wait of the given kind (the executor's
// number, below MaxKinds) on arg, which Tasks reports while the task waits.
func (t *Task) ReleaseFor(kind uint8, arg any) bool {
	if !t.state.CompareAndSwap(holding, released) {
		return false
	}
	t.s.release(true, t, label{kind: kind, arg: arg})
	return true
}

// SetRegion keeps the trace region of the wait the calling goroutine
// entered with ReleaseFor; TakeRegion returns it before the goroutine
// calls Acquire, after which the task may be in another goroutine's wait.
func (t *Task) SetRegion(r *trace.Region) { t.in.region = r }

// TakeRegion returns and forgets the region given to SetRegion, or nil.
func (t *Task) TakeRegion() *trace.Region {
	r := t.in.region
	t.in.region = nil
	return r
}

// TaskInfo is a snapshot of one task's record.
type TaskInfo struct {
	ID      uint64
	Runner  Runner // as given to Spawn
	State   State
	Kind    uint8 // the wait's kind for a Waiting task; KindYield for a yielding one
	Arg     any   // the wait's object
	Spawned time.Time
	Since   time.Time // when the task entered State
}

// Tasks appends a snapshot of every live task to buf, oldest first. It
// holds the scheduler's lock while it copies, about 10 ns a task.
func (s *Scheduler) Tasks(buf []TaskInfo) []TaskInfo {
	// Copy the raw fields under the lock, convert the clock readings
	// after it.
	type raw struct {
		info        TaskInfo
		spawned, at int64
	}
	var rs []raw
	for {
		s.mu.Lock()
		if n := s.ins.live; cap(rs) < n {
			s.mu.Unlock()
			rs = make([]raw, 0, n+n/8) // allocate without holding the lock
			continue
		}
		for t := s.ins.oldest; t != nil; t = t.in.newer {
			in := &t.in
			rs = append(rs, raw{TaskInfo{ID: in.id, Runner: t.runner, State: in.state, Kind: in.kind, Arg: in.arg}, in.spawned, in.at})
		}
		s.mu.Unlock()
		break
	}
	for _, r := range rs {
		r.info.Spawned, r.info.Since = clock.Time(r.spawned), clock.Time(r.at)
		buf = append(buf, r.info)
	}
	return buf
}
