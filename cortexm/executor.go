package cortexm

import "errors"

// TaskID identifies a spawned task: it is the index of the task's Slot.
// An id is reused once its task has finished and a later Spawn takes the
// slot, so a stale id names whichever task holds the slot now.
type TaskID uint8

// Line identifies an interrupt line, and with it the WakerList of that line:
// it is an index into the lists given to NewExecutor.
type Line uint8

// State is the interrupt mask saved by Port.Disable, to be handed back to
// Port.Restore. On Cortex-M it holds PRIMASK.
type State uintptr

// A Task is a poll function on the user's own (typically static) struct.
//
// Poll runs with interrupts disabled and must not block. It either finishes
// and returns true, after which the task is never polled again and its slot
// is free for another Spawn, or it arranges for a future interrupt (for
// example by starting a timer), registers on that interrupt's line with
// Executor.Wait, and returns false. A task may be polled when nothing it
// waits for has happened (for instance after Wake, or when it waits on two
// lines and only one fired), so Poll must check its peripheral's state rather
// than assume why it runs.
//
// A Poll that returns false without a Wait is not polled again until
// something calls Wake for it; meanwhile Run keeps sleeping. The Waits of a
// Poll that returns true are dropped (a latch such a Wait consumed is
// spent).
type Task interface {
	Poll(ex *Executor, id TaskID) (done bool)
}

// A Port is the executor's view of one single-core target: a way to mask
// interrupts and a way to sleep until one is pending.
//
// Disable masks every interrupt and returns the previous mask; Restore
// reinstates a mask returned by Disable, after which any interrupt that
// became pending meanwhile is taken. Calls nest. WaitForInterrupt sleeps
// until an interrupt is pending; it is called with interrupts masked and
// must return when one becomes pending even so, as the Cortex-M WFI
// instruction does with PRIMASK set. The interrupt is then taken by the
// Restore that follows.
type Port interface {
	Disable() State
	Restore(State)
	WaitForInterrupt()
}

// MaxWaits is the number of lines one task can wait on at the same time: a
// Slot holds that many waker nodes. Two covers the common "event or
// timeout" select.
const MaxWaits = 2

// MaxSlots and MaxLines are the most slots and lists an Executor can use:
// TaskID and Line are bytes.
const (
	MaxSlots = 256
	MaxLines = 256
)

var (
	// ErrNoSlot is returned by Spawn when every slot holds a live task.
	ErrNoSlot = errors.New("cortexm: no free task slot")
	// ErrNilTask is returned by Spawn for a nil Task.
	ErrNilTask = errors.New("cortexm: nil task")
)

// A Slot is the storage for one task: the task itself, the node that queues
// it for a poll from Run, and MaxWaits waker nodes that link it into the
// WakerLists of the lines it waits on. The caller owns the slots (usually a
// static array) and must neither copy nor reuse them while the Executor
// uses them: the lists point into them. The zero value is a free slot.
type Slot struct {
	task  Task
	ready node
	waits [MaxWaits]node
}

// A WakerList holds the tasks waiting for one interrupt line, in the order
// they registered, and the line's latch: an interrupt that fired while
// nobody waited. The caller owns the lists (usually a static array, one
// element per line). The zero value is an empty list.
type WakerList struct {
	waiting  nodeList
	latched  bool // an interrupt found nobody waiting
	deferred bool // OnInterrupt was called from inside a poll; dispatch after it
}

// Stats counts what an Executor did. Counters wrap around at 2³².
type Stats struct {
	Polls      uint32 // task polls, from Run and from interrupt handlers
	Interrupts uint32 // OnInterrupt calls for a valid line
	Latched    uint32 // interrupts that found nobody waiting and were latched
	Overflows  uint32 // Wait calls made with all MaxWaits nodes of the task in use
	Ignored    uint32 // calls ignored for a bad line or id, or a nested Run
	Sleeps     uint32 // WaitForInterrupt calls made by Run
}

