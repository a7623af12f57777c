//go:build !unix

package router

// openFileLimit: no descriptor limit is known on this platform.
func openFileLimit() (int64, bool) { return 0, false }
