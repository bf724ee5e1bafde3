// Package iobench compares the executor's file-system, datagram and
// sendfile operations with the os and net packages on goroutines, in one
// run, so that their ratios hold:
//
//   - BenchmarkSendFile: a 64 MiB file in the page cache sent over a
//     loopback TCP connection by Conn.SendFile (net sockets, the default,
//     and ring sockets), against io.Copy(*net.TCPConn, *os.File), which
//     uses sendfile(2), and a read/write loop through a 256 KiB buffer.
//     One op is one whole file; MB/s is reported.
//   - BenchmarkUDPEcho: one UDP echo server (one receive-and-reply loop:
//     a task on a PacketConn, or a goroutine on net.ListenPacket) and 1
//     or 64 client flows (net goroutines, one datagram of 64 bytes in
//     flight each). One op is one round trip.
//   - BenchmarkReadFile: 10,000 files of 1–4 KiB read by 32 tasks
//     (executor.ReadFile) or 32 goroutines (os.ReadFile). One op is the
//     10,000 files; "threads" is the most OS threads the process had
//     while it ran.
//
// Every benchmark also reports cpu-µs/op, the process's user+system CPU
// time per op (clients and sinks included, the same for every contender),
// which varies less than wall time on a shared machine.
//
// Run (short; the machine is shared):
//
//	cd bench && go test -run '^$' -bench . -benchtime 1s -count 3 ./iobench
package iobench
