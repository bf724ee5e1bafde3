package executor

// The I/O backends: the values of Options.Backend, besides "" (the
// default), and what Executor.Backend returns. They are plain strings, so
// that a backend named in a flag or in the EXECUTOR_BACKEND environment
// variable needs no conversion.
const (
	// BackendUring is Linux io_uring: one ring and one completion thread
	// for the executor, however many operations are in flight.
	BackendUring = "uring"

	// BackendPortable is system calls made with the task's worker given
	// up, on any OS; on Linux, the backend an executor falls back to where
	// io_uring is refused or lacks an operation the executor needs.
	BackendPortable = "portable"
)
