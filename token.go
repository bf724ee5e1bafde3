package executor

import (
	"context"
	"runtime"
	"sync"
	"time"
	"weak"
)

// CancellationToken is a cooperative stop signal. It is a context.Context:
// pass it where a context goes and its Done, Err and Cause (context.Cause)
// report the cancellation. Tokens form a tree: cancelling a token cancels
// its children, never its parent.
//
// The executor never cancels a task; a task stops early only by watching a
// token (or any context) that someone cancels.
//
// A token holds its children weakly, so a long-lived token (the shutdown
// token, say) can hand out any number of short-lived children that are
// simply dropped: they cost nothing once unreachable.
//
// The zero value is a fresh, uncancelled root token, the same as one from
// NewCancellationToken, so a token can be a plain field of a struct. A
// token must not be copied after first use.
type CancellationToken struct {
	once   sync.Once       // makes a zero token's context on first use (see inner)
	ctx    context.Context // done when the token is cancelled; carries the token's values
	cancel context.CancelCauseFunc
	values context.Context // the value chain: inherited by children
	parent *CancellationToken
	link   *childLink // this token's entry in parent.children, or nil

	mu        sync.Mutex
	cancelled bool
	cause     error
	children  map[*childLink]struct{}
}

// childLink is a parent's weak reference to one child.
type childLink struct {
	parent *CancellationToken
	child  weak.Pointer[CancellationToken]
}

// NewCancellationToken returns a token that is cancelled only by its Cancel.
func NewCancellationToken() *CancellationToken {
	return newToken(nil, context.Background())
}

// newToken returns a child of parent (nil for a root) whose Value lookups go
// to values, and which values' cancellation, if any, cancels too. A task's
// context is never cancelled, so a token bound to one registers nowhere but
// with its parent token.
func newToken(parent *CancellationToken, values context.Context) *CancellationToken {
	t := &CancellationToken{parent: parent, values: values}
	t.ctx, t.cancel = context.WithCancelCause(values)
	if parent != nil {
		parent.adopt(t)
	}
	return t
}

// inner returns t's context, making it on the first use of a zero token,
// which is then a root whose values are context.Background's. Every
// method reaches t.ctx, t.cancel and t.values through it.
func (t *CancellationToken) inner() context.Context {
	t.once.Do(t.initZero)
	return t.ctx
}

func (t *CancellationToken) initZero() {
	if t.ctx == nil { // not made by newToken: the zero value
		t.values = context.Background()
		t.ctx, t.cancel = context.WithCancelCause(t.values)
	}
}

// adopt registers c as a child of t, or cancels it at once if t is.
func (t *CancellationToken) adopt(c *CancellationToken) {
	t.mu.Lock()
	if t.cancelled {
		cause := t.cause
		t.mu.Unlock()
		c.cancelWith(cause)
		return
	}
	l := &childLink{parent: t, child: weak.Make(c)}
	if t.children == nil {
		t.children = make(map[*childLink]struct{})
	}
	t.children[l] = struct{}{}
	c.link = l
	t.mu.Unlock()
	// Forget the child once it is garbage: a dropped child must not keep an
	// entry in its parent forever.
	runtime.AddCleanup(c, (*childLink).forget, l)
}

// forget removes l from its parent's children.
func (l *childLink) forget() {
	p := l.parent
	p.mu.Lock()
	delete(p.children, l)
	p.mu.Unlock()
}

// Child returns a new token that is cancelled when t is (at once, if t
// already is) or by its own Cancel, which leaves t alone. The child shares
// t's context values.
func (t *CancellationToken) Child() *CancellationToken {
	t.inner()
	return newToken(t, t.values)
}

// Bind returns a child of t that carries ctx's values and is cancelled by
// t or by ctx, whichever comes first. Inside a task, bind the token to the
// task's context before a wait, so that the wait both gives up the task's
// worker (it finds the task in the values) and ends when t is cancelled:
//
//	err := executor.Sleep(tok.Bind(ctx), time.Minute)
//
// A bare token carries no task, so a task waiting on it keeps its worker.
func (t *CancellationToken) Bind(ctx context.Context) *CancellationToken {
	checkCtx(ctx)
	return newToken(t, ctx)
}

// Cancel cancels t and all its descendants. Their Err returns
// context.Canceled. Cancelling a cancelled token does nothing.
func (t *CancellationToken) Cancel() { t.cancelWith(context.Canceled) }

// CancelWithCause cancels t and all its descendants, recording cause, which
// context.Cause returns for them. A nil cause means context.Canceled.
func (t *CancellationToken) CancelWithCause(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	t.cancelWith(cause)
}

func (t *CancellationToken) cancelWith(cause error) {
	t.inner()
	t.mu.Lock()
	if t.cancelled {
		t.mu.Unlock()
		return
	}
	t.cancelled, t.cause = true, cause
	children := t.children
	t.children = nil
	t.mu.Unlock()

	t.cancel(cause)
	for l := range children {
		if c := l.child.Value(); c != nil {
			c.cancelWith(cause)
		}
	}
	if t.link != nil {
		t.link.forget() // keep the parent's set to live, uncancelled children
	}
}

// IsCancelled reports whether t has been cancelled.
func (t *CancellationToken) IsCancelled() bool { return t.inner().Err() != nil }

// Deadline implements context.Context; a token has no deadline.
func (t *CancellationToken) Deadline() (time.Time, bool) { return t.inner().Deadline() }

// Done implements context.Context: it returns a channel closed when t is
// cancelled.
func (t *CancellationToken) Done() <-chan struct{} { return t.inner().Done() }

// Err implements context.Context: nil until t is cancelled, then
// context.Canceled.
func (t *CancellationToken) Err() error { return t.inner().Err() }

// Value implements context.Context.
func (t *CancellationToken) Value(key any) any { return t.inner().Value(key) }

// String describes the token, for debugging.
func (t *CancellationToken) String() string {
	if t.IsCancelled() {
		return "executor.CancellationToken(cancelled)"
	}
	return "executor.CancellationToken"
}
