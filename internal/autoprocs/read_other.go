//go:build !unix

package autoprocs

import "errors"

// ReadSystem is not available here: the proxy keeps Go's default GOMAXPROCS.
func ReadSystem() (Reading, error) {
	return Reading{}, errors.New("autoprocs: process CPU time not available on this platform")
}
