package uring

import (
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestABILayout(t *testing.T) {
	sizes := []struct {
		name      string
		got, want uintptr
	}{
		{"SQE", unsafe.Sizeof(SQE{}), 64},
		{"CQE", unsafe.Sizeof(CQE{}), 16},
		{"Params", unsafe.Sizeof(Params{}), 120},
		{"SQRingOffsets", unsafe.Sizeof(SQRingOffsets{}), 40},
		{"CQRingOffsets", unsafe.Sizeof(CQRingOffsets{}), 40},
		{"GetEventsArg", unsafe.Sizeof(GetEventsArg{}), 24},
		{"ProbeOp", unsafe.Sizeof(ProbeOp{}), 8},
		{"probe", unsafe.Sizeof(probe{}), 16 + 8*maxProbeOps},
		{"BufReg", unsafe.Sizeof(BufReg{}), 40},
		{"Buf", unsafe.Sizeof(Buf{}), 16},
		{"Timespec", unsafe.Sizeof(Timespec{}), 16},
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("sizeof(%s) = %d, want %d", s.name, s.got, s.want)
		}
	}
	var s SQE
	offs := []struct {
		name      string
		got, want uintptr
	}{
		{"fd", unsafe.Offsetof(s.Fd), 4},
		{"off", unsafe.Offsetof(s.Off), 8},
		{"addr", unsafe.Offsetof(s.Addr), 16},
		{"len", unsafe.Offsetof(s.Len), 24},
		{"op_flags", unsafe.Offsetof(s.OpFlags), 28},
		{"user_data", unsafe.Offsetof(s.UserData), 32},
		{"buf_index", unsafe.Offsetof(s.BufIndex), 40},
		{"personality", unsafe.Offsetof(s.Personality), 42},
		{"splice_fd_in", unsafe.Offsetof(s.SpliceFdIn), 44},
		{"addr3", unsafe.Offsetof(s.Addr3), 48},
		{"params.sq_off", unsafe.Offsetof(Params{}.SQOff), 40},
		{"params.cq_off", unsafe.Offsetof(Params{}.CQOff), 80},
		{"buf.resv (ring tail)", unsafe.Offsetof(Buf{}.Resv), 14},
	}
	for _, o := range offs {
		if o.got != o.want {
			t.Errorf("offsetof(%s) = %d, want %d", o.name, o.got, o.want)
		}
	}
}

