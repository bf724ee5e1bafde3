// Package netbench compares TCP echo servers on loopback, in one run, so
// that their ratios hold: the executor on the uring backend with its
// default sockets (executor-uring) and with ring sockets
// (executor-ring, Options.RingSockets), the executor on the portable
// backend, the net package with a goroutine per connection, and gnet v2
// (an event-loop server).
//
// Every contender is driven by the same client: net.Conn goroutines in the
// same process, each doing ping-pong with 1 KiB messages (write 1 KiB,
// read the 1 KiB echo, measure the round trip). BenchmarkEcho reports, per
// contender and connection count (1, 64 and 1,000):
//
//	req/s       requests (round trips) per second
//	p50-µs      median round-trip latency
//	p99-µs      99th percentile round-trip latency
//	cpu-µs/req  process CPU time (user+system, client included) per request
//	sys/req     system calls per request (client included), counted by a
//	            perf tracepoint counter on each thread of the process
//	csw/req     context switches (voluntary and involuntary) per request
//	enter/req   io_uring_enter calls per request (uring backend only)
//
// Run:
//
//	cd bench && go test -run '^$' -bench Echo -benchtime 2s ./netbench
//
// The system call counter opens one perf counter per thread that exists
// after the warm-up; threads the runtime starts during the measurement
// are not counted, so sys/req is a lower bound.
package netbench
