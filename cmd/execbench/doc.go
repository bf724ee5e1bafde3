// Execbench compares the executor's file reads with os.File and fio, and
// its tasks with goroutines; with the net subcommand, its sockets with the
// net package.
//
// Run from the repository's root:
//
//	go run ./cmd/execbench
//	go run ./cmd/execbench -json results.json -svg results.svg
//	go run ./cmd/execbench -mode cached -depth 1,8 -rounds 5 -dir /var/tmp -tasks none
//	go run ./cmd/execbench tasks -rounds 5
//	go run ./cmd/execbench net -rounds 5
//	go run ./cmd/execbench net -conns 1,64 -duration 1s -json net.json
//
// The first command, with no subcommand, prints the file table and then
// the task tables (as execbench tasks does): with the echo table of
// execbench net -rounds 5, these are every figure the project tracks. It
// takes about four minutes with fio installed: 108 file cells (2 modes,
// 3 depths, 6 contenders, 3 rounds) of 1 s each, then 21 task cells.
//
// # Rounds
//
// Every table runs its cells in rounds, -rounds of them (3 by default; 1
// for net): a round runs every cell once, so that the rounds of the
// contenders alternate and share the machine's slow and fast moments
// alike. A row reports its median round (the lower middle one for an even
// count) and, as its ratio to the anchor, the median of its rounds' ratios
// to the anchor's figure in the same round, with their range beside it:
// "0.84 (0.81–0.86)". The JSON lists every round's figure and ratio. On a
// noisy machine (a VM whose anchor moves by ±15% from run to run) use 5.
//
// # File reads
//
// It creates a temporary file (1 GiB by default) and, for each mode, depth
// and contender, has that many concurrent readers issue 4 KiB reads at
// uniformly random 4 KiB-aligned offsets for a fixed time (1 s by default,
// down from 2 s before rounds, so that three rounds take about as long as
// one did). The contenders are:
//
//	executor(uring)     tasks on an executor with GOMAXPROCS workers, io_uring backend
//	executor(pool)      the same, reading into buffers of an executor.BufferPool,
//	                    which the ring has registered (READ_FIXED through the ring)
//	executor(portable)  the same tasks on the portable backend (blocking system calls)
//	os.File             one goroutine per reader calling (*os.File).ReadAt
//	fio                 fio --ioengine=io_uring --iodepth=depth, one job, if fio is installed
//	fio --fixedbufs     the same with fio's buffers registered, the like of executor(pool)
//
// The ×fio column is against plain fio for every row; compare
// executor(pool) with fio --fixedbufs by their ops/s.
//
// The modes are "direct" (the file is opened with O_DIRECT, so every read
// goes to the device) and "cached" (the file was read through once and
// every read is a page-cache hit). Each Go contender runs in a child
// process of its own, so that CPU time and OS threads left behind by one
// cell (a goroutine blocked in pread holds a thread, and the runtime keeps
// threads once made) do not show up in the next. The file is removed when
// the program ends, on Ctrl-C included.
//
// Progress goes to standard error, one line per cell; the table goes to
// standard output. Its columns are:
//
//	ops/s       reads completed per second of wall time
//	×os.File    ops/s divided by os.File's at the same mode and depth and
//	            in the same round (median of the rounds, and their range)
//	×fio        ops/s divided by fio's, likewise
//	CPU µs/op   user+system CPU time of the whole process during the cell,
//	            divided by the reads (fio: its own usr_cpu+sys_cpu)
//	ring µs/op  CPU time of the executor's completion thread per read
//	            (IOStats.ThreadCPU; uring and pool): its inverse bounds the
//	            reads a second one ring can carry, whatever the cores
//	            ("-" for the others, which have no such thread)
//	enters/op   io_uring_enter system calls per read (executor's IOStats;
//	            0 for os.File, which makes none; "-" for fio)
//	rw sc/op    read and write system calls per read, all threads of the
//	            process: syscr+syscw of /proc/self/io, which the kernel
//	            counts anyway, so counting costs nothing (a perf counter
//	            per thread, as the echo table uses, slows every system call
//	            down, and so os.File more than io_uring). It covers pread64
//	            and preadv2 (the executor's reads completed inline) but no
//	            other call: with enters/op it gives the system calls that
//	            do the I/O, not futex or epoll ("-" for fio)
//	threads     the most OS threads the process had during the cell,
//	            sampled from /proc/self/task; io_uring's kernel workers
//	            (iou-wrk) count, as they are threads of the process ("-"
//	            for fio)
//
// A cell that cannot run says why instead of giving numbers: O_DIRECT
// refused by the file system, io_uring refused by the kernel, fio not
// installed. If the directory is on tmpfs (as /tmp is on some systems),
// the program says so: tmpfs refuses O_DIRECT before Linux 6.6, and since
// then accepts it but serves it from memory, so use -dir to put the file on
// a disk.
//
// The flags are:
//
//	-size SIZE        size of the test file, a multiple of 4KiB and at least
//	                  1MiB: 1GiB, 256MiB, 8MiB… (default 1GiB)
//	-duration D       how long each cell runs, file and task but sleepers
//	                  (default 1s)
//	-rounds N         rounds of every cell, file and task (default 3)
//	-depth LIST       concurrent readers, comma-separated (default 1,32,128)
//	-mode M           direct, cached or both (default both)
//	-backends LIST    contenders among uring,pool,portable,os,fio,fio-fixed (default all)
//	-dir DIR          where to put the test file (default os.TempDir())
//	-json FILE        also write the results as JSON
//	-svg FILE         also write a bar chart of ops/s as SVG
//	-tasks LIST       task workloads after the file table, among pingpong,
//	                  spawn and sleep, or none (default all)
//	-sleepers N       -nap D    as for execbench tasks
//
// The JSON document holds "machine" (GOMAXPROCS, kernel release, file
// system, fio's version, rounds, why each executor backend was chosen,
// notes), "cells", one object per row with every column, and "tasks", the
// task rows as execbench tasks writes them; a figure that does not apply
// is null. Cells of the executor also give inline_per_op: the share of
// reads the driver completed without the ring (page-cache hits through
// RWF_NOWAIT, or a lone read run as a plain system call).
//
// The exit status is 0 on success, 1 on failure, 2 for a bad command line
// and 130 when interrupted.
//
// # Tasks: execbench tasks
//
// The tasks subcommand measures the work of the benchmarks in
// bench/taskbench, each against goroutines doing the same work, in a child
// process per cell and round:
//
//	ping-pong, 1 worker   executor Join: on an executor with one worker, a
//	                      task spawns a task that returns at once and joins
//	                      it, again and again; the worker goes to the child
//	                      and back, two hand-offs per spawn and join.
//	                      executor Yield: two tasks on one worker Yield to
//	                      each other, a hand-off per Yield. The anchor of
//	                      both, goroutines+chan: two goroutines hand a token
//	                      over unbuffered channels, two hand-offs per round
//	                      trip. An op is a hand-off.
//	spawn+join            executor: on an executor with GOMAXPROCS workers,
//	                      spawn 1,000 tasks of a few hundred ns of arithmetic,
//	                      join each, again; the anchor, go+WaitGroup: the
//	                      same with a goroutine each and a sync.WaitGroup.
//	                      An op is a task.
//	sleepers              executor.Sleep: 100,000 tasks (on GOMAXPROCS
//	                      workers) sleep 2 s in executor.Sleep; the
//	                      anchor, time.Sleep: 100,000 goroutines in
//	                      time.Sleep. A nap (one op of taskbench's
//	                      Sleepers) collects garbage, starts them all,
//	                      waits until all are asleep, notes the memory in
//	                      use and waits for them to wake.
//
// A ping-pong or spawn+join cell warms up briefly, then runs for
// -duration. A sleepers cell runs two naps. The first of the process
// gives the memory and allocations, and the CPU time of a cold start: its
// sleepers' goroutines are new (a later nap reuses the goroutine
// structures and stacks of the first, which the runtime keeps, and would
// count them as in use before it started). The second gives the CPU time
// of a process that has had sleepers before, as a long-running one has.
// The first table's columns are:
//
//	ns/op       wall time per op
//	×anchor     ns/op divided by the anchor's in the same round: a cost,
//	            so below 1 is faster than goroutines (median of the
//	            rounds, and their range)
//	CPU ns/op   user+system CPU time of the process per op (getrusage)
//	×CPU        CPU ns/op divided by the anchor's (median of the rounds)
//	allocs/op   heap allocations per op (runtime.MemStats.Mallocs)
//	threads     the most OS threads the process had
//
// The sleepers' table:
//
//	CPU ms/nap  user+system CPU time of the process in the second nap:
//	            spawning, sleeping, waking and ending them all, and the
//	            collection before (sleeping goroutines cost little wall
//	            time)
//	×anchor     CPU ms/nap divided by time.Sleep's in the same round
//	cold ms     the same for the first nap, and its ratio (×)
//	start ms    wall time from the first sleeper's start to all asleep,
//	            in the first nap
//	bytes/task  heap, stacks and span structures in use (HeapInuse +
//	            StackInuse + MSpanInuse) while all sleep, less before they
//	            started, per sleeper; × is its ratio to time.Sleep's. Only
//	            if start ms is below the nap: else the first sleepers may
//	            have woken, and their goroutines served later ones, before
//	            the last slept, and the figure would be too small; "-" and
//	            a note under the table then (on a loaded machine, use a
//	            longer -nap)
//	allocs/task heap allocations per sleeper in the first nap, and its
//	            ratio (×): the runtime's per-goroutine structures included
//	warm        heap allocations per sleeper in the second nap, which
//	            reuses the goroutines (and what they park on) of the first
//
// Its flags are:
//
//	-tasks LIST       workloads among pingpong, spawn and sleep (default all)
//	-duration D       how long each cell runs but sleepers (default 1s)
//	-rounds N         rounds of every cell (default 3)
//	-sleepers N       sleepers per nap, up to 1,000,000 (default 100000)
//	-nap D            how long each sleeps (default 2s: long enough for all
//	                  to have started before the first wakes, which the
//	                  memory per sleeper needs)
//	-json FILE        also write the results as JSON: "machine" and "tasks",
//	                  one object per row with every column and its rounds
//
// # Echo on loopback: execbench net
//
// The net subcommand measures a TCP echo server with ping-pong traffic on
// 127.0.0.1: each of N connections writes a message (1 KiB by default),
// reads its echo in full, and again, for a fixed time per cell. The
// servers, the contenders, are:
//
//	executor(uring)     a task per connection on an executor with GOMAXPROCS
//	                    workers and the io_uring backend, with its default
//	                    sockets: the net package's underneath, waiting in
//	                    the Go runtime's network poller
//	executor(ring)      the same with Options.RingSockets: every accept,
//	                    receive and send an io_uring request (after one
//	                    non-blocking attempt)
//	executor(portable)  the same as executor(uring) on the portable backend
//	net+goroutines      net.Listen and a goroutine per connection: the anchor
//
// The client is the same for all: net.Dial and a goroutine per connection.
// gnet v2, the fourth contender of the same workload, is measured by the
// Go benchmark in the separate bench module, which this command does not
// depend on:
//
//	cd bench && go test -run '^$' -bench Echo ./netbench
//
// Each cell (a number of connections and a server) runs in a child process
// of its own that starts the server on an ephemeral port, connects the
// clients, warms up (a few round trips per connection, each echo checked
// byte for byte), measures, then closes every connection and stops the
// server. A cell whose server stops echoing fails 10 s after its duration
// instead of hanging. Its columns are:
//
//	req/s         round trips completed per second of wall time
//	×net          req/s divided by net+goroutines' at the same connections
//	p50 µs        median round-trip latency (write to last byte read), from
//	              a log-linear histogram good to about 1.6%
//	p99 µs        99th percentile of the same
//	CPU µs/req    user+system CPU time of the cell's process divided by
//	              the round trips: client and server both, as they share
//	              the process; the client is the same for every server, so
//	              differences are the servers'
//	syscalls/req  system calls of the process (client and server) per round
//	              trip, counted by a perf tracepoint counter
//	              (raw_syscalls:sys_enter) on each thread. Threads that start
//	              during the cell are found within 10 ms and counted from
//	              then on (the JSON says how many, threads_counted_late).
//	              Needs root or CAP_PERFMON; "-" otherwise, with the reason
//	              on standard error. io_uring's own work in the kernel makes
//	              no system calls and is not counted.
//	threads       the most OS threads the process had during the cell
//
// Its flags are:
//
//	-conns LIST       concurrent connections, comma-separated, up to 5000
//	                  (default 1,64,1000)
//	-duration D       how long each cell runs (default 2s: the default run
//	                  takes about 20 s)
//	-size SIZE        bytes per message, up to 1MiB (default 1KiB)
//	-backends LIST    servers among uring,ring,portable,net (default all)
//	-workers N        the executor servers' Workers (default GOMAXPROCS):
//	                  a large N measures what the worker bound costs
//	-rounds N         rounds of every cell (default 1; see Rounds)
//	-json FILE        also write the results as JSON: "machine" and "cells"
//	                  as for file reads, with the columns above
//
// Connections go to 127.0.0.1 only. Each connection costs two file
// descriptors; the command refuses to start if the limit (ulimit -n) is
// too low for the largest -conns.
//
// # Both
//
// The numbers are only as quiet as the machine: compare ratios measured in
// the same run rather than absolute figures across runs.
package main
