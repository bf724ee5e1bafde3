// Package uring is the Linux io_uring ABI on golang.org/x/sys/unix: ring
// setup and teardown, the shared-memory submission and completion queues,
// the SQE and CQE layouts, opcode constants, io_uring_enter and
// io_uring_register.
//
// The package knows nothing about goroutines, tasks or the ops a caller
// builds from SQEs: it is a thin, allocation-free layer that a driver
// builds on. A Ring is not safe for concurrent use; the caller serialises
// access to the submission side and, separately, to the completion side
// (the two sides touch disjoint memory and may run on different threads).
//
// Memory ordering follows liburing: the ring indices shared with the
// kernel (SQ tail, CQ head written by us; SQ head, CQ tail written by the
// kernel) are read and written with sync/atomic, whose operations are
// sequentially consistent and so at least as strong as the acquire/release
// pairs the kernel expects.
//
// Memory that an SQE points at (buffers, paths, iovecs, timespecs) is the
// caller's responsibility: it must stay valid and must not move until the
// kernel has consumed it, which for most opcodes means until the request's
// CQE has been reaped.
package uring
