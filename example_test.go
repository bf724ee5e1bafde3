package executor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/executor-go/executor"
)

func ExampleSpawn() {
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		h := executor.Spawn(ctx, func(ctx context.Context) (int, error) {
			if err := executor.Sleep(ctx, 10*time.Millisecond); err != nil {
				return 0, err
			}
			return 123, nil
		}, executor.WithName("answer"))
		v, err := h.Join(ctx)
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: 123
}

func ExampleTaskResultBundle() {
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		b := executor.NewTaskResultBundle(ctx)
		b.Spawn("worker", func(ctx context.Context) error {
			// Runs until another member fails and trips the bundle's token.
			for {
				if err := executor.Sleep(ctx, time.Millisecond); err != nil {
					fmt.Println("worker: stopping")
					return nil
				}
			}
		})
		b.Spawn("config", func(ctx context.Context) error {
			return errors.New("config file missing")
		})
		return b.Wait() // returns once both members have ended
	})
	fmt.Println(err)
	// Output:
	// worker: stopping
	// task "config": config file missing
}

func ExampleCancellationToken() {
	root := executor.NewCancellationToken()
	request := root.Child() // scoped to one request
	request.Cancel()        // ends the request only
	fmt.Println(request.IsCancelled(), root.IsCancelled())

	late := root.Child()
	root.Cancel() // ends everything below root
	fmt.Println(late.IsCancelled(), root.Child().IsCancelled())

	// A token is a context.Context.
	var ctx context.Context = late
	fmt.Println(ctx.Err())
	// Output:
	// true false
	// true true
	// context canceled
}
