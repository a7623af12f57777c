package backend

import "time"

// Observer receives a server's events, typically to update metrics. Every
// method is called from the connection goroutines on the hot path, so
// implementations must be cheap, non-blocking and safe for concurrent use.
type Observer interface {
	// Up reports that the server became reachable (true) or unreachable.
	Up(up bool)
	// Reconnect reports a new connection to the server after a failure.
	Reconnect()
	// Failed reports that a connection could not be made (KindConnect) or
	// broke (KindTimeout, KindClosed, KindProtocol): once per event, however
	// many requests it failed.
	Failed(kind ErrorKind)
	// Wrote reports one write to the server carrying n requests of size bytes.
	Wrote(n, bytes int)
	// Replied reports one reply of size bytes, latency after it was written.
	Replied(latency time.Duration, bytes int)
}

type nopObserver struct{}

func (nopObserver) Up(bool)                    {}
func (nopObserver) Reconnect()                 {}
func (nopObserver) Failed(ErrorKind)           {}
func (nopObserver) Wrote(int, int)             {}
func (nopObserver) Replied(time.Duration, int) {}
