// Package exitcode maps command errors to the process exit codes that every
// kubectl gitops command documents: 0 success, 1 the operation failed,
// 2 the command line was wrong.
package exitcode

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	OK     = 0
	Failed = 1
	Usage  = 2
	// NotSyncedHealthy is status --exit-code's: the app is not both
	// Synced and Healthy (or could not be compared).
	NotSyncedHealthy = 3
)

// codeError carries an exit code of its own.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string { return e.err.Error() }
func (e codeError) Unwrap() error { return e.err }

// WithCode makes err exit with code. Nil stays nil.
func WithCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return codeError{code, err}
}

// usageError marks a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// UsageError marks err as a command-line mistake (exit code 2). Nil stays nil.
func UsageError(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// Usagef formats a command-line mistake (exit code 2).
func Usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Code returns the exit code for the error a command returned.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var u usageError
	if errors.As(err, &u) {
		return Usage
	}
	var c codeError
	if errors.As(err, &c) {
		return c.code
	}
	return Failed
}
