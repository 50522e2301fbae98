// Package exitcode maps command errors to the process exit codes that every
// kubectl gitops command documents: 0 success, 1 the operation failed,
// 2 the command line was wrong. diff --exit-code follows kubectl diff
// instead: 0 no differences, 1 differences, 2 an error.
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
	// Differences is diff --exit-code's "there are differences".
	Differences = 1
	// DiffFailed is diff --exit-code's "the comparison failed": above
	// Differences, as kubectl diff exits.
	DiffFailed = 2
	// NotSyncedHealthy is status --exit-code's: the app is not both
	// Synced and Healthy (or could not be compared).
	NotSyncedHealthy = 3
)

// codeError carries its own exit code; a nil err prints nothing.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}
func (e codeError) Unwrap() error { return e.err }

// WithCode makes the process exit with code for err; err nil means exit
// silently with that code (differences found, an external diff program's
// status). Code 0 with a nil err is nil.
func WithCode(code int, err error) error {
	if code == OK && err == nil {
		return nil
	}
	return codeError{code: code, err: err}
}

// Silent reports whether err only carries an exit code, with nothing to
// print.
func Silent(err error) bool {
	var c codeError
	return errors.As(err, &c) && c.err == nil
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
	var c codeError
	if errors.As(err, &c) {
		return c.code
	}
	var u usageError
	if errors.As(err, &u) {
		return Usage
	}
	return Failed
}
