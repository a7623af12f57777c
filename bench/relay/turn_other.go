//go:build !linux

package relay

import "errors"

// TurnLoop is Linux only (its loop is epoll's).
type TurnLoop struct{}

// NewTurnLoop reports that the turn loop needs Linux.
func NewTurnLoop(listen string, shards []string) (*TurnLoop, error) {
	return nil, errors.New("relay: the turn loop needs Linux (epoll)")
}

// Addr returns "".
func (l *TurnLoop) Addr() string { return "" }

// Close does nothing.
func (l *TurnLoop) Close() error { return nil }
