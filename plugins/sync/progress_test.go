package sync

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func obj(name string, a gsync.Action, h health.Status, msg string) *gsync.ObjectResult {
	return &gsync.ObjectResult{ObjectID: gsync.ObjectID{Kind: "Deployment", Namespace: "shop", Name: name}, Action: a, Health: h, Message: msg}
}

func TestPlainProgressPrintsLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf) // a buffer is not a terminal
	p.event(gsync.Event{Type: gsync.EventWaveStarted, Phase: "Sync", Wave: 0})
	p.event(gsync.Event{Type: gsync.EventObjectApplied, Object: obj("web", gsync.Configured, "", "")})
	p.event(gsync.Event{Type: gsync.EventObjectHealth, Object: obj("web", gsync.Configured, health.Progressing, "Updated: 0/2")})
	want := "Sync wave 0: applying\n  Deployment/shop/web configured\n  Deployment/shop/web Progressing: Updated: 0/2\n"
	if buf.String() != want || strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("plain output %q, want %q", buf.String(), want)
	}
}

func TestLiveProgressRedrawsInPlace(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	p.live = true
	p.event(gsync.Event{Type: gsync.EventWaveStarted, Phase: "Sync", Wave: 0})
	p.event(gsync.Event{Type: gsync.EventObjectApplied, Object: obj("web", gsync.Configured, "", "")})
	p.event(gsync.Event{Type: gsync.EventObjectHealth, Object: obj("web", gsync.Configured, health.Healthy, "")})
	out := buf.String()
	// The third draw moves up over the two lines of the second and clears.
	if !strings.Contains(out, "\x1b[2A\x1b[J") {
		t.Errorf("no in-place redraw in %q", out)
	}
	last := out[strings.LastIndex(out, "\x1b[J")+len("\x1b[J"):]
	if !strings.Contains(last, "Sync wave 0: applying\n") || !strings.Contains(last, "Deployment/shop/web") || !strings.Contains(last, "configured, Healthy") {
		t.Errorf("final block %q", last)
	}
	// A new wave leaves the old block on screen.
	p.event(gsync.Event{Type: gsync.EventWaveStarted, Phase: "Sync", Wave: 1})
	tail := buf.String()[len(out):]
	if strings.Contains(tail, "\x1b[") || !strings.HasPrefix(tail, "Sync wave 1: applying\n") {
		t.Errorf("the next wave redrew over the last one: %q", tail)
	}
}
