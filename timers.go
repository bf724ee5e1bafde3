package executor

import (
	"sync"
	"time"

	"github.com/executor-go/executor/internal/sched"
)

// sleepers is an executor's queue of tasks asleep in Sleep with a context
// that cannot be cancelled: a min-heap of wake-up times served by one
// runtime timer, armed for the earliest.
//
// A sleeping task's goroutine is parked until its worker is handed to it:
// when its time comes, the timer queues the task for a worker
// (sched.Scheduler.ReadyAll, a batch at a time) without waking it, so a
// task that finds every worker busy is woken once, not woken by a timer
// and then put to sleep again in the run queue. The heap holds its entries by value: a Sleep costs no
// allocation (once the heap has grown) and no goroutine.
type sleepers struct {
	// firing serializes fire, which a Reset may run twice at once: the
	// tasks of a batch must be queued for workers before those of the next.
	firing sync.Mutex

	sched *sched.Scheduler // the executor's, which the due tasks queue in

	mu    sync.Mutex
	base  time.Time   // the origin of the heap's times (monotonic)
	heap  []sleeper   // ordered by when
	timer *time.Timer // fires at heap[0].when; made on first use
}

// sleeper is one sleeping task in the heap.
type sleeper struct {
	t    *sched.Task
	when time.Duration // since base
}

// sleep parks t, which has just released its worker, for d, and returns
// once it holds a worker again.
func (q *sleepers) sleep(t *sched.Task, d time.Duration) {
	t.PrepareReady()
	q.mu.Lock()
	if q.base.IsZero() {
		q.base = time.Now()
	}
	q.push(sleeper{t: t, when: time.Since(q.base) + d})
	if q.heap[0].t == t {
		if q.timer == nil {
			q.timer = time.AfterFunc(d, q.fire)
		} else {
			q.timer.Reset(d)
		}
	}
	q.mu.Unlock()
	t.AwaitPermit()
}

// fire queues every task whose time has come for a worker and re-arms the
// timer for the next. It pops due tasks in batches and queues each batch
// with one acquisition of the scheduler's lock, holding neither lock while
// it holds the other: tasks going to sleep meanwhile wait for the heap only
// while a batch is popped. A Reset while it runs may make it run again:
// that run waits for this one, then finds nothing due, or later tasks.
func (q *sleepers) fire() {
	q.firing.Lock()
	defer q.firing.Unlock()
	var batch [fireBatch]*sched.Task
	for {
		q.mu.Lock()
		now := time.Since(q.base)
		n := 0
		for n < len(batch) && len(q.heap) > 0 && q.heap[0].when <= now {
			batch[n] = q.pop().t
			n++
		}
		if n < len(batch) && len(q.heap) > 0 {
			q.timer.Reset(q.heap[0].when - now)
		}
		q.mu.Unlock()
		if n == 0 {
			return
		}
		q.sched.ReadyAll(batch[:n])
		if n < len(batch) {
			return
		}
	}
}

// fireBatch is how many due tasks fire queues for workers at once.
const fireBatch = 128

func (q *sleepers) push(s sleeper) {
	q.heap = append(q.heap, s)
	h := q.heap
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if h[parent].when <= h[i].when {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *sleepers) pop() sleeper {
	h := q.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = sleeper{}
	h = h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].when < h[small].when {
			small = l
		}
		if r < len(h) && h[r].when < h[small].when {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	q.heap = h
	return top
}
