package driver

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/executor-go/executor/internal/uring"
	"golang.org/x/sys/unix"
)

// The socket ring. Ring sockets (Sockets) run on a second ring of their
// own, opened by the first ring socket operation (a driver whose sockets
// wait in the net package's poller never opens it), with another design
// than the file ring's: no completion thread. A socket completion is the kernel
// running a poll wake-up's task work (the receive itself) on the thread
// that submitted the request, and a thread of ours would then have to get
// a P back from the Go scheduler before it could wake the op's goroutine,
// which costs a park and a hand-off of threads per request when the P's
// are busy. Instead:
//
//   - submitters enter the kernel themselves, one at a time, each
//     carrying everything queued meanwhile (shared submission, see
//     submitUnlock), so the task work runs on a thread that is running Go
//     code anyway;
//   - the ring signals an eventfd registered with it (IORING_REGISTER_
//     EVENTFD) and a goroutine waiting on that eventfd in the Go runtime's
//     network poller drains the CQ (loopPoller): completions reach Go the
//     way net's readiness does, through the scheduler's own netpoll;
//   - a submitter drains the CQ itself right after its io_uring_enter
//     (reapCQ), which delivers a request completed inline during the
//     enter, and any other, without a trip through the poller.
//
// The file ring keeps its tuning: a single issuer with DEFER_TASKRUN
// batches device I/O into few enters, which sockets, answered one
// request at a time, cannot use.

// socketConfig is the configuration of the socket ring of a driver
// configured with cfg. Its SQ is a quarter of the file ring's (sockets
// submit one request at a time), its CQ as large, so that receives and
// accepts waiting on idle connections get as many records as before
// (about 63,000 by default; see slab).
func socketConfig(cfg config) config {
	return config{
		entries:  max(cfg.entries/4, min(cfg.entries, 8)),
		cq:       cqFactor * cfg.entries,
		pollReap: true,
	}
}

// registerEventfd makes a non-blocking eventfd, registers it with ring,
// which signals it whenever it posts CQEs, and returns it as a File in
// the Go runtime's poller.
func registerEventfd(ring *uring.Ring) (*os.File, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	fd32 := int32(fd)
	if _, err := ring.Register(uring.RegisterEventfd, unsafe.Pointer(&fd32), 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("io_uring register eventfd: %w", err)
	}
	// Non-blocking, so NewFile puts it in the poller.
	return os.NewFile(uintptr(fd), "io_uring-cq"), nil
}

// loopPoller is the socket ring's reaper: it drains the CQ each time the
// poller reports the eventfd signalled, until Shutdown closes the
// eventfd. The eventfd's count is never read: the poller is
// edge-triggered, and every signal is an edge.
func (d *uringDriver) loopPoller() {
	defer close(d.reaperDone)
	rc, err := d.evFile.SyscallConn()
	if err != nil {
		panic("driver: eventfd without a RawConn: " + err.Error())
	}
	rc.Read(func(uintptr) bool {
		d.reapCQ(true)
		return false // wait for the next signal; Read returns once closed
	})
}

// reapCQ delivers the CQEs in the socket ring's CQ. One goroutine at a
// time consumes the CQ: unless wait is set, reapCQ returns at once if
// another one is; that one, or the reaper woken by the CQEs' eventfd
// signal, delivers them.
func (d *uringDriver) reapCQ(wait bool) {
	if wait {
		d.reapMu.Lock()
	} else if !d.reapMu.TryLock() {
		return
	}
	for {
		d.drain()
		if d.ring.SQFlags()&uring.SQCQOverflow == 0 {
			break
		}
		// FEAT_NODROP kept CQEs the CQ had no room for; move them in.
		d.ring.FlushOverflow()
		d.enters.Add(1)
	}
	d.reapMu.Unlock()
}
