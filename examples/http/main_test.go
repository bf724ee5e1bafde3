package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/executor-go/executor"
)

func TestServeAndShutdown(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts executor.Options
	}{
		{"uring", executor.Options{Workers: 2, Backend: "uring"}},
		{"ring", executor.Options{Workers: 2, Backend: "uring", RingSockets: true}},
		{"portable", executor.Options{Workers: 2, Backend: "portable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := probe.Addr().String()
			probe.Close()

			stop := executor.NewCancellationToken()
			done := make(chan error, 1)
			go func() {
				done <- executor.Run(tc.opts, func(ctx context.Context) error {
					return serve(ctx, addr, time.Second, stop)
				})
			}()
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var resp *http.Response
			for range 100 {
				if resp, err = client.Get("http://" + addr + "/hello"); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := "hello from the " + tc.opts.Backend + " backend\n"; string(b) != want {
				t.Fatalf("GET /hello = %q; want %q", b, want)
			}
			resp, err = client.Post("http://"+addr+"/echo", "text/plain", strings.NewReader("ping"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "ping" {
				t.Fatalf("POST /echo = %q", b)
			}
			// The inspection page lists the root task, asleep until the
			// shutdown token trips.
			resp, err = client.Get("http://" + addr + "/debug/executor/tasks")
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			asleep := false
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 5 && f[2] == "waiting" && f[3] == "sleep" {
					asleep = true
				}
			}
			if resp.StatusCode != 200 || !asleep {
				t.Fatalf("GET /debug/executor/tasks: %d, no task asleep:\n%s", resp.StatusCode, b)
			}
			stop.Cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := client.Get("http://" + addr + "/hello"); err == nil {
				t.Error("still serving after shutdown")
			}
		})
	}
}
