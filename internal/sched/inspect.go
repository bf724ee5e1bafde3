package sched

import (
	"cmp"
	"runtime/trace"
	"slices"
	"time"

	"github.com/executor-go/executor/internal/clock"
)

// This file holds what the scheduler records for inspection: a record per
// live task (ID, state, since when, what it waits on) in a slab of reused
// records, and counters of queue times, wait times and busy workers.
//
// Everything here is written inside the critical sections that Spawn,
// Acquire, Yield and release already take, as plain fields guarded by s.mu:
// recording adds no lock and no atomic operation to a transition, and no
// allocation but a chunk of records when the slab grows; only one reading
// of the cheap clock (package clock), which a hand-off shares between the
// task that lets the worker go and the one that gets it.

// State is a task's scheduling state.
type State uint8

const (
	gone     State = iota // not recorded: ended (or never spawned)
	Runnable              // queued for a worker
	Running               // holding a worker
	Waiting               // in a wait, holding no worker and not queued for one
)

// Wait kinds are the executor's small integers naming what a task waits on
// (ReleaseFor). Two are the scheduler's own.
const (
	KindNone  uint8 = 0  // not waiting, or a wait nobody labelled
	KindYield uint8 = 1  // queued behind others by Yield
	KindJoin  uint8 = 2  // running a task it joins on its own worker (RunInline)
	MaxKinds        = 32 // kinds are below MaxKinds
)

// record is a live task's inspection record. Records live in a slab that
// the scheduler owns, not in the tasks: a task only keeps its slot number
// (Task.slot, in what was padding), so recording costs a task's allocation
// no byte. Guarded by s.mu.
type record struct {
	t           *Task
	id          uint64
	spawned, at int64 // clock readings: at Spawn, and when state began
	state       State
	kind        uint8         // what a Waiting task waits on, or KindYield for a Runnable one
	arg         any           // the object of the wait (a file's name, an address), for the executor
	region      *trace.Region // the wait's execution trace region, or nil
	nextFree    uint32        // the next free slot, while this one is free
}

// slabChunk is how many records the slab allocates at once.
const slabChunk = 256

// label is what a wait is about, handed to release.
type label struct {
	kind   uint8
	arg    any
	region *trace.Region
	end    bool // the task is ending, not waiting
}

// ending is the label of a task that gives its worker back for good.
var ending = label{end: true}

// inspector is the scheduler's share of the records, guarded by s.mu.
type inspector struct {
	slab         []*[slabChunk]record // slot i is slab[(i-1)/slabChunk][(i-1)%slabChunk]
	free         uint32               // the first free slot, or 0
	grew         int64                // the clock reading when the slab last grew
	ids          uint64               // the last ID given
	live         int                  // records in use
	spawned      int64                // tasks linked, ever
	completed    int64                // tasks dropped (ended), ever
	panicked     int64                // of those, the ones that ended in a panic
	busy, busyAt int64                // ticks of workers held, summed, up to the reading busyAt
	ioKinds      uint32               // kinds whose durations the io histogram counts
	queue, io    Histogram
	waits        [MaxKinds]WaitCount
}

