// Command hello spawns a task, waits for its result and prints it.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/executor-go/executor"
)

func main() {
	executor.Main(func(ctx context.Context) error {
		h := executor.Spawn(ctx, func(ctx context.Context) (int, error) {
			if err := executor.Sleep(ctx, time.Second); err != nil {
				return 0, err
			}
			return 123, nil
		})
		v, err := h.Join(ctx)
		if err != nil {
			return err
		}
		fmt.Println(v) // 123
		return nil
	})
}
