package driver

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestInBubble: the clock comparison tells a bubble from the outside,
// also once the bubble's fake clock has moved on.
func TestInBubble(t *testing.T) {
	if InBubble() {
		t.Fatal("InBubble() outside a bubble")
	}
	synctest.Test(t, func(t *testing.T) {
		if !InBubble() {
			t.Fatal("!InBubble() inside a bubble")
		}
		time.Sleep(365 * 24 * time.Hour)
		if !InBubble() {
			t.Fatal("!InBubble() inside a bubble a (fake) year on")
		}
	})
}

// TestOpenInBubble: in a bubble the default and EXECUTOR_BACKEND=uring
// choose portable and say why; an explicit "uring" is refused.
func TestOpenInBubble(t *testing.T) {
	for _, env := range []string{"", "uring", "portable"} {
		t.Run("env="+env, func(t *testing.T) {
			t.Setenv(EnvBackend, env)
			synctest.Test(t, func(t *testing.T) {
				d, err := Open("")
				if err != nil {
					t.Fatal(err)
				}
				defer d.Shutdown()
				if d.Name() != "portable" {
					t.Fatalf("Open(\"\") in a bubble chose %s (%s)", d.Name(), d.Reason())
				}
				if env != "portable" && !strings.Contains(d.Reason(), "synctest") {
					t.Errorf("Reason = %q; want it to name the bubble", d.Reason())
				}
				if env == "uring" && !strings.Contains(d.Reason(), "set aside") {
					t.Errorf("Reason = %q; want it to say the environment was set aside", d.Reason())
				}
			})
		})
	}
	t.Setenv(EnvBackend, "")
	synctest.Test(t, func(t *testing.T) {
		if d, err := Open("uring"); err == nil || !strings.Contains(err.Error(), "synctest") {
			if d != nil {
				d.Shutdown()
			}
			t.Fatalf("Open(\"uring\") in a bubble = %v; want an error naming synctest", err)
		}
	})
}

// BenchmarkInBubble is what the check adds to each driver open.
func BenchmarkInBubble(b *testing.B) {
	for b.Loop() {
		InBubble()
	}
}