// An Executor runs the tasks of one single-core microcontroller. It never
// allocates after NewExecutor or Init. Every method may be called from
// thread mode, from an interrupt handler or from inside a Poll, except
// Init, Run and RunReady, which belong to thread mode; the Port's mask is
// the only lock. On the host, as on the single core it models, all calls
// must come from one goroutine. The zero Executor must be set up with Init
// before use.
type Executor struct {
	port  Port
	slots []Slot
	lists []WakerList

	ready nodeList // tasks to poll from thread mode, in order
	pass  nodeList // the nodes of the line being dispatched

	live      int  // spawned tasks that have not finished
	ndeferred int  // lists with deferred set
	busy      bool // a poll or a dispatch pass is under way
	running   bool // Run or RunReady is under way
	stats     Stats
}

// NewExecutor returns an executor for port that keeps its tasks in slots
// and its waker lists in lists, one list per interrupt line. It allocates
// the Executor itself and nothing else; see Init to place the Executor in
// static storage too.
func NewExecutor(port Port, slots []Slot, lists []WakerList) *Executor {
	ex := new(Executor)
	ex.Init(port, slots, lists)
	return ex
}

// Init prepares ex, which must not be in use, as NewExecutor does. It lets
// a program keep the Executor in a static variable, as TinyGo's -gc=none
// requires. It clears every slot and list. It panics, at set-up time, if
// port is nil or there are more than MaxSlots slots or MaxLines lists.
func (ex *Executor) Init(port Port, slots []Slot, lists []WakerList) {
	if port == nil {
		panic("cortexm: nil Port")
	}
	if len(slots) > MaxSlots {
		panic("cortexm: more than MaxSlots slots")
	}
	if len(lists) > MaxLines {
		panic("cortexm: more than MaxLines lists")
	}
	*ex = Executor{port: port, slots: slots, lists: lists}
	for i := range slots {
		s := &slots[i]
		*s = Slot{}
		s.ready.id = TaskID(i)
		for k := range s.waits {
			s.waits[k].id = TaskID(i)
		}
	}
	for i := range lists {
		lists[i] = WakerList{}
	}
}

// Spawn stores t in the lowest free slot and queues it for its first poll,
// which Run makes. It returns ErrNoSlot if every slot holds a live task and
// ErrNilTask if t is nil.
func (ex *Executor) Spawn(t Task) (TaskID, error) {
	if t == nil {
		return 0, ErrNilTask
	}
	st := ex.port.Disable()
	for i := range ex.slots {
		s := &ex.slots[i]
		if s.task == nil {
			s.task = t
			ex.live++
			ex.ready.pushBack(&s.ready)
			ex.port.Restore(st)
			return TaskID(i), nil
		}
	}
	ex.port.Restore(st)
	return 0, ErrNoSlot
}

// Wait registers task id on line: the next interrupt of that line polls the
// task once. It is meant to be called from the task's Poll, after setting
// up the peripheral, and before returning false.
//
// Waiting again on a line the task already waits on changes nothing. If the
// line's latch is set (an interrupt fired while nobody waited) Wait
// consumes it and queues the task for a poll from Run instead of
// registering. If the task already waits on MaxWaits other lines, Wait
// cannot record the registration; rather than lose a wake-up it queues the
// task for a poll from Run, as Wake does, and counts an overflow in Stats.
// A bad line or an id with no live task is ignored and counted in Stats.
func (ex *Executor) Wait(id TaskID, line Line) {
	st := ex.port.Disable()
	ex.wait(id, line)
	ex.port.Restore(st)
}