// newRing sets up a ring or skips the test where io_uring is refused.
func newRing(t *testing.T, entries uint32, p *Params) *Ring {
	t.Helper()
	r, err := Setup(entries, p)
	if err != nil {
		var se *SetupError
		if errors.As(err, &se) && (errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM)) {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// reap waits for one CQE and returns a copy of it.
func reap(t *testing.T, r *Ring) CQE {
	t.Helper()
	for {
		if c := r.PeekCQE(); c != nil {
			cqe := *c
			r.CQAdvance(1)
			return cqe
		}
		if _, err := r.Enter(0, 1, EnterGetEvents); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSetupNopAndClose(t *testing.T) {
	before := countFDs(t)
	var p Params
	r, err := Setup(4, &p)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	if p.SQEntries != 4 || r.SQEntries() != 4 || r.CQEntries() != 8 {
		t.Errorf("entries: params %d/%d ring %d/%d, want 4/8", p.SQEntries, p.CQEntries, r.SQEntries(), r.CQEntries())
	}
	for _, f := range []uint32{FeatNoDrop, FeatExtArg, FeatSingleMmap, FeatRWCurPos} {
		if r.Features()&f == 0 {
			t.Errorf("kernel 5.11+ feature %#x missing", f)
		}
	}
	for i := 0; i < 3; i++ {
		sqe := r.NextSQE()
		sqe.PrepNop()
		sqe.UserData = uint64(100 + i)
	}
	if n := r.Flush(); n != 3 {
		t.Fatalf("Flush = %d, want 3", n)
	}
	if n, err := r.Enter(3, 3, EnterGetEvents); err != nil || n != 3 {
		t.Fatalf("Enter = %d, %v", n, err)
	}
	for i := 0; i < 3; i++ {
		c := reap(t, r)
		if c.UserData != uint64(100+i) || c.Res != 0 {
			t.Errorf("CQE %d = %+v", i, c)
		}
	}
	if r.PeekCQE() != nil {
		t.Error("spurious CQE")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if r.NextSQE() != nil || r.PeekCQE() != nil {
		t.Error("closed ring hands out entries")
	}
	if _, err := r.Enter(0, 0, 0); err != ErrRingClosed {
		t.Errorf("Enter after Close = %v, want ErrRingClosed", err)
	}
	if after := countFDs(t); after != before {
		t.Errorf("fds: %d before, %d after Close", before, after)
	}
}

func TestSQFull(t *testing.T) {
	r := newRing(t, 2, nil)
	for i := 0; i < 2; i++ {
		if r.NextSQE() == nil {
			t.Fatalf("SQ refused entry %d of 2", i)
		}
	}
	if r.SQSpace() != 0 || r.NextSQE() != nil {
		t.Fatal("full SQ handed out a third entry")
	}
	r.Flush()
	if _, err := r.Enter(2, 0, 0); err != nil {
		t.Fatal(err)
	}
	if r.SQSpace() != 2 {
		t.Errorf("SQSpace after submit = %d, want 2", r.SQSpace())
	}
}

func TestUnflush(t *testing.T) {
	r := newRing(t, 4, nil)
	for i := 0; i < 2; i++ {
		r.NextSQE().UserData = uint64(7 + i)
	}
	r.Flush()
	got := r.Unflush(nil)
	if len(got) != 2 || got[0].UserData != 7 || got[1].UserData != 8 {
		t.Fatalf("Unflush = %v", got)
	}
	if n := r.Flush(); n != 0 || r.SQSpace() != 4 {
		t.Fatalf("after Unflush: pending %d space %d", n, r.SQSpace())
	}
}

func TestSetupRefusedIsTyped(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSYS, syscall.EPERM, syscall.ENOMEM} {
		old := setupSyscall
		setupSyscall = func(uint32, *Params) (int, syscall.Errno) { return -1, errno }
		_, err := Setup(4, nil)
		setupSyscall = old
		var se *SetupError
		if !errors.As(err, &se) || !errors.Is(err, errno) {
			t.Errorf("Setup refused with %v: err = %v, want *SetupError wrapping it", errno, err)
		}
	}
	if _, err := Setup(0, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Setup(0) = %v, want EINVAL", err)
	}
	if _, err := Setup(4, &Params{Flags: SetupCQE32}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Setup(CQE32) = %v, want EINVAL", err)
	}
	var se SetupError = SetupError{Op: "io_uring_setup", Err: syscall.EPERM}
	if got, want := se.Error(), "io_uring_setup: operation not permitted (EPERM)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestEnterRetriesEINTR(t *testing.T) {
	r := newRing(t, 4, nil)
	old := enterSyscall
	defer func() { enterSyscall = old }()
	eintrs := 3
	enterSyscall = func(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSz uintptr) (int, syscall.Errno) {
		if eintrs > 0 {
			eintrs--
			return 0, syscall.EINTR
		}
		return old(fd, toSubmit, minComplete, flags, arg, argSz)
	}
	r.NextSQE().PrepNop()
	n, err := r.Enter(r.Flush(), 1, EnterGetEvents)
	if err != nil || n != 1 || eintrs != 0 {
		t.Fatalf("Enter = %d, %v (EINTRs left %d)", n, err, eintrs)
	}
	reap(t, r)

	enterSyscall = func(int, uint32, uint32, uint32, unsafe.Pointer, uintptr) (int, syscall.Errno) {
		return 0, syscall.EBUSY
	}
	if _, err := r.Enter(0, 0, 0); err != syscall.EBUSY {
		t.Fatalf("Enter = %v, want EBUSY passed through", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	r := newRing(t, 4, nil)
	ts := Timespec{Nsec: 1000}
	if _, err := r.WaitTimeout(0, 1, &ts); err != nil {
		t.Fatalf("WaitTimeout with nothing in flight: %v", err)
	}
	r.NextSQE().PrepNop()
	if _, err := r.WaitTimeout(r.Flush(), 1, &Timespec{Sec: 10}); err != nil {
		t.Fatal(err)
	}
	if r.CQReady() != 1 {
		t.Fatalf("CQReady = %d after waiting for a NOP", r.CQReady())
	}
}

// TestCQOverflowNoDrop overfills a 2-entry CQ: with FeatNoDrop the kernel
// keeps the extra CQEs, flags SQCQOverflow, and FlushOverflow brings them
// back; none is lost.
func TestCQOverflowNoDrop(t *testing.T) {
	r := newRing(t, 1, &Params{Flags: SetupCQSize, CQEntries: 2})
	if r.CQEntries() != 2 {
		t.Fatalf("CQEntries = %d", r.CQEntries())
	}
	const total = 6
	for i := 0; i < total; i++ {
		sqe := r.NextSQE()
		sqe.PrepNop()
		sqe.UserData = uint64(i)
		if _, err := r.Enter(r.Flush(), 0, 0); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if r.SQFlags()&SQCQOverflow == 0 {
		t.Fatal("SQCQOverflow not set after overfilling the CQ")
	}
	seen := 0
	for seen < total {
		for c := r.PeekCQE(); c != nil; c = r.PeekCQE() {
			if c.UserData != uint64(seen) {
				t.Fatalf("CQE %d has user_data %d", seen, c.UserData)
			}
			r.CQAdvance(1)
			seen++
		}
		if seen < total {
			if r.SQFlags()&SQCQOverflow == 0 {
				t.Fatalf("%d CQEs lost", total-seen)
			}
			if err := r.FlushOverflow(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r.CQOverflow() != 0 {
		t.Errorf("CQOverflow = %d with FeatNoDrop", r.CQOverflow())
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, 4, nil)
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []uint8{OpNop, OpRead, OpWrite, OpOpenat, OpStatx, OpAsyncCancel, OpSocket} {
		if !p.Supported(op) {
			t.Errorf("op %d not supported on this kernel", op)
		}
	}
	if p.Supported(255) {
		t.Error("op 255 supported")
	}
	q := NewProbe(OpRead)
	if !q.Supported(OpRead) || q.Supported(OpWrite) {
		t.Error("NewProbe does not report what it was given")
	}
}

// pipe returns a pipe closed at the end of the test.
func pipe(t *testing.T) [2]int {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return fds
}

func TestReadWritePipe(t *testing.T) {
	r := newRing(t, 4, nil)
	fds := pipe(t)
	buf := make([]byte, 16)
	msg := []byte("hello")
	var pin runtime.Pinner
	pin.Pin(&buf[0])
	pin.Pin(&msg[0])
	defer pin.Unpin()
	rd := r.NextSQE()
	rd.PrepRW(OpRead, fds[0], unsafe.Pointer(&buf[0]), uint32(len(buf)), ^uint64(0))
	rd.UserData = 1
	wr := r.NextSQE()
	wr.PrepRW(OpWrite, fds[1], unsafe.Pointer(&msg[0]), uint32(len(msg)), ^uint64(0))
	wr.UserData = 2
	if _, err := r.Enter(r.Flush(), 2, EnterGetEvents); err != nil {
		t.Fatal(err)
	}
	res := map[uint64]int32{}
	for i := 0; i < 2; i++ {
		c := reap(t, r)
		res[c.UserData] = c.Res
	}
	if res[1] != 5 || res[2] != 5 || string(buf[:5]) != "hello" {
		t.Fatalf("results %v, buf %q", res, buf[:5])
	}
}

func TestCancelPendingRead(t *testing.T) {
	r := newRing(t, 4, nil)
	fds := pipe(t)
	buf := make([]byte, 8)
	var pin runtime.Pinner
	pin.Pin(&buf[0])
	defer pin.Unpin()
	rd := r.NextSQE()
	rd.PrepRW(OpRead, fds[0], unsafe.Pointer(&buf[0]), 8, ^uint64(0))
	rd.UserData = 1
	if _, err := r.Enter(r.Flush(), 0, 0); err != nil {
		t.Fatal(err)
	}
	c := r.NextSQE()
	c.PrepCancel(0, fds[0], AsyncCancelFd|AsyncCancelAll)
	c.UserData = 2
	if _, err := r.Enter(r.Flush(), 2, EnterGetEvents); err != nil {
		t.Fatal(err)
	}
	res := map[uint64]int32{}
	for i := 0; i < 2; i++ {
		c := reap(t, r)
		res[c.UserData] = c.Res
	}
	if res[1] != -int32(syscall.ECANCELED) || res[2] != 1 {
		t.Fatalf("read res %d (want -ECANCELED), cancel res %d (want 1 cancelled)", res[1], res[2])
	}
}

func TestBufRingRecv(t *testing.T) {
	r := newRing(t, 4, nil)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	br, err := r.RegisterBufRing(4, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Unregister()
	mem, err := unix.Mmap(-1, 0, 4*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANONYMOUS|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	for i := 0; i < 4; i++ {
		br.Add(unsafe.Pointer(&mem[i*64]), 64, uint16(i))
	}
	br.Advance()
	if _, err := unix.Write(fds[1], []byte("ping")); err != nil {
		t.Fatal(err)
	}
	sqe := r.NextSQE()
	sqe.PrepRecv(fds[0], nil, 64, 0, 7)
	sqe.UserData = 9
	if _, err := r.Enter(r.Flush(), 1, EnterGetEvents); err != nil {
		t.Fatal(err)
	}
	c := reap(t, r)
	if c.Res != 4 || c.Flags&CQEFBuffer == 0 {
		t.Fatalf("recv CQE %+v", c)
	}
	bid := c.Flags >> CQEBufferShift
	if got := string(mem[bid*64 : bid*64+4]); got != "ping" {
		t.Fatalf("buffer %d holds %q", bid, got)
	}
	if _, err := r.RegisterBufRing(3, 1); err != syscall.EINVAL {
		t.Errorf("RegisterBufRing(3) = %v, want EINVAL", err)
	}
}
