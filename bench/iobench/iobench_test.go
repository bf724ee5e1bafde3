package iobench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/executor-go/executor"
)

func newExecutor(b *testing.B, opts executor.Options) *executor.Executor {
	b.Helper()
	e, err := executor.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Shutdown(context.Background()) })
	if opts.Backend != "" && e.Backend() != opts.Backend {
		b.Skipf("backend %s unavailable: %s", opts.Backend, e.BackendReason())
	}
	return e
}

// cpuTime returns the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (the whole process:
// clients and sinks included, the same for every contender).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// sink accepts one connection on a loopback listener and discards what
// it reads, signalling each time another size bytes have arrived.
func sink(b *testing.B, size int64) (addr string, done <-chan struct{}) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan struct{}, 1)
	go func() {
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		var got int64
		for {
			n, err := c.Read(buf)
			got += int64(n)
			for got >= size {
				got -= size
				ch <- struct{}{}
			}
			if err != nil {
				return
			}
		}
	}()
	return l.Addr().String(), ch
}

func BenchmarkSendFile(b *testing.B) {
	const size = 64 << 20
	name := filepath.Join(b.TempDir(), "file")
	if err := os.WriteFile(name, bytes.Repeat([]byte("0123456789abcdef"), size/16), 0o644); err != nil {
		b.Fatal(err)
	}
	os.ReadFile(name) // into the page cache
	b.Run("executor-sendfile", func(b *testing.B) { benchSendFile(b, name, size, false) })
	b.Run("executor-ring-splice", func(b *testing.B) { benchSendFile(b, name, size, true) })
	b.Run("net-iocopy-osfile", func(b *testing.B) {
		c, f, done := netSender(b, name, size)
		b.SetBytes(size)
		cpu := cpuTime()
		defer func() { reportCPU(b, cpu) }()
		for b.Loop() {
			f.Seek(0, io.SeekStart)
			if n, err := io.Copy(c, f); n != size || err != nil {
				b.Fatal(n, err)
			}
			<-done
		}
	})
	b.Run("net-readwrite-loop", func(b *testing.B) {
		c, f, done := netSender(b, name, size)
		buf := make([]byte, 256<<10)
		b.SetBytes(size)
		cpu := cpuTime()
		defer func() { reportCPU(b, cpu) }()
		for b.Loop() {
			for off := int64(0); off < size; {
				n, err := f.ReadAt(buf, off)
				if _, werr := c.Write(buf[:n]); werr != nil {
					b.Fatal(werr)
				}
				off += int64(n)
				if err != nil && (err != io.EOF || off != size) {
					b.Fatal(err)
				}
			}
			<-done
		}
	})
}

// netSender dials a sink with the net package and opens name with the os
// package, both closed at the end of the benchmark.
func netSender(b *testing.B, name string, size int64) (net.Conn, *os.File, <-chan struct{}) {
	addr, done := sink(b, size)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	f, err := os.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return c, f, done
}

func benchSendFile(b *testing.B, name string, size int64, ring bool) {
	e := newExecutor(b, executor.Options{Backend: "uring", RingSockets: ring})
	ctx := e.Context()
	addr, done := sink(b, size)
	c, err := executor.Dial(ctx, "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f, err := executor.Open(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(size)
	cpu := cpuTime()
	defer func() { reportCPU(b, cpu) }()
	_, err = executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
		for b.Loop() {
			if n, err := c.SendFile(ctx, f, 0, -1); n != size || err != nil {
				return struct{}{}, fmt.Errorf("SendFile = %d, %v", n, err)
			}
			<-done
		}
		return struct{}{}, nil
	}).Join(ctx)
	if err != nil {
		b.Fatal(err)
	}
}

// udpClients runs flows ping-pong clients against addr, b.N round trips
// in all, resending a datagram the loopback lost.
func udpClients(b *testing.B, addr string, flows int) {
	b.Helper()
	conns := make([]net.Conn, flows)
	for i := range conns {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	var left atomic.Int64
	var lost atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	cpu := cpuTime()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			msg, buf := make([]byte, 64), make([]byte, 128)
			for left.Add(-1) >= 0 {
				for {
					c.Write(msg)
					c.SetReadDeadline(time.Now().Add(time.Second))
					if _, err := c.Read(buf); err == nil {
						break
					} else if !errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
					lost.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	reportCPU(b, cpu)
	b.ReportMetric(float64(lost.Load()), "lost")
}

func BenchmarkUDPEcho(b *testing.B) {
	for _, flows := range []int{1, 64} {
		b.Run("flows="+strconv.Itoa(flows)+"/executor", func(b *testing.B) {
			e := newExecutor(b, executor.Options{Backend: "uring", Workers: runtime.GOMAXPROCS(0)})
			ctx := e.Context()
			pc, err := executor.ListenPacket(ctx, "udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			server := executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
				buf := make([]byte, 2048)
				for {
					n, from, err := pc.ReadFrom(ctx, buf)
					if err != nil {
						return struct{}{}, nil
					}
					pc.WriteTo(ctx, buf[:n], from)
				}
			})
			udpClients(b, pc.LocalAddr().String(), flows)
			pc.Close()
			server.Join(ctx)
		})
		b.Run("flows="+strconv.Itoa(flows)+"/net", func(b *testing.B) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 2048)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(buf[:n], from)
				}
			}()
			udpClients(b, pc.LocalAddr().String(), flows)
			pc.Close()
			<-done
		})
	}
}

// smallFiles writes n files of 1–4 KiB into a new directory.
func smallFiles(b *testing.B, n int) []string {
	dir := b.TempDir()
	names := make([]string, n)
	for i := range names {
		names[i] = filepath.Join(dir, "f"+strconv.Itoa(i))
		if err := os.WriteFile(names[i], bytes.Repeat([]byte{byte(i)}, 1024+(i*97)%3072), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return names
}

// threads returns the number of OS threads of the process.
func threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(v)))
			return n
		}
	}
	return 0
}

// maxThreads samples the thread count until stop is closed.
func maxThreads(stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		m := threads()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- max(m, threads())
				return
			case <-t.C:
				m = max(m, threads())
			}
		}
	}()
	return out
}

func BenchmarkReadFile(b *testing.B) {
	const files, workers = 10_000, 32
	names := smallFiles(b, files)
	for _, backend := range []string{"uring", "portable"} {
		b.Run("executor-"+backend, func(b *testing.B) {
			e := newExecutor(b, executor.Options{Backend: backend})
			ctx := e.Context()
			stop := make(chan struct{})
			peak := maxThreads(stop)
			cpu := cpuTime()
			for b.Loop() {
				hs := make([]*executor.JoinHandle[struct{}], workers)
				for w := range hs {
					hs[w] = executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
						for i := w; i < files; i += workers {
							if _, err := executor.ReadFile(ctx, names[i]); err != nil {
								return struct{}{}, err
							}
						}
						return struct{}{}, nil
					})
				}
				for _, h := range hs {
					if _, err := h.Join(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, cpu)
			close(stop)
			b.ReportMetric(float64(<-peak), "threads")
		})
	}
	b.Run("os", func(b *testing.B) {
		stop := make(chan struct{})
		peak := maxThreads(stop)
		cpu := cpuTime()
		for b.Loop() {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < files; i += workers {
						if _, err := os.ReadFile(names[i]); err != nil {
							panic(err)
						}
					}
				})
			}
			wg.Wait()
		}
		reportCPU(b, cpu)
		close(stop)
		b.ReportMetric(float64(<-peak), "threads")
	})
}
