package executor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"unsafe"

	"github.com/executor-go/executor/internal/driver"
)

// BufferAlign is the alignment of every BufferPool buffer, and the unit its
// buffer size is rounded up to: what O_DIRECT asks of a buffer on common
// file systems and devices.
const BufferAlign = 4096

// maxPoolBytes bounds a pool's memory, so that size×count cannot overflow.
const maxPoolBytes = 1 << 40

// ErrForeignBuffer is returned (wrapped) by BufferPool.Put for a slice that
// is not a buffer the pool gave out, or that was already put back.
var ErrForeignBuffer = errors.New("executor: not a buffer this pool has given out")

// BufferPool is a fixed set of equal-sized buffers for File reads and
// writes, allocated once and aligned to BufferAlign, as O_DIRECT requires.
//
// On the io_uring backend the pool registers its memory with the kernel
// (fixed buffers, IORING_REGISTER_BUFFERS2). A read or write of a regular
// file that goes through the ring, whose buffer lies inside a pool buffer,
// is then made as READ_FIXED or WRITE_FIXED: the kernel does not look up
// and pin the buffer's pages for each request, which cuts the CPU time of
// an O_DIRECT read by a fifth or more (docs/ARCHITECTURE.md, "Performance
// and scale"). Nothing else changes: the buffers are ordinary []byte passed
// to File.ReadAt, File.WriteAt and the rest, and any part of a buffer may
// be used. Where registration is refused (the portable backend, a
// RLIMIT_MEMLOCK too low for the pool, a ring with every slot taken), the
// pool works the same without it; Registered and RegisterError say which.
//
// A BufferPool is safe for concurrent use. Close a pool no longer needed:
// until then, or until the executor shuts down, its memory stays registered,
// and allocated, even if the pool itself is dropped. After Close the memory
// is the garbage collector's once no buffer of the pool is reachable.
type BufferPool struct {
	size, count int
	mem         []byte // every buffer, back to back, aligned
	sem         *Semaphore

	// done is cancelled by Close, to end the waits of Get.
	done      context.Context
	closeDone context.CancelFunc

	mu     sync.Mutex
	free   []int32 // indices of buffers not given out
	out    []bool  // buffers given out
	closed bool

	d      driver.Driver
	ids    []int // the driver's registrations, one per chunk of at most 1 GiB
	regErr error // why the memory is not registered; nil if it is
}

// NewBufferPool allocates count buffers of size bytes (rounded up to a
// multiple of BufferAlign) for the driver of the executor found in ctx (or
// the default executor), and registers them with it where it can. It fails
// for a size or count below 1, or more than 1 TiB in all.
func NewBufferPool(ctx context.Context, size, count int) (*BufferPool, error) {
	if size < 1 || count < 1 {
		return nil, fmt.Errorf("executor: NewBufferPool(%d, %d): size and count must be at least 1", size, count)
	}
	size = (size + BufferAlign - 1) &^ (BufferAlign - 1)
	if size > maxPoolBytes || count > maxPoolBytes/size {
		return nil, fmt.Errorf("executor: NewBufferPool(%d, %d): more than %d bytes", size, count, maxPoolBytes)
	}
	d, err := executorOf(ctx).driver()
	if err != nil {
		return nil, err
	}
	raw := make([]byte, size*count+BufferAlign)
	skip := int(-uintptr(unsafe.Pointer(&raw[0])) & (BufferAlign - 1))
	p := &BufferPool{
		size:  size,
		count: count,
		mem:   raw[skip : skip+size*count : skip+size*count],
		sem:   NewSemaphore(int64(count)),
		free:  make([]int32, count),
		out:   make([]bool, count),
		d:     d,
	}
	p.done, p.closeDone = context.WithCancel(context.Background())
	for i := range p.free {
		p.free[i] = int32(count - 1 - i) // Get hands out buffer 0 first
	}
	p.register()
	return p, nil
}

// register registers the pool's memory with the driver, in chunks of whole
// buffers of at most driver.MaxFixedBuffer bytes, or records why it could
// not.
func (p *BufferPool) register() {
	if p.size > driver.MaxFixedBuffer {
		p.regErr = fmt.Errorf("executor: buffers of %d bytes are larger than the kernel registers (%d)", p.size, driver.MaxFixedBuffer)
		return
	}
	perChunk := driver.MaxFixedBuffer / p.size
	for first := 0; first < p.count; first += perChunk {
		n := min(perChunk, p.count-first)
		id, err := p.d.RegisterBuffer(p.mem[first*p.size : (first+n)*p.size])
		if err != nil {
			p.regErr = fmt.Errorf("executor: registering the pool's buffers: %w", err)
			p.unregister()
			return
		}
		p.ids = append(p.ids, id)
	}
}

