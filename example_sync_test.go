package executor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/executor-go/executor"
)

// On one worker, ten tasks take turns at a Mutex that each holds across a
// Sleep. A task waiting for the lock gives the worker up, so the holder can
// finish its sleep; with a sync.Mutex the first waiter would keep the only
// worker and the holder could never unlock.
func ExampleMutex() {
	var mu executor.Mutex
	counter := 0
	err := executor.Run(executor.Options{Workers: 1}, func(ctx context.Context) error {
		var hs []*executor.JoinHandle[struct{}]
		for range 10 {
			hs = append(hs, executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				if err := mu.Lock(ctx); err != nil {
					return struct{}{}, err
				}
				defer mu.Unlock()
				c := counter
				if err := executor.Sleep(ctx, time.Millisecond); err != nil {
					return struct{}{}, err
				}
				counter = c + 1
				return struct{}{}, nil
			}))
		}
		for _, h := range hs {
			if _, err := h.Join(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	fmt.Println(counter, err)
	// Output: 10 <nil>
}

// The critical-section rule: an update that holds a lock across a wait and
// must not stop half-way runs as its own spawned task. The executor never
// cancels a task, and a spawned task does not inherit its spawner's
// cancellation, so when the request that started the transfer is abandoned,
// the request's Join returns at once but the transfer still runs to the end.
// Had the transfer been done inline with the request's context, the wait in
// its middle would have returned the request's error after the debit and
// before the credit.
func ExampleMutex_criticalSection() {
	var mu executor.Mutex
	accounts := map[string]int{"alice": 100, "bob": 0}
	journal := make(chan struct{}) // stands for slow I/O in the middle of the update

	err := executor.Run(executor.Options{Workers: 1}, func(ctx context.Context) error {
		req, abandon := context.WithCancel(ctx) // a request its client may abandon
		transfer := executor.Spawn(req, func(ctx context.Context) (struct{}, error) {
			if err := mu.Lock(ctx); err != nil {
				return struct{}{}, err
			}
			defer mu.Unlock()
			accounts["alice"] -= 30
			if _, _, err := executor.Recv(ctx, journal); err != nil { // never req's error
				return struct{}{}, err
			}
			accounts["bob"] += 30
			return struct{}{}, nil
		})
		abandon()
		_, err := transfer.Join(req) // the request gives up waiting...
		fmt.Println("request:", err)

		close(journal)
		_, err = transfer.Join(ctx) // ...but the transfer completes
		fmt.Println("transfer:", err, accounts)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// request: context canceled
	// transfer: <nil> map[alice:70 bob:30]
}

// A Semaphore bounds how many tasks use a resource at once, here 2 of 6 on a
// 4-worker executor.
func ExampleSemaphore() {
	sem := executor.NewSemaphore(2)
	var inUse, most atomic.Int64
	err := executor.Run(executor.Options{Workers: 4}, func(ctx context.Context) error {
		wg := new(executor.WaitGroup)
		for range 6 {
			wg.Add(1)
			executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				defer wg.Done()
				if err := sem.Acquire(ctx, 1); err != nil {
					return struct{}{}, err
				}
				defer sem.Release(1)
				n := inUse.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				err := executor.Sleep(ctx, time.Millisecond)
				inUse.Add(-1)
				return struct{}{}, err
			})
		}
		return wg.Wait(ctx)
	})
	fmt.Println(most.Load() <= 2, err)
	// Output: true <nil>
}

// Every task waiting for an Event wakes when it is set; on one worker this
// works only because the waiters give the worker up.
func ExampleEvent() {
	var ready executor.Event
	err := executor.Run(executor.Options{Workers: 1}, func(ctx context.Context) error {
		var hs []*executor.JoinHandle[string]
		for _, name := range []string{"a", "b", "c"} {
			hs = append(hs, executor.Spawn(ctx, func(ctx context.Context) (string, error) {
				err := ready.Wait(ctx)
				return name + " saw the event", err
			}))
		}
		ready.Set()
		for _, h := range hs {
			s, err := h.Join(ctx)
			if err != nil {
				return err
			}
			fmt.Println(s)
		}
		return nil
	})
	fmt.Println(err, ready.IsSet())
	// Output:
	// a saw the event
	// b saw the event
	// c saw the event
	// <nil> true
}

// A WaitGroup waits for tasks whose handles were dropped.
func ExampleWaitGroup() {
	var wg executor.WaitGroup
	var done atomic.Int64
	err := executor.Run(executor.Options{Workers: 1}, func(ctx context.Context) error {
		for range 5 {
			wg.Add(1) // before Spawn, so that Wait cannot see zero too early
			executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				defer wg.Done()
				err := executor.Sleep(ctx, time.Millisecond)
				done.Add(1)
				return struct{}{}, err
			})
		}
		return wg.Wait(ctx)
	})
	fmt.Println(done.Load(), err)
	// Output: 5 <nil>
}

// A producer and a consumer share one worker over an unbuffered channel.
// Bare channel operations would deadlock: the first to block would keep the
// worker the other needs.
func ExampleRecv() {
	err := executor.Run(executor.Options{Workers: 1}, func(ctx context.Context) error {
		ch := make(chan int)
		executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			defer close(ch)
			for i := 1; i <= 3; i++ {
				if err := executor.Send(ctx, ch, i*i); err != nil {
					return struct{}{}, err
				}
			}
			return struct{}{}, nil
		})
		for {
			v, ok, err := executor.Recv(ctx, ch)
			if err != nil || !ok {
				return err
			}
			fmt.Println(v)
		}
	})
	fmt.Println(err)
	// Output:
	// 1
	// 4
	// 9
	// <nil>
}

// Send and Recv end with ctx's error when ctx ends first.
func ExampleSend() {
	ch := make(chan string) // nobody receives
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(executor.Send(ctx, ch, "hello"))
	// Output: context deadline exceeded
}
