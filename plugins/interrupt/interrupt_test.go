package interrupt

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The child process of TestSignalRemovesTrackedDirectories: it tracks a
// directory, says so, and waits to be signalled.
func TestMain(m *testing.M) {
	if dir := os.Getenv("INTERRUPT_TEST_DIR"); dir != "" {
		var c Cleaner
		c.Track(dir)
		kept := filepath.Join(dir, "..", "untracked")
		untrack := c.Track(kept)
		untrack()
		os.Stdout.WriteString("ready\n")
		time.Sleep(30 * time.Second)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestSignalRemovesTrackedDirectories(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		base := t.TempDir()
		dir := filepath.Join(base, "keys")
		kept := filepath.Join(base, "untracked")
		for _, d := range []string{dir, kept} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "INTERRUPT_TEST_DIR="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			t.Fatalf("child: %q, %v", line, err)
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != sig {
			t.Errorf("%v: child ended with %v, want death by the signal", sig, err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%v: the tracked directory is left (stat: %v)", sig, err)
		}
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%v: an untracked directory was removed: %v", sig, err)
		}
	}
}