func (ex *Executor) wait(id TaskID, line Line) {
	s := ex.slot(id)
	if s == nil || int(line) >= len(ex.lists) {
		ex.stats.Ignored++
		return
	}
	var free *node
	for k := range s.waits {
		n := &s.waits[k]
		if n.list == nil {
			if free == nil {
				free = n
			}
		} else if n.line == line {
			// Already waiting, or on the pass list being dispatched,
			// which polls the task before this pass ends.
			return
		}
	}
	l := &ex.lists[line]
	switch {
	case l.latched:
		l.latched = false
		ex.enqueue(s)
	case free == nil:
		ex.stats.Overflows++
		ex.enqueue(s)
	default:
		free.line = line
		l.waiting.pushBack(free)
	}
}

// Unwait removes task id from line's list: the task no longer waits for that
// line. It is harmless when the task does not wait on line. A bad line or
// an id with no live task is ignored and counted in Stats.
func (ex *Executor) Unwait(id TaskID, line Line) {
	st := ex.port.Disable()
	s := ex.slot(id)
	if s == nil || int(line) >= len(ex.lists) {
		ex.stats.Ignored++
	} else {
		for k := range s.waits {
			if n := &s.waits[k]; n.list != nil && n.line == line {
				n.unlink()
			}
		}
	}
	ex.port.Restore(st)
}

// Wake queues task id for a poll from Run, whatever it waits for; waking a
// task that is already queued changes nothing. A task can Wake itself to
// yield to the others. An id with no live task is ignored and counted in
// Stats.
func (ex *Executor) Wake(id TaskID) {
	st := ex.port.Disable()
	if s := ex.slot(id); s == nil {
		ex.stats.Ignored++
	} else {
		ex.enqueue(s)
	}
	ex.port.Restore(st)
}

// OnInterrupt is the executor's part of line's interrupt handler. With
// interrupts disabled it takes the line's whole list, leaving it empty, and
// polls each task of the list once, in the order they registered; a task
// that Waits on the line again during that pass joins the fresh list and is
// polled by the next interrupt. If nobody waits, the line's latch is set,
// so that the next Wait on the line is satisfied at once.
//
// OnInterrupt neither allocates, blocks nor defers, so it can run in
// interrupt context. Called from inside a Poll (a software-triggered
// interrupt), it only marks the line, and the line is dispatched as soon as
// the running poll or pass ends. A bad line is ignored and counted in Stats.
func (ex *Executor) OnInterrupt(line Line) {
	st := ex.port.Disable()
	switch {
	case int(line) >= len(ex.lists):
		ex.stats.Ignored++
	case ex.busy:
		ex.stats.Interrupts++
		if l := &ex.lists[line]; !l.deferred {
			l.deferred = true
			ex.ndeferred++
		}
	default:
		ex.stats.Interrupts++
		ex.busy = true
		ex.dispatch(line)
		ex.flush()
		ex.busy = false
	}
	ex.port.Restore(st)
}

// Run polls every task queued for a poll (at first, every spawned task,
// once), then sleeps with Port.WaitForInterrupt until interrupts wake
// tasks, and repeats, polling each task in its own masked section so that
// interrupts are taken between polls. It returns when no task is left.
//
// The check for work and the sleep happen with interrupts masked, so an
// interrupt that arrives between them is not lost: it stays pending, the
// WaitForInterrupt returns at once, and the Restore after it runs the
// handler. Run called while Run or RunReady is under way, or from inside a
// Poll, returns at once and is counted as ignored in Stats.
func (ex *Executor) Run() {
	if !ex.enter() {
		return
	}
	for {
		st := ex.port.Disable()
		if ex.runOne() {
			ex.port.Restore(st)
			continue
		}
		if ex.live == 0 {
			ex.running = false
			ex.port.Restore(st)
			return
		}
		ex.stats.Sleeps++
		ex.port.WaitForInterrupt()
		ex.port.Restore(st)
	}
}

