//go:build !amd64

package clock

// useTSC is false: other architectures read the time package's clock.
const useTSC = false

func rdtsc() uint64 { panic("unreachable") }
