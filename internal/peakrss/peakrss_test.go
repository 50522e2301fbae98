package peakrss

import (
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// A command that touches 64 MiB reports at least that, and a small one far
// less: the figure is the command's own.
func TestPeakIsTheCommandsOwn(t *testing.T) {
	l := New(t)
	big := exec.Command("sh", "-c", `head -c 67108864 /dev/zero | { v=$(cat | tr '\0' a); echo ${#v}; }`)
	peakBig := l.Wrap(big)
	if out, err := big.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// Make this process large: a command started straight from it would
	// report this size on Linux; through the launcher it must not.
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	direct := exec.Command("true")
	if err := direct.Run(); err == nil {
		if ru, ok := direct.ProcessState.SysUsage().(*syscall.Rusage); ok {
			t.Logf("true started directly from a 256 MiB process reports %d MiB", ru.Maxrss/1024)
		}
	}
	small := exec.Command("true")
	peakSmall := l.Wrap(small)
	if err := small.Run(); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(ballast)
	if b, s := peakBig(), peakSmall(); b < 64 || s <= 0 || s > 16 {
		t.Fatalf("peak RSS: big %.1f MiB, small %.1f MiB", b, s)
	}
	fail := exec.Command("sh", "-c", "exit 3")
	l.Wrap(fail)
	if err := fail.Run(); err == nil || fail.ProcessState.ExitCode() != 3 {
		t.Fatalf("exit code not passed through: %v", err)
	}
}
