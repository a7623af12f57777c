//go:build race

package router

// raceEnabled: the race detector's shadow memory inflates RSS, so memory
// bounds are checked on the Go heap only.
const raceEnabled = true
