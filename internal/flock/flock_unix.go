//go:build unix

// Package flock takes exclusive advisory file locks between processes.
package flock

import (
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on path (created if missing),
// blocking until it is free, and returns the function that releases it. The
// kernel drops the lock if the process dies.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
