package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// TaskResultBundle runs several fallible tasks side by side and collects
// their results, like errgroup with two differences: Wait always waits for
// every member (a member is never abandoned half-way), and it reports every
// failure, not only the first.
//
// The first member to fail trips the bundle's token. Each member's context is
// a child of that token, so members that watch their context stop early.
// If the context given to NewTaskResultBundle is cancelled, the token trips
// too.
type TaskResultBundle struct {
	ctx  context.Context
	tok  *CancellationToken
	stop func() bool // unregisters the parent-cancellation hook, if any

	mu       sync.Mutex
	members  []*JoinHandle[struct{}]
	failures []*TaskError
}

// TaskError is a bundle member's failure: the task's name and its error.
// A bundle's Wait returns the first failure as a *TaskError; the failures of
// other members, if any, are in Others, and errors.Is and errors.As reach
// all of them.
type TaskError struct {
	Task   string
	Err    error
	Others []*TaskError // later failures of the same bundle, in the order they happened
}

func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %q: %v", e.Task, e.Err)
	switch len(e.Others) {
	case 0:
	case 1:
		fmt.Fprintf(&b, " (and 1 more failure: task %q: %v)", e.Others[0].Task, e.Others[0].Err)
	default:
		fmt.Fprintf(&b, " (and %d more failures)", len(e.Others))
	}
	return b.String()
}

// Unwrap returns the task's error followed by the other members' failures.
func (e *TaskError) Unwrap() []error {
	errs := make([]error, 0, 1+len(e.Others))
	errs = append(errs, e.Err)
	for _, o := range e.Others {
		errs = append(errs, o)
	}
	return errs
}

// NewTaskResultBundle returns an empty bundle whose members run on the
// executor found in ctx (see Spawn). The bundle's token is a child of ctx if
// ctx is a CancellationToken, and is otherwise cancelled when ctx is.
func NewTaskResultBundle(ctx context.Context) *TaskResultBundle {
	checkCtx(ctx)
	b := &TaskResultBundle{ctx: ctx}
	if parent, ok := ctx.(*CancellationToken); ok {
		b.tok = parent.Child()
		return b
	}
	b.tok = NewCancellationToken()
	if ctx.Done() != nil {
		tok := b.tok
		b.stop = context.AfterFunc(ctx, func() { tok.CancelWithCause(context.Cause(ctx)) })
	}
	return b
}

// Token returns the bundle's token. It trips at the first failure; members
// see it through their context.
func (b *TaskResultBundle) Token() *CancellationToken { return b.tok }

// Spawn starts fn as a member task named name. fn's context is a child of
// Token carrying the task's values: it is cancelled when a member fails.
func (b *TaskResultBundle) Spawn(name string, fn func(ctx context.Context) error) {
	if fn == nil {
		panic("executor: Spawn of a nil function")
	}
	h := Spawn(b.ctx, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(b.tok.Bind(ctx))
	}, WithName(name), onDone(b.fail))
	b.mu.Lock()
	b.members = append(b.members, h)
	b.mu.Unlock()
}

// fail records a member's failure, as soon as the member ends, and trips the
// token.
func (b *TaskResultBundle) fail(name string, err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	b.failures = append(b.failures, &TaskError{Task: name, Err: err})
	b.mu.Unlock()
	b.tok.CancelWithCause(err)
}

// Wait waits until every member has ended, those spawned while it waits
// included, and returns nil or the first failure (see TaskError). A task
// that calls Wait gives up its worker while it waits. Wait is not bounded by
// any context: to stop members early, cancel Token.
func (b *TaskResultBundle) Wait() error {
	for i := 0; ; i++ {
		b.mu.Lock()
		if i == len(b.members) {
			b.mu.Unlock()
			break
		}
		h := b.members[i]
		b.mu.Unlock()
		h.wait(b.ctx)
	}
	if b.stop != nil {
		b.stop()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.failures) == 0 {
		return nil
	}
	first := *b.failures[0]
	first.Others = append([]*TaskError(nil), b.failures[1:]...)
	return &first
}
