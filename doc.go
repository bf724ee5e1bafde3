// Package executor runs tasks on a bounded pool of workers.
package executor
