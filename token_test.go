package executor

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestTokenTree(t *testing.T) {
	root := NewCancellationToken()
	child := root.Child()
	grandchild := child.Child()
	sibling := root.Child()

	child.Cancel()
	if !child.IsCancelled() || !grandchild.IsCancelled() {
		t.Fatal("cancelling a token did not cancel its descendants")
	}
	if root.IsCancelled() || sibling.IsCancelled() {
		t.Fatal("cancelling a child cancelled its parent or a sibling")
	}
	select {
	case <-grandchild.Done():
	default:
		t.Fatal("a cancelled token's Done is open")
	}
	if !errors.Is(grandchild.Err(), context.Canceled) {
		t.Fatalf("Err = %v", grandchild.Err())
	}

	errStop := errors.New("stop now")
	root.CancelWithCause(errStop)
	if !sibling.IsCancelled() || !errors.Is(context.Cause(sibling), errStop) {
		t.Fatalf("sibling: cancelled=%v cause=%v; want the root's cause", sibling.IsCancelled(), context.Cause(sibling))
	}
	if !errors.Is(context.Cause(child), context.Canceled) {
		t.Fatalf("an earlier cancellation's cause was overwritten: %v", context.Cause(child))
	}
	late := root.Child()
	if !late.IsCancelled() || !errors.Is(context.Cause(late), errStop) {
		t.Fatal("a child of a cancelled token does not start cancelled")
	}
	root.Cancel() // a second cancel does nothing
	if !errors.Is(context.Cause(root), errStop) {
		t.Fatal("a second Cancel replaced the cause")
	}
}

// TestTokenWorksAsContext: a token serves every API that takes a context.
func TestTokenWorksAsContext(t *testing.T) {
	tok := NewCancellationToken()
	derived, cancel := context.WithCancel(tok)
	defer cancel()
	stopped := make(chan struct{})
	stop := context.AfterFunc(tok, func() { close(stopped) })
	defer stop()
	tok.Cancel()
	<-derived.Done()
	<-stopped
	if _, ok := tok.Deadline(); ok {
		t.Error("a token has a deadline")
	}
}

// TestTokenChildrenAreNotRetained: creating and dropping a million children of
// a long-lived token keeps memory flat.
func TestTokenChildrenAreNotRetained(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	root := NewCancellationToken()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // the second cycle frees what the first one's cleanups released
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := 0; i < n; i++ {
		c := root.Child()
		if i%2 == 0 {
			_ = c.Done() // a child someone waited on
		}
	}
	waitFor(t, func() bool {
		runtime.GC()
		root.mu.Lock()
		defer root.mu.Unlock()
		return len(root.children) < n/100
	})
	after := heap()
	// A retained child costs hundreds of bytes: a million would be hundreds
	// of MB. Allow a few MB of noise (the children map's buckets, pools).
	if after > before+16<<20 {
		t.Fatalf("heap grew from %d to %d bytes after dropping %d children", before, after, n)
	}
	root.Cancel() // still works, with whatever children are left
}

func TestCancelledChildLeavesParent(t *testing.T) {
	root := NewCancellationToken()
	keep := make([]*CancellationToken, 1000)
	for i := range keep {
		keep[i] = root.Child()
		keep[i].Cancel()
	}
	root.mu.Lock()
	n := len(root.children)
	root.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d cancelled children still registered with their parent", n)
	}
	runtime.KeepAlive(keep)
}

// TestBind: a token bound to a task's context makes a wait give up the
// worker and end with the token; a bound token also follows its context.
func TestBind(t *testing.T) {
	e := newExecutor(t, Options{Workers: 1})
	tok := NewCancellationToken()
	sleeping := make(chan struct{})
	h := Spawn(e.Context(), func(ctx context.Context) (error, error) {
		close(sleeping)
		return Sleep(tok.Bind(ctx), time.Hour), nil
	})
	<-sleeping
	// Runs only if the sleeper gave its worker up.
	Spawn(e.Context(), func(ctx context.Context) (int, error) { tok.Cancel(); return 0, nil })
	if err, _ := h.Join(context.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a bound token = %v", err)
	}

	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKeyT("k"), "v"))
	b := NewCancellationToken().Bind(ctx)
	if b.Value(ctxKeyT("k")) != "v" || b.Child().Value(ctxKeyT("k")) != "v" {
		t.Fatal("a bound token lost its context's values")
	}
	cancel()
	<-b.Done()
}

// TestZeroToken: the zero CancellationToken is a fresh, uncancelled root,
// as a zero sync.Mutex is an unlocked mutex: every method works on it.
func TestZeroToken(t *testing.T) {
	var zero CancellationToken
	if err := zero.Err(); err != nil {
		t.Fatalf("Err of a zero token = %v; want nil", err)
	}
	if zero.IsCancelled() {
		t.Fatal("a zero token starts cancelled")
	}
	if _, ok := zero.Deadline(); ok {
		t.Fatal("a zero token has a deadline")
	}
	if zero.Value(contextKey{}) != nil {
		t.Fatal("a zero token carries values")
	}
	child := zero.Child()
	e := newExecutor(t, Options{Workers: 1})
	bound := zero.Bind(e.Context())
	if got, ok := FromContext(bound); !ok || got != e {
		t.Fatal("Bind on a zero token lost the bound context's values")
	}
	done := zero.Done()
	select {
	case <-done:
		t.Fatal("a zero token's Done is closed before Cancel")
	default:
	}
	zero.Cancel()
	<-done // the channel handed out before Cancel is the one closed
	for name, tok := range map[string]*CancellationToken{"zero": &zero, "child": child, "bound": bound} {
		if !errors.Is(tok.Err(), context.Canceled) || !tok.IsCancelled() {
			t.Errorf("%s token after Cancel: Err = %v", name, tok.Err())
		}
	}
	if s := zero.String(); s != "executor.CancellationToken(cancelled)" {
		t.Errorf("String = %q", s)
	}

	var withCause CancellationToken
	errStop := errors.New("stop")
	withCause.CancelWithCause(errStop)
	if !errors.Is(context.Cause(&withCause), errStop) {
		t.Errorf("Cause of a zero token cancelled with a cause = %v", context.Cause(&withCause))
	}
	if err := Sleep(&withCause, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled zero token = %v", err)
	}
}

// TestZeroTokenConcurrentFirstUse: goroutines that use a zero token for
// the first time at once all see the same token (run with -race).
func TestZeroTokenConcurrentFirstUse(t *testing.T) {
	var tok CancellationToken
	var wg sync.WaitGroup
	dones := make([]<-chan struct{}, 8)
	for i := range dones {
		wg.Go(func() { dones[i] = tok.Child().Done() })
	}
	wg.Wait()
	tok.Cancel()
	for _, d := range dones {
		<-d
	}
}