// unregister undoes register.
func (p *BufferPool) unregister() error {
	var errs []error
	for _, id := range p.ids {
		errs = append(errs, p.d.UnregisterBuffer(id))
	}
	p.ids = nil
	return errors.Join(errs...)
}

// Size returns the size of each buffer: the size asked of NewBufferPool,
// rounded up to a multiple of BufferAlign.
func (p *BufferPool) Size() int { return p.size }

// Len returns the number of buffers in the pool.
func (p *BufferPool) Len() int { return p.count }

// Registered reports whether the pool's memory is registered with the
// kernel, so that ring reads and writes into it are made as fixed-buffer
// requests. It is false on the portable backend, when registration was
// refused, and once Close has taken effect.
func (p *BufferPool) Registered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids) > 0
}

// RegisterError returns why the pool's memory could not be registered
// (errors.Is(err, errors.ErrUnsupported) on the portable backend; ENOMEM
// when RLIMIT_MEMLOCK is too low for it), or nil if it was.
func (p *BufferPool) RegisterError() error { return p.regErr }

// Get returns a free buffer of Size bytes, waiting (with the task's worker
// given up) until one is put back if all are given out. It returns ctx's
// error if ctx ends first, and an error matching fs.ErrClosed once the pool
// is closed. The buffer's contents are what its last user left there.
func (p *BufferPool) Get(ctx context.Context) ([]byte, error) {
	if !p.sem.TryAcquire(1) {
		// Wait, until ctx ends or the pool closes.
		wctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(p.done, func() { cancel(errPoolClosed) })
		err := p.sem.Acquire(wctx, 1)
		stop()
		cancel(nil)
		if err != nil {
			if context.Cause(wctx) == errPoolClosed && ctx.Err() == nil {
				return nil, fmt.Errorf("executor: BufferPool.Get: %w", fs.ErrClosed)
			}
			return nil, err
		}
	}
	return p.take()
}

// errPoolClosed ends the wait of a Get when the pool closes.
var errPoolClosed = errors.New("executor: buffer pool closed")

// TryGet is Get without the wait: ok is false if every buffer is given out
// or the pool is closed.
func (p *BufferPool) TryGet() (buf []byte, ok bool) {
	if !p.sem.TryAcquire(1) {
		return nil, false
	}
	buf, err := p.take()
	return buf, err == nil
}

// take hands out a free buffer for a permit the caller holds.
func (p *BufferPool) take() ([]byte, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.sem.Release(1) // for the next waiter, which finds the pool closed too
		return nil, fmt.Errorf("executor: BufferPool.Get: %w", fs.ErrClosed)
	}
	i := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.out[i] = true
	p.mu.Unlock()
	return p.mem[int(i)*p.size : (int(i)+1)*p.size : (int(i)+1)*p.size], nil
}

// Put gives back a buffer that Get or TryGet returned; buf may be resliced
// (buf[:n]) but must start where the buffer starts. The caller must not use
// it afterwards, and must not put back a buffer a read or write is still
// using. A slice that is not such a buffer, or one already put back, is
// refused with an error matching ErrForeignBuffer, and the pool is left as
// it was.
func (p *BufferPool) Put(buf []byte) error {
	i, ok := p.index(buf)
	p.mu.Lock()
	if !ok || !p.out[i] {
		p.mu.Unlock()
		return fmt.Errorf("executor: BufferPool.Put of %d bytes at %p: %w", len(buf), unsafe.SliceData(buf), ErrForeignBuffer)
	}
	p.out[i] = false
	p.free = append(p.free, int32(i))
	var err error
	if p.closed && len(p.free) == p.count {
		err = p.unregister() // the last buffer of a closed pool is back
	}
	p.mu.Unlock()
	p.sem.Release(1)
	return err
}

// index returns the number of the buffer that starts where buf does.
func (p *BufferPool) index(buf []byte) (int, bool) {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	base := uintptr(unsafe.Pointer(&p.mem[0]))
	if cap(buf) == 0 || start < base || start >= base+uintptr(len(p.mem)) || (start-base)%uintptr(p.size) != 0 {
		return 0, false
	}
	return int((start - base) / uintptr(p.size)), true
}

// Close closes the pool: Get and TryGet fail from now on, and the Gets
// waiting for a buffer return. The pool's registration with the kernel
// ends once every buffer given out has been put back (at once if none is
// out); until then those buffers keep working as before. Close is idempotent; it returns
// an error only if the kernel refused to drop the registration.
func (p *BufferPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.closeDone()
	if len(p.free) == p.count { // no buffer is given out
		return p.unregister()
	}
	return nil
}
