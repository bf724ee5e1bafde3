// Package taskbench compares the executor's tasks with plain goroutines,
// errgroup and ants, in the same run. It holds benchmarks only:
//
//	cd bench && go test -run '^$' -bench . -benchmem ./taskbench
package taskbench
