// Package syncbench compares the executor's Semaphore with
// golang.org/x/sync/semaphore, in the same run. It holds benchmarks only:
//
//	cd bench && go test -run '^$' -bench . -benchmem ./syncbench
//
// The comparisons with sync.Mutex and with channels live in the root
// package (sync_bench_test.go), which must not depend on x/sync.
package syncbench
