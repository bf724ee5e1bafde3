package cortexm

// node is an intrusive list node that lives in a Slot, that is in the
// caller's static storage. It is the Go equivalent of embassy's
// stack-pinned waker node: the executor never allocates one, it only links
// and unlinks the nodes the caller handed it.
//
// A node is on at most one list at a time; list is nil when it is on none.
type node struct {
	prev, next *node
	list       *nodeList
	id         TaskID // the task whose slot holds this node
	line       Line   // the line a waker node was registered on
}

// nodeList is a doubly linked list of nodes with O(1) append and removal.
// The zero value is an empty list.
type nodeList struct {
	head, tail *node
}

// pushBack appends n, which must not be on any list, to the end of l.
func (l *nodeList) pushBack(n *node) {
	n.list = l
	n.next = nil
	n.prev = l.tail
	if l.tail == nil {
		l.head = n
	} else {
		l.tail.next = n
	}
	l.tail = n
}

// unlink removes n from the list it is on. Removing a node that is on no
// list does nothing, so removal is idempotent.
func (n *node) unlink() {
	l := n.list
	if l == nil {
		return
	}
	if n.prev == nil {
		l.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		l.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	n.prev, n.next, n.list = nil, nil, nil
}

// takeAll moves every node of src to the empty list l in O(len) time: the
// nodes keep their order and point at l afterwards. src is left empty.
func (l *nodeList) takeAll(src *nodeList) {
	l.head, l.tail = src.head, src.tail
	src.head, src.tail = nil, nil
	for n := l.head; n != nil; n = n.next {
		n.list = l
	}
}

// len counts the nodes of l.
func (l *nodeList) len() int {
	k := 0
	for n := l.head; n != nil; n = n.next {
		k++
	}
	return k
}
