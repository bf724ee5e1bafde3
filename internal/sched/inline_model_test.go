package sched

import (
	"slices"
	"testing"
)

// The model of sched_test.go, extended with RunInline and with timed waits
// (Release, then AwaitPermit until Ready). An actor that runs a child
// inline lends it its goroutine: the child's commands run there until it
// finishes, and the actor resumes; if the child exits, every lender up the
// chain exits with it.

const (
	cmdRunInline command = cmdExit + 1 + iota // RunInline(a.child): acks false, or an event on return
	cmdTimedWait                              // Release (and PrepareReady), ack, then AwaitPermit if it gave the permit up
)

const (
	actorInline actorState = actorDone + 1 + iota // in RunInline: its goroutine runs a child
	actorTimed                                    // in AwaitPermit, until the model calls Ready
)

// runInline runs a.child on a's goroutine. Should the child call
// runtime.Goexit, a exits with it from a deferred call, as the executor's
// tasks do.
func (a *actor) runInline() bool {
	returned := false
	defer func() {
		if !returned {
			a.Exit(false)
		}
	}()
	ok := a.RunInline(a.child)
	returned = true
	return ok
}

type inlineModel struct {
	*model
	lender map[int]int // an inline child's id -> the id of the task it runs for
}

// pickTask returns the task that model.step would apply op to.
func (m *inlineModel) pickTask(op, pick uint8) *modelTask {
	var cands []*modelTask
	for _, mt := range m.tasks {
		if m.fits(op, mt) {
			cands = append(cands, mt)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[int(pick)%len(cands)]
}

func (m *inlineModel) tasksIn(state actorState) []*modelTask {
	var out []*modelTask
	for _, mt := range m.tasks {
		if mt.actor == state {
			out = append(out, mt)
		}
	}
	return out
}

// step applies op (0-15) to the task that pick selects: 0-7 as
// model.step does, except that an inline child ends through endInline;
// then RunInline, timed waits and Ready.
func (m *inlineModel) step(op, pick uint8) {
	switch op {
	case 4, 5:
		if mt := m.pickTask(op, pick); mt != nil {
			if _, ok := m.lender[mt.a.id]; ok {
				m.endInline(mt, op == 5)
				m.settle()
				return
			}
		}
		m.model.step(op, pick)
	case 8, 11, 13:
		m.runInline(pick)
	case 9, 12:
		if cands := m.tasksIn(actorRunning); len(cands) > 0 {
			m.timedWait(cands[int(pick)%len(cands)])
		}
	case 10, 14:
		if cands := m.tasksIn(actorTimed); len(cands) > 0 {
			m.ready(cands[int(pick)%len(cands)])
		}
	case 15:
		m.model.step(0, pick)
	default:
		m.model.step(op, pick)
	}
}

// runInline has a running actor run a queued fresh task inline.
func (m *inlineModel) runInline(pick uint8) {
	parents, children := m.tasksIn(actorRunning), m.tasksIn(actorQueuedFresh)
	if len(parents) == 0 || len(children) == 0 {
		return
	}
	p := parents[int(pick)%len(parents)]
	c := children[int(pick)/len(parents)%len(children)]
	p.a.child = &c.a.Task
	p.a.cmd <- cmdRunInline
	if p.state != holding { // a foreign wait holds p's released state
		m.ack(p.a.id, false)
		m.settle()
		return
	}
	i := slices.Index(m.queue, entry{c.a.id, entryFresh})
	if i < 0 {
		m.t.Fatalf("model: fresh task %d not queued", c.a.id)
	}
	m.queue = slices.Delete(m.queue, i, i+1)
	p.state, p.actor = released, actorInline
	c.state, c.actor = holding, actorRunning // the permit moves
	m.lender[c.a.id] = p.a.id
	m.expected = append(m.expected, expect{event: event{id: c.a.id}, sameAs: p.gid})
	m.settle()
}

// endInline finishes or exits c, an inline child.
func (m *inlineModel) endInline(c *modelTask, exit bool) {
	if exit {
		c.a.cmd <- cmdExit
	} else {
		c.a.cmd <- cmdFinish
	}
	held := c.state == holding
	m.completed++
	c.state, c.actor = finished, actorDone
	p := m.tasks[m.lender[c.a.id]]
	delete(m.lender, c.a.id)
	if !exit {
		if held { // the permit goes back to p
			p.state, p.actor = holding, actorRunning
			m.expected = append(m.expected, expect{event: event{id: p.a.id}, sameAs: p.gid})
		} else { // a foreign Release gave c's permit back: p queues for one
			m.take(entry{p.a.id, entryOwn})
		}
		return
	}
	// Goexit unwinds the goroutine: each lender up the chain exits, the
	// permit passing up with it, and the last gives it to the queue.
	for {
		m.completed++
		p.state, p.actor = finished, actorDone
		id, ok := m.lender[p.a.id]
		if !ok {
			break
		}
		delete(m.lender, p.a.id)
		p = m.tasks[id]
	}
	if held {
		m.pass(true, 0)
	}
}

// timedWait has mt start a wait that Ready ends.
func (m *inlineModel) timedWait(mt *modelTask) {
	want := mt.state == holding
	mt.a.cmd <- cmdTimedWait
	if want {
		mt.state, mt.actor = released, actorTimed
		m.pass(true, mt.gid)
	}
	m.ack(mt.a.id, want)
	m.settle()
}

// ready ends mt's timed wait, as a timer would, from the test goroutine.
func (m *inlineModel) ready(mt *modelTask) {
	mt.a.Ready()
	m.take(entry{mt.a.id, entryOwn})
	m.settle()
}

// finishAll ends every task, inline children before the tasks they run for.
func (m *inlineModel) finishAll() {
	for {
		progress := false
		for _, mt := range m.tasks {
			_, inline := m.lender[mt.a.id]
			switch {
			case mt.foreign == foreignReleased:
				m.model.step(7, uint8(m.index(7, mt)))
			case mt.actor == actorWaiting:
				m.model.step(2, uint8(m.index(2, mt)))
			case mt.actor == actorTimed:
				m.ready(mt)
			case mt.actor == actorRunning && inline:
				m.endInline(mt, false)
				m.settle()
			case mt.actor == actorRunning:
				m.model.step(4, uint8(m.index(4, mt)))
			default:
				continue
			}
			progress = true
		}
		if !progress {
			break
		}
	}
	for _, mt := range m.tasks {
		if mt.actor != actorDone || mt.foreign != foreignNone {
			m.t.Fatalf("task %d left in state %d/%d", mt.a.id, mt.actor, mt.foreign)
		}
	}
	if m.free != m.workers || len(m.queue) != 0 || len(m.lender) != 0 {
		m.t.Fatalf("model: %d free of %d, %d queued, %d inline", m.free, m.workers, len(m.queue), len(m.lender))
	}
}

// runInlineProgram interprets program as runProgram does, with 16
// operations: the low 4 bits of each byte pick the operation, the high 4
// the task.
func runInlineProgram(t *testing.T, program []byte) {
	if len(program) == 0 {
		return
	}
	if len(program) > 200 {
		program = program[:200]
	}
	m := &inlineModel{model: newModel(t, 1+int(program[0]%3)), lender: map[int]int{}}
	for _, b := range program[1:] {
		op := b & 15
		if (op == 0 || op == 15) && len(m.tasks) >= 32 {
			continue
		}
		m.step(op, b>>4)
	}
	m.finishAll()
}

func FuzzSchedulerInline(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 4, 4})                    // run inline, finish, the parent resumes
	f.Add([]byte{0, 0, 0, 0, 8, 8, 5})                 // nested inline, Goexit unwinds both
	f.Add([]byte{1, 0, 0, 0, 8, 6, 4, 7, 4})           // the child's permit held by a foreign wait
	f.Add([]byte{0, 0, 9, 0, 10, 4, 4})                // timed wait behind a fresh task
	f.Add([]byte{1, 0, 0, 0, 9, 0, 2, 10, 8, 1, 3, 2}) // Ready with Acquire waiters
	f.Fuzz(runInlineProgram)
}

// TestRandomInlinePrograms runs FuzzSchedulerInline's interpreter on
// pseudo-random programs from fixed seeds.
func TestRandomInlinePrograms(t *testing.T) { runRandomPrograms(t, 3, runInlineProgram) }
