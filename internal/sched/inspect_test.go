package sched

import (
	"testing"
)

// parked is a task whose body the test runs by hand: Spawn registers it,
// and finish ends it.
type parked struct{ t Task }

func (p *parked) RunTask() *Task { return p.t.Finish(false) }

// TestRecordsFollowTasks: every spawned task has a record until it ends,
// the records come out oldest first, slots are reused, and an idle
// scheduler gives back the chunks of a burst once the burst is old.
func TestRecordsFollowTasks(t *testing.T) {
	s := New(1)
	const n = 3*slabChunk + 10
	ps := make([]*parked, n)
	for i := range ps {
		ps[i] = new(parked)
		s.Spawn(&ps[i].t, ps[i])
	}
	ts := s.Tasks(nil)
	if len(ts) != n {
		t.Fatalf("%d records for %d tasks", len(ts), n)
	}
	for i, ti := range ts {
		if ti.ID != uint64(i+1) || ti.Runner != ps[i] {
			t.Fatalf("record %d: ID %d, runner %p; want ID %d, runner %p", i, ti.ID, ti.Runner, i+1, ps[i])
		}
		want := Runnable
		if i == 0 {
			want = Running // the first got the only permit
		}
		if ti.State != want || ti.Since.Before(ti.Spawned) {
			t.Fatalf("record %d: state %d since %v, spawned %v", i, ti.State, ti.Since, ti.Spawned)
		}
	}
	if got := len(s.ins.slab); got != 4 {
		t.Fatalf("%d chunks for %d records", got, n)
	}

	// End them all: each hands the permit to the next, which Run runs.
	Run(&ps[0].t)
	if ts := s.Tasks(nil); len(ts) != 0 {
		t.Fatalf("%d records after every task ended", len(ts))
	}
	// The slab grew just now, so it is kept for the next burst.
	if got := len(s.ins.slab); got != 4 {
		t.Fatalf("%d chunks right after the burst; want the 4 kept", got)
	}
	st := s.Stats()
	if st.Queue.Count() != n || st.Running != 0 || st.Runnable != 0 || st.Waiting != 0 {
		t.Fatalf("queue times counted %d for %d tasks; states %+v", st.Queue.Count(), n, st)
	}

	// A later burst reuses the slots; when it ends long after the slab
	// grew, the slab shrinks to one chunk.
	again := make([]*parked, 2*slabChunk)
	for i := range again {
		again[i] = new(parked)
		s.Spawn(&again[i].t, again[i])
	}
	if got := len(s.ins.slab); got != 4 {
		t.Fatalf("%d chunks; want the 4 reused", got)
	}
	s.mu.Lock()
	s.ins.grew -= int64(1) << 62 // as if the slab grew long ago
	s.mu.Unlock()
	Run(&again[0].t)
	if got := len(s.ins.slab); got != 1 {
		t.Fatalf("%d chunks once idle; want 1", got)
	}
	p := new(parked)
	s.Spawn(&p.t, p)
	if ts := s.Tasks(nil); len(ts) != 1 || ts[0].ID != n+2*slabChunk+1 {
		t.Fatalf("after the shrink: %+v", ts)
	}
	Run(&p.t)
}

// TestWaitsAreCounted: a wait labelled with ReleaseFor shows its kind and
// object while it lasts, and counts when it ends.
func TestWaitsAreCounted(t *testing.T) {
	s := New(1)
	p := new(parked)
	if !s.Spawn(&p.t, p) {
		t.Fatal("the only task did not get the permit")
	}
	name := "/some/file"
	const kind = 7
	s.SetIOKinds(1 << kind)
	if !p.t.ReleaseFor(kind, &name, nil) {
		t.Fatal("ReleaseFor of a holding task returned false")
	}
	ts := s.Tasks(nil)
	if len(ts) != 1 || ts[0].State != Waiting || ts[0].Kind != kind || ts[0].Arg != any(&name) {
		t.Fatalf("while waiting: %+v", ts)
	}
	if st := s.Stats(); st.Waiting != 1 || st.Waits[kind].Now != 1 {
		t.Fatalf("while waiting: %+v", st)
	}
	p.t.Acquire()
	ts = s.Tasks(nil)
	if len(ts) != 1 || ts[0].State != Running || ts[0].Arg != nil {
		t.Fatalf("after the wait: %+v", ts)
	}
	st := s.Stats()
	if st.Waiting != 0 || st.Waits[kind].Now != 0 || st.Waits[kind].Count != 1 || st.IO.Count() != 1 {
		t.Fatalf("after the wait: %+v", st)
	}
	Run(&p.t)
}

// counts is st without its timings, for comparisons of the counters.
func counts(st Stats) Stats {
	st.Busy, st.Queue, st.IO, st.Waits = 0, Histogram{}, Histogram{}, [MaxKinds]WaitCount{}
	return st
}
