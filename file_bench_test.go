package executor

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// BenchmarkReadAtCached: 4 KiB reads at random offsets of a 64 MiB file in
// the page cache, by 32 tasks on a GOMAXPROCS executor, against 32
// goroutines with os.File.ReadAt, in the same run. cmd/execbench measures
// the full matrix (O_DIRECT, 1 GiB, fio); this one is for profiling.
func BenchmarkReadAtCached(b *testing.B) {
	const size, block, readers = 64 << 20, 4096, 32
	name := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(name, make([]byte, size), 0o600); err != nil {
		b.Fatal(err)
	}
	// run starts readers through spawn; each reads b.N/readers blocks.
	run := func(b *testing.B, spawn func(func(ctx context.Context)), read func(ctx context.Context, p []byte, off int64) error) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		wg.Add(readers)
		b.ResetTimer()
		for range readers {
			spawn(func(ctx context.Context) {
				defer wg.Done()
				p := make([]byte, block)
				for range b.N / readers {
					if err := read(ctx, p, rand.Int64N(size/block)*block); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	for _, backend := range []string{"uring", "portable"} {
		b.Run("executor-"+backend, func(b *testing.B) {
			e := newExecutor(b, Options{Backend: backend})
			f, err := Open(e.Context(), name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			run(b, func(fn func(context.Context)) {
				Spawn(e.Context(), func(ctx context.Context) (int, error) { fn(ctx); return 0, nil })
			}, func(ctx context.Context, p []byte, off int64) error {
				_, err := f.ReadAt(ctx, p, off)
				return err
			})
		})
	}
	b.Run("os.File", func(b *testing.B) {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run(b, func(fn func(context.Context)) { go fn(context.Background()) },
			func(_ context.Context, p []byte, off int64) error {
				_, err := f.ReadAt(p, off)
				return err
			})
	})
}