// RunReady polls the tasks queued for a poll when it is called, each once,
// without sleeping, and returns the number of live tasks. It lets a program
// drive the executor from its own main loop; Run is RunReady plus sleep.
// Like Run, it is ignored when called while Run or RunReady is under way or
// from inside a Poll.
func (ex *Executor) RunReady() (live int) {
	if !ex.enter() {
		return ex.Live()
	}
	st := ex.port.Disable()
	k := ex.ready.len()
	ex.port.Restore(st)
	for ; k > 0; k-- {
		st = ex.port.Disable()
		ok := ex.runOne()
		ex.port.Restore(st)
		if !ok {
			break
		}
	}
	st = ex.port.Disable()
	ex.running = false
	live = ex.live
	ex.port.Restore(st)
	return live
}

// Live reports the number of spawned tasks that have not finished.
func (ex *Executor) Live() int {
	st := ex.port.Disable()
	n := ex.live
	ex.port.Restore(st)
	return n
}

// Stats returns a snapshot of the executor's counters.
func (ex *Executor) Stats() Stats {
	st := ex.port.Disable()
	s := ex.stats
	ex.port.Restore(st)
	return s
}

// enter marks the start of Run or RunReady, or counts an ignored nested
// call and reports false.
func (ex *Executor) enter() bool {
	st := ex.port.Disable()
	ok := !ex.running && !ex.busy
	if ok {
		ex.running = true
	} else {
		ex.stats.Ignored++
	}
	ex.port.Restore(st)
	return ok
}

// slot returns the slot of a live task, or nil.
func (ex *Executor) slot(id TaskID) *Slot {
	if int(id) >= len(ex.slots) {
		return nil
	}
	s := &ex.slots[id]
	if s.task == nil {
		return nil
	}
	return s
}

// enqueue queues s for a poll from thread mode unless it is queued already.
func (ex *Executor) enqueue(s *Slot) {
	if s.ready.list == nil {
		ex.ready.pushBack(&s.ready)
	}
}

// runOne polls the task at the head of the ready queue, then dispatches
// the lines its poll raised, and reports whether there was one. Interrupts
// must be disabled.
func (ex *Executor) runOne() bool {
	n := ex.ready.head
	if n == nil {
		return false
	}
	ex.busy = true
	ex.poll(n)
	ex.flush()
	ex.busy = false
	return true
}

// poll polls the task that owns n. It first unlinks all of the task's
// nodes, n included, so a poll starts with no registration: the task
// re-registers whatever it still needs. A finished task is unlinked again
// and its slot freed. Interrupts must be disabled.
func (ex *Executor) poll(n *node) {
	s := &ex.slots[n.id]
	s.unlinkAll()
	if s.task == nil { // cannot happen: finishing unlinks every node
		return
	}
	ex.stats.Polls++
	if s.task.Poll(ex, n.id) {
		s.unlinkAll()
		s.task = nil
		ex.live--
	}
}

// dispatch runs one interrupt of line: it moves the line's list to the
// pass list and polls the task of each node on it. A poll unlinks every
// node of its task, so each task is polled once however the pass list
// changes meanwhile (a poll may Unwait another task of the pass, or Wait
// for it). Interrupts must be disabled and busy set.
func (ex *Executor) dispatch(line Line) {
	l := &ex.lists[line]
	if l.waiting.head == nil {
		l.latched = true
		ex.stats.Latched++
		return
	}
	ex.pass.takeAll(&l.waiting)
	for n := ex.pass.head; n != nil; n = ex.pass.head {
		ex.poll(n)
	}
}

// flush dispatches the lines that OnInterrupt deferred because a poll was
// under way, until none is left. Interrupts must be disabled and busy set.
func (ex *Executor) flush() {
	for ex.ndeferred > 0 {
		for i := range ex.lists {
			if l := &ex.lists[i]; l.deferred {
				l.deferred = false
				ex.ndeferred--
				ex.dispatch(Line(i))
			}
		}
	}
}

// unlinkAll removes every node of s from its list.
func (s *Slot) unlinkAll() {
	s.ready.unlink()
	for k := range s.waits {
		s.waits[k].unlink()
	}
}
