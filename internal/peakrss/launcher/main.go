// Command launcher runs a command and writes its peak RSS, in KiB, to the
// file named by $PEAKRSS_FILE. It exists to be small: on Linux a child
// inherits the RSS high-water mark of the process that forked it, so a
// command started straight from a big benchmark process would report that
// process's peak, not its own.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launcher COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(127)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		if f := os.Getenv("PEAKRSS_FILE"); f != "" {
			_ = os.WriteFile(f, []byte(fmt.Sprint(ru.Maxrss)), 0o600)
		}
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
