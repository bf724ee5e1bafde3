// Execbench compares the executor's file reads with os.File and fio.
//
// Run from the repository's root:
//
//	go run ./cmd/execbench
//	go run ./cmd/execbench -json results.json -svg results.svg
//	go run ./cmd/execbench -mode cached -depth 1,8 -duration 1s -dir /var/tmp
//
// It creates a temporary file (1 GiB by default) and, for each mode, depth
// and contender, has that many concurrent readers issue 4 KiB reads at
// uniformly random 4 KiB-aligned offsets for a fixed time. The contenders
// are:
//
//	executor(uring)     tasks on an executor with GOMAXPROCS workers, io_uring backend
//	executor(portable)  the same tasks on the portable backend (blocking system calls)
//	os.File             one goroutine per reader calling (*os.File).ReadAt
//	fio                 fio --ioengine=io_uring --iodepth=depth, one job, if fio is installed
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
//	×os.File    ops/s divided by os.File's at the same mode and depth
//	×fio        ops/s divided by fio's at the same mode and depth
//	CPU µs/op   user+system CPU time of the whole process during the cell,
//	            divided by the reads (fio: its own usr_cpu+sys_cpu)
//	enters/op   io_uring_enter system calls per read (executor's IOStats;
//	            0 for os.File, which makes none; "-" for fio)
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
//	-duration D       how long each cell runs (default 2s)
//	-depth LIST       concurrent readers, comma-separated (default 1,32,128)
//	-mode M           direct, cached or both (default both)
//	-backends LIST    contenders among uring,portable,os,fio (default all)
//	-dir DIR          where to put the test file (default os.TempDir())
//	-json FILE        also write the results as JSON
//	-svg FILE         also write a bar chart of ops/s as SVG
//
// The JSON document holds "machine" (GOMAXPROCS, kernel release, file
// system, fio's version, why each executor backend was chosen, notes) and
// "cells", one object per row with every column; a figure that does not
// apply is null. Cells of the executor also give inline_per_op: the share
// of reads the driver completed without the ring (page-cache hits through
// RWF_NOWAIT, or a lone read run as a plain system call).
//
// The exit status is 0 on success, 1 on failure, 2 for a bad command line
// and 130 when interrupted.
//
// The numbers are only as quiet as the machine: compare ratios measured in
// the same run rather than absolute figures across runs.
package main
