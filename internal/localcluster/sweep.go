package localcluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// ProcessesUsing returns the processes whose command line names a path under
// dir, by pid, with their executable's base name. It reads /proc, so it finds
// nothing where there is none (it is what the guard sweeps on Linux).
func ProcessesUsing(dir string) map[int]string {
	needle := []byte(filepath.Clean(dir) + string(filepath.Separator))
	entries, _ := os.ReadDir("/proc")
	found := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, needle) {
			continue
		}
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		found[pid] = filepath.Base(string(argv0))
	}
	return found
}
