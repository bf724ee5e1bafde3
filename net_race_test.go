//go:build race

package executor

// raceEnabled: the race detector slows socket-heavy tests tenfold, so they
// move less data under it.
const raceEnabled = true
