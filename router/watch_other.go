//go:build !linux

package router

// watchClient is a no-op where POLLRDHUP is missing: a client that leaves
// while blocked is noticed when its command returns.
func (s *Session) watchClient(gone func()) (stop func()) { return func() {} }
