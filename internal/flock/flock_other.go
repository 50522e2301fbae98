//go:build !unix

// Package flock takes exclusive advisory file locks between processes.
package flock

// Lock is a no-op where flock is missing; callers must stay correct without
// it (the tools build still lands by rename).
func Lock(string) (func(), error) { return func() {}, nil }
