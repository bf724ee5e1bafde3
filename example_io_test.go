package executor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/executor-go/executor"
)

func ExampleReadFile() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		name := filepath.Join(dir, "conf", "app.txt")
		if err := executor.MkdirAll(ctx, filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := executor.WriteFile(ctx, name, []byte("debug=true\n"), 0o644); err != nil {
			return err
		}
		b, err := executor.ReadFile(ctx, name)
		if err != nil {
			return err
		}
		fmt.Printf("%s", b)
		_, err = executor.Stat(ctx, filepath.Join(dir, "missing"))
		fmt.Println(errors.Is(err, fs.ErrNotExist))
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// debug=true
	// true
}

func ExampleDirFS() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "static", "css"), 0o755)
	os.WriteFile(filepath.Join(dir, "static", "css", "site.css"), []byte("body{}"), 0o644)
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		fsys := executor.DirFS(ctx, dir)
		return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, err := fs.ReadFile(fsys, path)
				fmt.Println(path, string(b), err)
			}
			return err
		})
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: static/css/site.css body{} <nil>
}

func ExampleListenPacket() {
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		pc, err := executor.ListenPacket(ctx, "udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer pc.Close()
		// A task echoes each datagram to its sender.
		executor.Spawn(ctx, func(ctx context.Context) (struct{}, error) {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(ctx, buf)
				if err != nil {
					return struct{}{}, nil // closed
				}
				pc.WriteTo(ctx, buf[:n], from)
			}
		})
		c, err := executor.Dial(ctx, "udp", pc.LocalAddr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write(ctx, []byte("ping"))
		buf := make([]byte, 1500)
		n, err := c.Read(ctx, buf)
		fmt.Println(string(buf[:n]), err)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output: ping <nil>
}

func ExampleConn_SendFile() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "page.html")
	os.WriteFile(name, []byte("<h1>hello</h1>"), 0o644)
	// A peer that reads everything.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	got := make(chan string)
	go func() {
		c, _ := l.Accept()
		b, _ := io.ReadAll(c)
		c.Close()
		got <- string(b)
	}()
	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		f, err := executor.Open(ctx, name)
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := executor.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			return err
		}
		n, err := c.SendFile(ctx, f, 4, -1) // from offset 4 to the end, inside the kernel
		fmt.Println(n, err)
		return c.Close()
	})
	if err != nil {
		fmt.Println(err)
	}
	fmt.Println(<-got)
	l.Close()
	// Output:
	// 10 <nil>
	// hello</h1>
}

// A storage engine reads 4 KiB pages with O_DIRECT into buffers from a pool,
// which the io_uring backend registers with the kernel once, so that each
// read skips pinning its buffer. Where O_DIRECT is not supported (tmpfs
// before Linux 6.6), the file is opened without it; the pool works alike.
func ExampleBufferPool() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "pages.db")
	page := make([]byte, executor.BufferAlign)
	copy(page, "page 1")
	os.WriteFile(name, append(make([]byte, executor.BufferAlign), page...), 0o644)

	err := executor.Run(executor.Options{Workers: 2}, func(ctx context.Context) error {
		f, err := executor.OpenFile(ctx, name, os.O_RDONLY|syscall.O_DIRECT, 0)
		if errors.Is(err, syscall.EINVAL) {
			f, err = executor.Open(ctx, name)
		}
		if err != nil {
			return err
		}
		defer f.Close()
		pool, err := executor.NewBufferPool(ctx, executor.BufferAlign, 64)
		if err != nil {
			return err
		}
		defer pool.Close()

		buf, err := pool.Get(ctx)
		if err != nil {
			return err
		}
		defer pool.Put(buf)
		n, err := f.ReadAt(ctx, buf, executor.BufferAlign)
		if err != nil {
			return err
		}
		fmt.Printf("%d bytes: %s\n", n, bytes.TrimRight(buf[:n], "\x00"))
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 4096 bytes: page 1
}
