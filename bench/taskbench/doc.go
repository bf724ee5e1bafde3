// Package taskbench compares the executor's tasks with plain goroutines,
// errgroup and ants, in the same run; the -traced variants measure the
// executor with the runtime's execution trace on. It holds benchmarks only:
//
//	cd bench && go test -run '^$' -bench . -benchmem ./taskbench
package taskbench
