// Package interrupt removes private temporary directories when the process
// is interrupted or terminated, for the commands that make them through
// the engine (pkg/app's Options.OnPrivateDir).
package interrupt

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Signals are the signals that remove the registered directories before
// the process dies of them.
var Signals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// notify relays the Signals that the process does not ignore: one started
// with SIGHUP ignored (nohup) or SIGINT ignored (in the background of a
// script) keeps ignoring them.
func notify(c chan os.Signal) {
	for _, s := range Signals {
		if !signal.Ignored(s) {
			signal.Notify(c, s)
		}
	}
}

// Cleaner removes registered directories on a signal. The zero value is
// ready; one per command run.
type Cleaner struct {
	mu      sync.Mutex
	dirs    map[string]bool
	signals chan os.Signal
	stop    chan struct{}
}

// Track registers dir, and returns the function that unregisters it
// (call it once the directory is removed). The signal handler is installed
// while at least one directory is registered. Its signature fits
// app.Options.OnPrivateDir.
func (c *Cleaner) Track(dir string) (untrack func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirs == nil {
		c.dirs = map[string]bool{}
	}
	c.dirs[dir] = true
	if c.signals == nil {
		c.signals = make(chan os.Signal, 1)
		c.stop = make(chan struct{})
		notify(c.signals)
		go c.wait(c.signals, c.stop)
	}
	var once sync.Once
	return func() { once.Do(func() { c.untrack(dir) }) }
}

func (c *Cleaner) untrack(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.dirs, dir)
	if len(c.dirs) == 0 && c.signals != nil {
		signal.Stop(c.signals)
		close(c.stop)
		c.signals, c.stop = nil, nil
	}
}

func (c *Cleaner) wait(signals chan os.Signal, stop chan struct{}) {
	select {
	case s := <-signals:
		c.mu.Lock()
		for dir := range c.dirs {
			os.RemoveAll(dir)
		}
		c.mu.Unlock()
		// Die of the signal, as without the handler: with the default
		// disposition back, the signal sent again ends the process. The
		// exit below is for a signal that was ignored when we started.
		signal.Stop(signals)
		if sys, ok := s.(syscall.Signal); ok {
			signal.Reset(sys)
			_ = syscall.Kill(os.Getpid(), sys)
			time.Sleep(time.Second)
		}
		os.Exit(1)
	case <-stop:
	}
}

// Graceful returns a context that the first SIGINT, SIGTERM or SIGHUP
// cancels, after printing note to w, so that a command in the middle of a
// sync stops there and cleans up (hook finalizers, the history record, the
// lock); a second signal ends the process as without the handler. stop
// releases the handler.
func Graceful(ctx context.Context, w io.Writer, note string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	signals := make(chan os.Signal, 1)
	notify(signals)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-signals:
			signal.Stop(signals) // the next one acts as without the handler
			fmt.Fprintf(w, "\n%s: %s\n", s, note)
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(signals)
			close(done)
			cancel()
		})
	}
}
