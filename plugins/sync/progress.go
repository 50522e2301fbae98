package sync

import (
	"fmt"
	"io"
	"os"
	"strings"
	gosync "sync"

	"golang.org/x/term"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// progress renders sync events. On a terminal it keeps a live block, one
// line per object of the running wave, redrawn in place; elsewhere (CI,
// pipes, files) it prints plain lines as states change. Events arrive from
// several goroutines.
type progress struct {
	mu   gosync.Mutex
	w    io.Writer
	live bool

	header string
	order  []string
	lines  map[string]string
	drawn  int // lines of the live block on screen
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, live: isTerminal(w), lines: map[string]string{}}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) event(e gsync.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.live {
		printEvent(p.w, e)
		return
	}
	switch e.Type {
	case gsync.EventWaveStarted:
		p.settle()
		p.header = fmt.Sprintf("%s wave %d: applying", e.Phase, e.Wave)
	case gsync.EventWaveHealthy:
		p.header = fmt.Sprintf("%s wave %d: healthy", e.Phase, e.Wave)
	case gsync.EventPruneStarted:
		p.settle()
		p.header = "pruning"
	case gsync.EventObjectApplied, gsync.EventObjectPruned, gsync.EventObjectHealth, gsync.EventHookStatus, gsync.EventHookDeleted:
		ref := e.Object.Ref() + hookMark(e.Object)
		if _, seen := p.lines[ref]; !seen {
			p.order = append(p.order, ref)
		}
		line := string(e.Object.Action)
		if e.Object.Hook != nil && e.Object.Hook.Status != "" {
			line += ", " + state(e.Object)
		} else if e.Object.Health != "" && e.Type != gsync.EventObjectPruned {
			line += ", " + string(e.Object.Health)
		}
		p.lines[ref] = fmt.Sprintf("  %-60s %s%s", ref, line, suffix(oneLine(e.Object.Message)))
	}
	p.redraw()
}

// redraw replaces the live block with the current state.
func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", p.drawn) // up, clear to end of screen
	}
	n := 0
	if p.header != "" {
		b.WriteString(p.header + "\n")
		n++
	}
	for _, ref := range p.order {
		b.WriteString(p.lines[ref] + "\n")
		n++
	}
	io.WriteString(p.w, b.String())
	p.drawn = n
}

// settle leaves the current block on screen and starts a new one.
func (p *progress) settle() {
	p.header, p.order, p.lines, p.drawn = "", nil, map[string]string{}, 0
}

// Progress returns the event handler sync prints its progress with: a live
// block on a terminal, plain lines elsewhere. Other commands that run the
// engine (rollback) print the same way.
func Progress(w io.Writer) func(gsync.Event) { return newProgress(w).event }
