package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
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
	p, err := c.launch(ctx, name, path, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
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
