package main

import (
	"slices"
	"testing"
	"time"
)

// fioOutput is the part of fio 3.33's JSON that parseFio reads, after a
// note of the kind fio prints before it.
const fioOutput = `note: both iodepth >= 1 and synchronous I/O engine are selected
{
  "fio version" : "fio-3.33",
  "jobs" : [
    {
      "jobname" : "execbench",
      "error" : 0,
      "job_runtime" : 2000,
      "usr_cpu" : 10.0,
      "sys_cpu" : 40.0,
      "read" : {
        "io_bytes" : 819200000,
        "total_ios" : 200000,
        "runtime" : 2000,
        "iops" : 100000.0
      }
    }
  ]
}`

func TestParseFio(t *testing.T) {
	r, err := parseFio([]byte(fioOutput))
	if err != nil {
		t.Fatal(err)
	}
	c := newCell("direct", 32, "fio", r)
	if c.OpsPerSec != 100000 || !near(c.CPUPerOp, 5) || c.EntersPerOp != nil || c.Threads != nil {
		t.Errorf("cell = %+v", c)
	}
	for _, bad := range []string{"", "{", `{"jobs": []}`, `{"jobs": [{"error": 5, "read": {"total_ios": 1, "runtime": 1}}]}`,
		`{"jobs": [{"read": {"total_ios": 0, "runtime": 0}}]}`} {
		if _, err := parseFio([]byte(bad)); err == nil {
			t.Errorf("parseFio(%q) succeeded", bad)
		}
	}
}

func TestFioArgs(t *testing.T) {
	args := fioArgs("/tmp/a:b.dat", true, 32, 2500*time.Millisecond, false)
	for _, want := range []string{`--filename=/tmp/a\:b.dat`, "--rw=randread", "--bs=4k", "--ioengine=io_uring",
		"--iodepth=32", "--direct=1", "--runtime=2500ms", "--time_based", "--numjobs=1", "--output-format=json", "--invalidate=0"} {
		if !slices.Contains(args, want) {
			t.Errorf("fio args %q lack %q", args, want)
		}
	}
	if args := fioArgs("f", false, 1, time.Second, false); !slices.Contains(args, "--direct=0") {
		t.Errorf("cached fio args %q", args)
	}
}
