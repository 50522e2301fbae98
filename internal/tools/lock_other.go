//go:build !unix

package tools

// lockFile is a no-op where flock is missing; the rename in build still keeps
// a half-written directory from ever being used.
func lockFile(string) (func(), error) { return func() {}, nil }