// WaitCount counts the waits of one kind.
type WaitCount struct {
	Now   int64         // tasks waiting there now (counted from the records by Stats)
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

// rec returns t's record, or nil if t has none (it has ended).
func (s *Scheduler) rec(t *Task) *record {
	if t == nil || t.slot == 0 {
		return nil
	}
	i := t.slot - 1
	return &s.ins.slab[i/slabChunk][i%slabChunk]
}

// link records a newly spawned task, queued.
func (s *Scheduler) link(t *Task, now int64) {
	in := &s.ins
	if in.free == 0 {
		in.grow(new([slabChunk]record))
		in.grew = now
	}
	t.slot = in.free
	r := s.rec(t)
	in.free = r.nextFree
	in.ids++
	in.live++
	in.spawned++
	*r = record{t: t, id: in.ids, spawned: now, at: now, state: Runnable}
}

// grow adds a chunk to the slab; its slots become the free list.
func (in *inspector) grow(c *[slabChunk]record) {
	base := uint32(len(in.slab)) * slabChunk
	for i := range c {
		c[i].nextFree = base + uint32(i) + 2
	}
	c[slabChunk-1].nextFree = in.free
	in.slab = append(in.slab, c)
	in.free = base + 1
}

// shrinkAfter is how long the slab must have kept its size before an idle
// scheduler gives back what a burst of tasks made it grow by: bursts that
// come more often keep their records.
const shrinkAfter = time.Second

// drop drops an ending task's record at now.
func (s *Scheduler) drop(t *Task, now int64) {
	r := s.rec(t)
	if r == nil {
		return
	}
	in := &s.ins
	in.completed++
	if t.panicked {
		in.panicked++
	}
	*r = record{nextFree: in.free}
	in.free, t.slot = t.slot, 0
	if in.live--; in.live == 0 && (s.closed || s.draining) {
		s.idleNow = true // reported by unlockAfterEnd
	}
	if in.live == 0 && len(in.slab) > 1 && clock.Duration(now-in.grew) > shrinkAfter {
		// Idle: give back the chunks that a burst of tasks needed.
		first := in.slab[0]
		clear(first[:])
		clear(in.slab)
		in.slab, in.free = in.slab[:0], 0
		in.grow(first)
	}
}

// forget unlinks a task that ends holding no worker (a goroutine other
// than its own is in a wait with its context).
func (t *Task) forget() {
	now := clock.Now()
	t.s.mu.Lock()
	t.s.drop(t, now)
	t.s.unlockAfterEnd()
}

// run records that t got a worker at now: its time in the queue ends.
func (s *Scheduler) run(t *Task, now int64) {
	if r := s.rec(t); r != nil {
		s.ins.queue.add(now - r.at)
		r.state, r.at, r.kind = Running, now, KindNone
	}
}

// queue records that t, holding no worker, queued for one at now.
func (s *Scheduler) queue(t *Task, now int64, kind uint8) {
	if r := s.rec(t); r != nil {
		r.state, r.at, r.kind = Runnable, now, kind
	}
}

// left records that t gave its worker up at now, for a wait or for good.
func (s *Scheduler) left(t *Task, l label, now int64) {
	if l.end {
		s.drop(t, now)
		return
	}
	if r := s.rec(t); r != nil {
		r.state, r.at, r.kind, r.arg, r.region = Waiting, now, l.kind, l.arg, l.region
	}
}

// woke records the end of t's wait at now and returns the wait's trace
// region, for the caller to end outside the lock.
func (s *Scheduler) woke(t *Task, now int64) *trace.Region { return s.endWait(t, now, false) }

// wokeKeepRegion is woke on a goroutine other than t's, which must not end
// its trace region: endRegion does, on t's goroutine.
func (s *Scheduler) wokeKeepRegion(t *Task, now int64) { s.endWait(t, now, true) }

// endRegion ends the trace region that wokeKeepRegion kept, if any.
func (s *Scheduler) endRegion(t *Task) {
	if !trace.IsEnabled() {
		return // no region was started, or it can no longer be recorded
	}
	s.mu.Lock()
	var region *trace.Region
	if r := s.rec(t); r != nil {
		region, r.region = r.region, nil
	}
	s.mu.Unlock()
	if region != nil {
		region.End()
	}
}

func (s *Scheduler) endWait(t *Task, now int64, keepRegion bool) *trace.Region {
	r := s.rec(t)
	if r == nil || r.state != Waiting {
		return nil
	}
	in := &s.ins
	d := max(0, now-r.at)
	w := &in.waits[r.kind]
	w.Count++
	w.total += d
	if in.ioKinds&(1<<r.kind) != 0 {
		in.io.add(d)
	}
	r.state, r.at, r.kind, r.arg = Runnable, now, KindNone, nil
	if keepRegion {
		return nil
	}
	region := r.region
	r.region = nil
	return region
}

// lend records that t lends its worker to child, which has not started
// (RunInline): t waits for child to end, and child runs.
func (s *Scheduler) lend(t, child *Task, now int64) {
	s.left(t, label{kind: KindJoin}, now)
	s.run(child, now)
}

// lentBack records that child, which ran on t's worker, ended and gave the
// worker back to t.
func (s *Scheduler) lentBack(child, t *Task) {
	now := clock.Now()
	s.mu.Lock()
	s.drop(child, now)
	s.woke(t, now) // RunInline's wait has no trace region
	s.run(t, now)
	s.unlockAfterEnd()
}

// account adds the time workers were held since the last change of their
// number; call it before s.running changes.
func (s *Scheduler) account(now int64) {
	s.ins.busy += int64(s.running) * max(0, now-s.ins.busyAt)
	s.ins.busyAt = now
}

// ReleaseFor is Release for a wait of the given kind (the executor's
// number, below MaxKinds) on arg, which Tasks reports while the task
// waits. region, if not nil, is the wait's execution trace region: Acquire
// ends it (and ReleaseFor, if it returns false).
func (t *Task) ReleaseFor(kind uint8, arg any, region *trace.Region) bool {
	if !t.state.CompareAndSwap(holding, released) {
		if region != nil {
			region.End()
		}
		return false
	}
	t.s.release(true, t, label{kind: kind, arg: arg, region: region})
	return true
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
// holds the scheduler's lock while it copies the records, a few
// nanoseconds a task, and sorts them after.
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
		for _, c := range s.ins.slab {
			for i := range c {
				if r := &c[i]; r.state != gone {
					rs = append(rs, raw{TaskInfo{ID: r.id, Runner: r.t.runner, State: r.state, Kind: r.kind, Arg: r.arg}, r.spawned, r.at})
				}
			}
		}
		s.mu.Unlock()
		break
	}
	slices.SortFunc(rs, func(a, b raw) int { return cmp.Compare(a.info.ID, b.info.ID) })
	scale := clock.Current()
	for _, r := range rs {
		r.info.Spawned, r.info.Since = scale.Time(r.spawned), scale.Time(r.at)
		buf = append(buf, r.info)
	}
	return buf
}
