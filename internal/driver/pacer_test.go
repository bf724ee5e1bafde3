package driver

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPacerYields: the lone blocking reads of the uring backend and every
// system call of the portable backend yield the goroutine once per
// yieldEvery calls (see pacer).
func TestPacerYields(t *testing.T) {
	var yields int
	old := yield
	yield = func() { yields++ }
	defer func() { yield = old }()

	var p pacer
	for range 3*yieldEvery + 5 {
		p.pace()
	}
	if yields != 3 {
		t.Fatalf("%d calls made %d yields, want 3", 3*yieldEvery+5, yields)
	}

	path, content := tempFile(t, 64<<10)
	for _, d := range []Driver{newTestUring(t, config{entries: 64, singleIssuer: true, blocking: true}), newPortable("test")} {
		if p, ok := d.(*portableDriver); ok {
			defer p.Shutdown()
		}
		fd, err := d.Open(context.Background(), unix.AT_FDCWD, path, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		yields = 0
		buf := make([]byte, 100)
		for i := range 2 * yieldEvery {
			// WaitAt: the read a page-cache miss makes, here made
			// whatever the cache holds.
			if n, err := d.WaitAt(context.Background(), fd, buf, int64(i*100), false); n != 100 || err != nil || string(buf) != string(content[i*100:i*100+100]) {
				t.Fatalf("%s: WaitAt = %d, %v", d.Name(), n, err)
			}
		}
		if yields != 2 {
			t.Errorf("%s: %d lone blocking reads yielded %d times, want 2", d.Name(), 2*yieldEvery, yields)
		}
		d.Close(fd)
	}
}
