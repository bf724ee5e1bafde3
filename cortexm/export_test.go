package cortexm

import (
	"errors"
	"fmt"
)

// This file exposes the executor's internals to the external tests, which
// need package sim (itself an importer of cortexm) to drive interrupts.

// Waiters returns the tasks waiting on line, in list order.
func (ex *Executor) Waiters(line Line) []TaskID {
	var ids []TaskID
	for n := ex.lists[line].waiting.head; n != nil; n = n.next {
		ids = append(ids, n.id)
	}
	return ids
}

// Queued reports whether task id is queued for a poll from Run.
func (ex *Executor) Queued(id TaskID) bool { return ex.slots[id].ready.list != nil }

// Latched reports line's latch.
func (ex *Executor) Latched(line Line) bool { return ex.lists[line].latched }

// WaitingOn reports whether task id has a node on line's list.
func (ex *Executor) WaitingOn(id TaskID, line Line) bool {
	for k := range ex.slots[id].waits {
		if n := &ex.slots[id].waits[k]; n.list == &ex.lists[line].waiting {
			return true
		}
	}
	return false
}

// CheckInvariants checks the structure of every list and node against the
// rules the executor relies on. Interrupts must be masked or no poll under
// way.
func (ex *Executor) CheckInvariants() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	total := len(ex.slots) * (1 + MaxWaits)
	linked := 0
	walk := func(name string, l *nodeList, check func(n *node)) {
		var prev *node
		k := 0
		for n := l.head; n != nil; n = n.next {
			if k++; k > total {
				bad("%s: cycle", name)
				return
			}
			if n.list != l {
				bad("%s: node of task %d points at another list", name, n.id)
			}
			if n.prev != prev {
				bad("%s: node of task %d has a wrong prev", name, n.id)
			}
			if int(n.id) >= len(ex.slots) {
				bad("%s: node of unknown task %d", name, n.id)
				return
			}
			check(n)
			prev = n
		}
		if l.tail != prev {
			bad("%s: tail is not the last node", name)
		}
		linked += k
	}
	isWait := func(n *node) bool {
		s := &ex.slots[n.id]
		for k := range s.waits {
			if n == &s.waits[k] {
				return true
			}
		}
		return false
	}
	walk("ready", &ex.ready, func(n *node) {
		if n != &ex.slots[n.id].ready {
			bad("ready: holds a waker node of task %d", n.id)
		}
	})
	walk("pass", &ex.pass, func(n *node) {
		if !isWait(n) {
			bad("pass: holds a ready node of task %d", n.id)
		}
	})
	for i := range ex.lists {
		l := &ex.lists[i]
		name := fmt.Sprintf("line %d", i)
		walk(name, &l.waiting, func(n *node) {
			if !isWait(n) {
				bad("%s: holds a ready node of task %d", name, n.id)
			}
			if n.line != Line(i) {
				bad("%s: node of task %d registered for line %d", name, n.id, n.line)
			}
		})
		if l.latched && l.waiting.head != nil {
			bad("%s: latched with tasks waiting", name)
		}
	}

	onLists, live := 0, 0
	for i := range ex.slots {
		s := &ex.slots[i]
		nodes := []*node{&s.ready}
		for k := range s.waits {
			nodes = append(nodes, &s.waits[k])
		}
		for _, n := range nodes {
			if n.id != TaskID(i) {
				bad("slot %d: node names task %d", i, n.id)
			}
			if n.list != nil {
				onLists++
				if s.task == nil {
					bad("slot %d: free but linked", i)
				}
			}
		}
		for a := range s.waits {
			for b := a + 1; b < MaxWaits; b++ {
				na, nb := &s.waits[a], &s.waits[b]
				if na.list != nil && nb.list != nil && na.line == nb.line {
					bad("slot %d: two nodes for line %d", i, na.line)
				}
			}
		}
		if s.task != nil {
			live++
		}
	}
	if onLists != linked {
		bad("%d nodes point at a list but %d are on one", onLists, linked)
	}
	if live != ex.live {
		bad("live is %d, %d slots hold a task", ex.live, live)
	}
	if !ex.busy {
		if ex.pass.head != nil {
			bad("pass list not empty outside a dispatch")
		}
		if ex.ndeferred != 0 {
			bad("%d deferred lines outside a dispatch", ex.ndeferred)
		}
	}
	deferred := 0
	for i := range ex.lists {
		if ex.lists[i].deferred {
			deferred++
		}
	}
	if deferred != ex.ndeferred {
		bad("ndeferred is %d, %d lists deferred", ex.ndeferred, deferred)
	}
	return errors.Join(errs...)
}
