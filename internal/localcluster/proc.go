package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// proc is one component process started by this package.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// startProc starts a component in its own process group (so a Ctrl-C on the
// terminal reaches only the parent, which then stops it in order), with its
// output in <Dir>/logs/<name>.log.
func (c *Cluster) startProc(ctx context.Context, name, path string, args ...string) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	logFile, err := os.Create(filepath.Join(c.Dir, "logs", name+".log"))
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	c.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, and SIGKILL after 10 seconds.
func (p *proc) stop() error {
	if p.exited() {
		if p.err != nil {
			return fmt.Errorf("%s had exited: %w", p.name, p.err)
		}
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return errors.New(p.name + " ignored SIGTERM for 10s and was killed")
	}
}
