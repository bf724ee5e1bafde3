package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fioMissing is printed, and recorded in the fio cells, when fio is not on
// PATH. The program never installs anything itself.
const fioMissing = "fio not installed (apt-get install fio): fio columns empty"

// fioArgs returns fio's command line for one cell: the same file, block
// size and random pattern as the Go contenders, with depth requests in
// flight from one job through io_uring.
// With fixed, fio registers its buffers with the ring (--fixedbufs), as
// the pool contender's BufferPool does.
func fioArgs(path string, direct bool, depth int, d time.Duration, fixed bool) []string {
	dio := "0"
	if direct {
		dio = "1"
	}
	args := []string{
		"--name=execbench",
		// fio splits file names at ':'.
		"--filename=" + strings.ReplaceAll(path, ":", `\:`),
		"--rw=randread",
		"--bs=4k",
		"--ioengine=io_uring",
		"--iodepth=" + strconv.Itoa(depth),
		"--direct=" + dio,
		"--runtime=" + strconv.FormatInt(max(d.Milliseconds(), 1), 10) + "ms",
		"--time_based",
		"--numjobs=1",
		"--readonly", // never write to the file, whatever else goes wrong
		// fio drops the file's pages from the page cache before a job by
		// default, which would turn every later page-cache cell into
		// device reads.
		"--invalidate=0",
		"--output-format=json",
	}
	if fixed {
		// An option of the io_uring engine: it must follow --ioengine.
		args = append(args, "--fixedbufs")
	}
	return args
}

// runFio runs one fio cell.
func runFio(ctx context.Context, fio, path string, direct bool, depth int, d time.Duration, fixed bool) (cellResult, error) {
	cmd := exec.CommandContext(ctx, fio, fioArgs(path, direct, depth, d, fixed)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = childAttr()
	err := cmd.Run()
	if ctx.Err() != nil {
		return cellResult{}, ctx.Err()
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
		if direct && strings.Contains(msg, "Invalid argument") {
			return cellResult{Unavailable: directRefused}, nil
		}
		return cellResult{}, fmt.Errorf("fio: %v: %s", err, msg)
	}
	return parseFio(stdout.Bytes())
}

// parseFio reads the result of one fio job from its JSON output.
func parseFio(out []byte) (cellResult, error) {
	// fio may print notes before the JSON document.
	if i := bytes.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	var doc struct {
		Jobs []struct {
			Error      int     `json:"error"`
			JobRuntime int64   `json:"job_runtime"` // ms
			UsrCPU     float64 `json:"usr_cpu"`     // % of JobRuntime
			SysCPU     float64 `json:"sys_cpu"`
			Read       struct {
				IOPS     float64 `json:"iops"`
				TotalIOs int64   `json:"total_ios"`
				Runtime  int64   `json:"runtime"` // ms
			} `json:"read"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return cellResult{}, fmt.Errorf("fio output: %v", err)
	}
	if len(doc.Jobs) != 1 {
		return cellResult{}, fmt.Errorf("fio output: %d jobs, want 1", len(doc.Jobs))
	}
	j := doc.Jobs[0]
	if j.Error != 0 {
		return cellResult{}, fmt.Errorf("fio job failed: %v", syscall.Errno(j.Error))
	}
	if j.Read.Runtime <= 0 || j.Read.TotalIOs <= 0 {
		return cellResult{}, errors.New("fio output: no reads")
	}
	rt := time.Duration(j.Read.Runtime) * time.Millisecond
	r := cellResult{Ops: j.Read.TotalIOs, Elapsed: rt}
	// Keep fio's own rate: it is computed from finer clocks than the
	// millisecond runtime field.
	if j.Read.IOPS > 0 {
		r.Elapsed = time.Duration(float64(j.Read.TotalIOs) / j.Read.IOPS * float64(time.Second))
	}
	if j.JobRuntime > 0 {
		jrt := time.Duration(j.JobRuntime) * time.Millisecond
		r.CPU = time.Duration((j.UsrCPU + j.SysCPU) / 100 * float64(jrt))
		r.HaveCPU = true
	}
	return r, nil
}

// fioVersion returns `fio --version`, or "" if it fails.
func fioVersion(fio string) string {
	out, err := exec.Command(fio, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
