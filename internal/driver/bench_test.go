package driver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The file benchmarks read 4 KiB blocks at random aligned offsets of a
// 1 GiB file, through O_DIRECT (device bound) or the page cache (CPU
// bound), from 1, 32 and 128 goroutines, and compare each driver
// configuration against os.File.ReadAt in the same run. Reproduce with
//
//	go test -run '^$' -bench BenchmarkRandRead -benchtime 3s ./internal/driver/
//
// Metrics: ops/s, CPU µs per op (user+system, whole process, getrusage),
// io_uring_enter calls per op, and OS threads of the process at the end.

const (
	benchFileSize = 1 << 30
	benchBlock    = 4096
)

var benchFile struct {
	once sync.Once
	path string
	err  error
}

// benchFilePath creates the 1 GiB file once per test binary run (it is
// removed by TestMain).
func benchFilePath(b *testing.B) string {
	if testing.Short() {
		b.Skip("1 GiB benchmark file skipped in -short mode")
	}
	benchFile.once.Do(func() {
		f, err := os.CreateTemp("", "executor-driver-bench-*")
		if err != nil {
			benchFile.err = err
			return
		}
		defer f.Close()
		benchFile.path = f.Name()
		buf := make([]byte, 1<<20)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		for off := 0; off < benchFileSize; off += len(buf) {
			buf[0]++ // no two megabytes alike
			if _, err := f.WriteAt(buf, int64(off)); err != nil {
				benchFile.err = err
				return
			}
		}
		benchFile.err = f.Sync()
	})
	if benchFile.err != nil {
		b.Fatal(benchFile.err)
	}
	return benchFile.path
}

func removeBenchFile() {
	if benchFile.path != "" {
		os.Remove(benchFile.path)
	}
}

// alignedBuf returns a 4 KiB buffer aligned for O_DIRECT.
func alignedBuf() []byte {
	raw := make([]byte, 2*benchBlock)
	off := int(uintptr(benchBlock) - unsafePointer(raw)%benchBlock)
	return raw[off%benchBlock : off%benchBlock+benchBlock]
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func threads() int {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

type readFunc func(p []byte, off int64) (int, error)

func BenchmarkRandRead(b *testing.B) {
	path := benchFilePath(b)
	for _, mode := range []string{"direct", "cached"} {
		flags := os.O_RDONLY
		if mode == "direct" {
			flags |= unix.O_DIRECT
		}
		f, err := os.OpenFile(path, flags, 0)
		if err != nil {
			b.Fatal(err)
		}
		fd := int(f.Fd())
		drivers := []struct {
			name string
			cfg  *config
		}{
			{"os", nil},
			{"portable", nil},
			{"uring-shared", &config{entries: 256}},
			{"uring-single", &config{entries: 256, singleIssuer: true}},
			{"uring-single+nowait", &config{entries: 256, singleIssuer: true, nowait: true}},
			{"uring-default", &defaultConfig},
		}
		for _, conc := range []int{1, 32, 128} {
			for _, dc := range drivers {
				b.Run(fmt.Sprintf("%s/%s/g=%d", mode, dc.name, conc), func(b *testing.B) {
					var read readFunc
					var d Driver
					switch {
					case dc.name == "os":
						read = f.ReadAt
					case dc.name == "portable":
						d = newPortable("bench")
					default:
						d = newTestUring(b, *dc.cfg)
					}
					if d != nil {
						ctx := context.Background()
						read = func(p []byte, off int64) (int, error) { return d.ReadAt(ctx, fd, p, off) }
					}
					runRandRead(b, conc, read, d)
				})
			}
		}
		f.Close()
	}
}

func runRandRead(b *testing.B, conc int, read readFunc, d Driver) {
	runRandReadSize(b, conc, benchFileSize, read, d)
}

// runRandReadSize is runRandRead on a file of size bytes. It shuts d down
// once measured.
func runRandReadSize(b *testing.B, conc int, size int, read readFunc, d Driver) {
	var before Stats
	if d != nil {
		before = d.Stats()
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := alignedBuf()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for left.Add(-1) >= 0 {
				off := int64(rng.IntN(size/benchBlock)) * benchBlock
				if n, err := read(buf, off); n != benchBlock || err != nil {
					failed.Store(fmt.Sprintf("read at %d: %d, %v", off, n, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(threads()), "threads")
	if d != nil {
		after := d.Stats()
		b.ReportMetric(float64(after.Enters-before.Enters)/float64(b.N), "enters/op")
		b.ReportMetric(float64(after.Inline-before.Inline)/float64(b.N), "inline/op")
		d.Shutdown()
	}
}

func unsafePointer(p []byte) uintptr { return uintptr(unsafe.Pointer(&p[0])) }
