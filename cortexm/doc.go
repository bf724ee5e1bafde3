// Package cortexm is a heapless, interrupt-driven executor for single-core
// microcontrollers such as the ARM Cortex-M, written for TinyGo and tested
// on the host with the simulated microcontroller of package cortexm/sim.
//
// # Model
//
// A task is a Poll method on the program's own struct, usually a static
// variable. The executor keeps tasks in Slots and waiting tasks in
// WakerLists, both supplied by the caller, and allocates nothing after
// NewExecutor (or nothing at all with Init): no goroutines, no closures,
// no maps.
//
// A task runs with interrupts disabled (Port.Disable, which is PRIMASK on
// a Cortex-M), so it is never pre-empted: it runs until its Poll returns.
// To wait for an asynchronous operation, a Poll sets up the peripheral so
// that a future interrupt fires, calls Executor.Wait with the interrupt's
// Line, and returns false ("pending"). When the line's handler calls
// Executor.OnInterrupt, the executor polls the task again. A Poll that
// returns true is finished: the task is never polled again and its slot is
// free for the next Spawn.
//
// Executor.Run polls every spawned task once, then sleeps in
// Port.WaitForInterrupt; the interrupt handlers poll the tasks that wait
// for them; Run returns when every task has finished. The check for work
// and the sleep are made with interrupts disabled, because WFI wakes on a
// pending interrupt even then: an interrupt that arrives between the two
// makes WaitForInterrupt return at once, and is taken when Run restores the
// mask. Tasks are also polled by Run, in thread mode, when they are
// spawned, when Wake queues them, and when a Wait finds its line latched.
//
// # Waker lists
//
// There is one WakerList per interrupt line. Each is a doubly linked list
// of nodes that live in the tasks' Slots (the Go counterpart of embassy's
// stack-pinned nodes), so registering never allocates and removal is O(1).
// Wait appends the task's node at the end of the line's list. A node leaves
// its list when its task stops waiting: when the task finishes, at
// Unwait, and before every poll of the task, which removes all of its
// registrations so that each poll registers afresh what it still needs.
// Removing a node twice is harmless.
//
// A Slot holds MaxWaits (2) waker nodes, so a task can wait on two lines
// at once, such as "the next byte or a timeout"; waiting on the same line
// twice keeps one registration. A Wait that finds both nodes in use on
// other lines cannot register; it queues the task for a poll from Run, as
// Wake does, and counts Stats.Overflows: a wake-up may be early, never
// lost.
//
// OnInterrupt takes the line's whole list at once, leaving a fresh empty
// list, and polls each task of it once, in registration order. A task
// that Waits on the line during that pass joins the fresh list and is
// polled by the next interrupt, never twice in one pass. An interrupt
// that finds the list empty sets the line's latch; the next Wait on the
// line consumes it and queues the task for a poll instead of registering,
// so a task that registers just after its interrupt fired does not sleep
// forever. Like an NVIC pending bit, the latch counts one interrupt however
// many fired.
//
// # Interrupt context
//
// OnInterrupt polls the waiting tasks inside the handler, with interrupts
// disabled for the whole pass, so passes never nest and the lists never
// change under a pass except by the polls themselves. It neither
// allocates, blocks nor defers, as TinyGo requires of interrupt handlers,
// and it does not panic: a bad line is ignored and counted. The tasks'
// Polls run in that context too, so they must obey the same rules and stay
// short. On a real Cortex-M a handler must also quiet its peripheral (clear
// the flag that raised the interrupt, or mask the peripheral's interrupt
// enable) before it returns, or the line fires again at once; the task
// then reads the peripheral's state in its Poll.
//
// A Poll may call Spawn, Wait, Unwait and Wake for any task, and may call
// OnInterrupt to signal another task (a software interrupt): the line is
// then dispatched as soon as the current poll (or the current pass) ends,
// never inside it. Run and RunReady called from a Poll return at once.
//
// # Errors and bad input
//
// Spawn returns ErrNoSlot when every slot holds a live task and ErrNilTask
// for a nil task. Wait, Unwait, Wake and OnInterrupt have no error result,
// since they run in interrupt context: a line out of range or an id whose
// slot holds no live task makes them do nothing, and increments
// Stats.Ignored. A TaskID is its slot's index, so once a task has finished,
// its id may name a later task spawned into the same slot. NewExecutor and
// Init panic on a nil Port or more than MaxSlots slots or MaxLines lists:
// they run once, at set-up.
//
// # TinyGo on real boards
//
// This package, cortexm/sim and the examples form their own module,
// github.com/executor-go/executor/cortexm, which says go 1.22 and needs
// only the standard library, so that TinyGo 0.31 or later builds it (TinyGo
// accepts only the Go releases it was made for) and an embedded program
// never downloads the Linux executor. It is tested with TinyGo 0.33.0.
//
// The file port_tinygo.go, built only with the tinygo and cortexm build
// tags (every TinyGo Cortex-M target sets both), provides CortexM, the
// Port of a Cortex-M: runtime/interrupt's Disable and Restore for PRIMASK,
// and WFI through device/arm. Nothing else is needed from the core: no
// LDREX/STREX, no BASEPRI, no SysTick, so it fits ARMv6-M (Cortex-M0,
// M0+) as well as ARMv7-M (M3, M4, M7). It has run under QEMU on a
// Cortex-M3 (lm3s6965evb) and a Cortex-M0 (microbit, an nRF51); see
// examples/qemuirq and qemu-test.sh. It has not been run on a physical
// board.
//
// Interrupts map to waker lists by the program's own table: a Line is an
// index into the lists given to Init, one per interrupt the tasks wait for,
// not an NVIC number. Each such interrupt gets a handler, registered with
// interrupt.New, that quiets its peripheral and calls OnInterrupt with the
// interrupt's Line. A software interrupt is an NVIC interrupt that no
// peripheral raises (or one meant for it, such as the nRF51's SWI0), made
// pending by writing its bit to NVIC ISPR; a Poll may also call OnInterrupt
// directly. Give every interrupt that calls OnInterrupt the same NVIC
// priority: the executor masks them all (PRIMASK) while it works, so a
// higher priority buys nothing, and the handlers then never nest.
//
// A program keeps everything in static variables and builds with
//
//	tinygo build -target=<board> -scheduler=none -gc=none -o app.elf .
//
// -scheduler=none leaves out goroutines, which the executor replaces, and
// -gc=none turns any heap allocation that survives optimisation into a
// link error (undefined runtime.alloc), which proves that nothing
// allocates. The program looks like this (TIM3 stands for any peripheral
// interrupt of the chip):
//
//	const lineTimer cortexm.Line = 0
//
//	var (
//		ex    cortexm.Executor // static: NewExecutor would allocate it
//		slots [4]cortexm.Slot
//		lists [1]cortexm.WakerList
//		blink blinker // a Task
//	)
//
//	func main() {
//		ex.Init(cortexm.CortexM{}, slots[:], lists[:])
//		// interrupt.New is a compiler intrinsic: the id must be a
//		// constant and the handler a plain function, not a closure.
//		interrupt.New(stm32.IRQ_TIM3, timerISR).Enable()
//		ex.Spawn(&blink)
//		ex.Run()
//	}
//
//	func timerISR(interrupt.Interrupt) {
//		stm32.TIM3.SR.ClearBits(stm32.TIM_SR_UIF) // quiet the peripheral
//		ex.OnInterrupt(lineTimer)
//	}
//
// On a board TinyGo knows, its device package holds the vector table and
// the IRQ constants (examples/qemuirq runs on TinyGo's microbit target
// too). For a chip it does not know (QEMU's lm3s6965), examples/qemuirq
// shows the pieces a program supplies itself: a target file naming the
// core, linker script and emulator, a vector table (vectors.c, through
// cgo, since a target file's extra-files are looked up under TINYGOROOT),
// and an exported IRQn_Handler per interrupt that calls the handlers
// registered with interrupt.New.
//
// Measured with TinyGo 0.33.0 (LLVM 15) by qemu-test.sh, examples/qemuirq,
// two tasks on two lines with its timer driver and semihosting output,
// -gc=none -scheduler=none: 4,216 bytes of flash and 340 bytes of static
// RAM on the Cortex-M3, 4,468 and 340 on the Cortex-M0 (3,920 and 484 with
// TinyGo's own microbit target), plus the stack (4 KiB and 2 KiB by the
// linker scripts). The executor's storage is 220 of those bytes (84 + 2×56
// + 2×12), and its code about 1.2 KiB (the functions named cortexm; Init,
// Run and Stats are inlined into main).
//
// Every other file of the package uses only the standard library's errors
// package, and builds for GOARCH=arm GOARM=7 with the gc toolchain, which
// the tests check, and which CI runs under qemu-arm.
//
// # Memory and time cost
//
// Sizes in bytes, from unsafe.Sizeof (checked by TestSizes wherever it
// runs: the host, qemu-arm, and TinyGo on cortex-m-qemu):
//
//	                   32-bit ARM   64-bit host
//	waker node               16           32
//	Slot (task)              56          112   Task interface + (1 + MaxWaits) nodes
//	WakerList (line)         12           24
//	Executor                 84          144
//
// A program with 4 tasks and 8 lines thus spends 4×56 + 8×12 + 84 = 404
// bytes of RAM on the executor, on a Cortex-M.
//
// One interrupt dispatch costs about 30 ns per waiting task on the host
// (BenchmarkOnInterrupt, which includes the tasks' re-registration, on an
// AMD EPYC), and 0 allocations; see README.md for the figures and the
// command that reproduces them.
package cortexm
