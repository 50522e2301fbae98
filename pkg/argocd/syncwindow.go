package argocd

import (
	"fmt"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"github.com/robfig/cron/v3"
)

// SyncWindow is one entry of an AppProject's spec.syncWindows, as Argo CD
// writes it.
type SyncWindow struct {
	Kind         string   `json:"kind"`
	Schedule     string   `json:"schedule"`
	Duration     string   `json:"duration"`
	Applications []string `json:"applications,omitempty"`
	Namespaces   []string `json:"namespaces,omitempty"`
	Clusters     []string `json:"clusters,omitempty"`
	ManualSync   bool     `json:"manualSync,omitempty"`
	TimeZone     string   `json:"timeZone,omitempty"`
	AndOperator  bool     `json:"andOperator,omitempty"`
	Description  string   `json:"description,omitempty"`
	// SyncOverrun lets a sync that is already running go on past a window's
	// edge. A sync here is one run that checks its windows before it
	// starts, so it is accepted and has nothing to change.
	SyncOverrun bool `json:"syncOverrun,omitempty"`
}

// Windows are a project's sync windows, parsed.
type Windows struct {
	project string
	list    []window
}

type window struct {
	SyncWindow
	index    int
	schedule cron.Schedule
	duration time.Duration
	loc      *time.Location
	apps     []*glob.Pattern
	ns       []*glob.Pattern
	clusters []*glob.Pattern
}

// cronParser reads the five-field schedules Argo CD reads (no seconds, no
// descriptors such as @daily).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseWindows checks and parses the sync windows of AppProject project.
// A window Argo CD would refuse (kind, schedule, duration) is an error
// naming it; so is an unknown timeZone, which Argo CD replaces by UTC with
// a warning: a window evaluated in the wrong zone would allow syncs when
// it means to block them.
func ParseWindows(project string, list []SyncWindow) (*Windows, error) {
	ws := &Windows{project: project}
	for i, sw := range list {
		w := window{SyncWindow: sw, index: i}
		name := fmt.Sprintf("AppProject %s: spec.syncWindows[%d]", project, i)
		if sw.Kind != "allow" && sw.Kind != "deny" {
			return nil, fmt.Errorf("%s: kind %q: want allow or deny", name, sw.Kind)
		}
		s, err := cronParser.Parse(sw.Schedule)
		if err != nil {
			return nil, fmt.Errorf("%s: schedule %q: %v (five cron fields: minute hour day-of-month month day-of-week)", name, sw.Schedule, err)
		}
		w.schedule = s
		if s.Next(time.Now()).IsZero() {
			// Argo CD takes such a window as always active; it is surely
			// a mistake (the 30th of February).
			return nil, fmt.Errorf("%s: schedule %q never fires; fix its day and month", name, sw.Schedule)
		}
		d, err := time.ParseDuration(sw.Duration)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: duration %q: want a positive Go duration such as 1h or 30m", name, sw.Duration)
		}
		w.duration = d
		tz := sw.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		if w.loc, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("%s: timeZone %q is not a known IANA time zone (such as Europe/Amsterdam)", name, sw.TimeZone)
		}
		for _, l := range []struct {
			field    string
			patterns []string
			to       *[]*glob.Pattern
		}{{"applications", sw.Applications, &w.apps}, {"namespaces", sw.Namespaces, &w.ns}, {"clusters", sw.Clusters, &w.clusters}} {
			for _, p := range l.patterns {
				g, err := glob.Compile(p)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: pattern %q: %v", name, l.field, p, err)
				}
				*l.to = append(*l.to, g)
			}
		}
		ws.list = append(ws.list, w)
	}
	return ws, nil
}

// WindowApp is what a sync window selects an Application by: its name and
// its destination as written (Argo CD matches clusters against
// destination.name and destination.server).
type WindowApp struct {
	Name, Namespace, Cluster, Server string
}

// matches says whether w selects app, as Argo CD does: each of
// applications, clusters and namespaces that is set must match (andOperator)
// or any one of them (the default).
func (w *window) matches(app WindowApp) bool {
	// As Argo CD: an unset cluster name or server matches nothing, an
	// unset namespace is matched like any value ("*" matches it).
	matchAny := func(gs []*glob.Pattern, skipEmpty bool, vals ...string) bool {
		for _, g := range gs {
			for _, v := range vals {
				if (v != "" || !skipEmpty) && g.Match(v) {
					return true
				}
			}
		}
		return false
	}
	var set, hit []bool
	for _, c := range []struct {
		gs        []*glob.Pattern
		skipEmpty bool
		vals      []string
	}{{w.apps, false, []string{app.Name}}, {w.clusters, true, []string{app.Cluster, app.Server}}, {w.ns, false, []string{app.Namespace}}} {
		if len(c.gs) == 0 {
			continue
		}
		set = append(set, true)
		hit = append(hit, matchAny(c.gs, c.skipEmpty, c.vals...))
	}
	if len(set) == 0 {
		return false
	}
	for _, h := range hit {
		if h && !w.AndOperator {
			return true
		}
		if !h && w.AndOperator {
			return false
		}
	}
	return w.AndOperator
}

// active says whether w is open at t, and since its latest start: a window
// is active from each time its schedule fires (in its time zone) for its
// duration.
func (w *window) active(t time.Time) (bool, time.Time) {
	on, start := w.activeIn(w.loc, t)
	// A start the schedule names in the hour a daylight saving change
	// skips (02:30 on the night clocks go from 02:00 to 03:00) does not
	// exist in the zone; it fires at the offset before the change, as a
	// fixed-offset clock would, rather than not at all.
	if _, before := t.Add(-w.duration).In(w.loc).Zone(); !on {
		if _, now := t.In(w.loc).Zone(); before != now {
			on, start = w.activeIn(time.FixedZone("", before), t)
		}
	}
	return on, start
}

func (w *window) activeIn(loc *time.Location, t time.Time) (bool, time.Time) {
	lo := t.In(loc).Add(-w.duration)
	start := w.schedule.Next(lo)
	if start.IsZero() || start.After(t) {
		return false, time.Time{}
	}
	// The latest start at or before t: the window is open until it ends.
	// Next is monotonic, so search for the latest lo whose next firing is
	// still at or before t (stepping through every firing instead costs a
	// call per minute of the duration for a schedule of every minute).
	for hi := t.In(loc); hi.Sub(lo) > time.Second; {
		mid := lo.Add(hi.Sub(lo) / 2)
		if next := w.schedule.Next(mid); !next.IsZero() && !next.After(t) {
			lo, start = mid, next
		} else {
			hi = mid
		}
	}
	return true, start
}

// String names a window the way a project's author finds it.
func (w *window) String() string {
	tz := ""
	if w.TimeZone != "" && w.TimeZone != "UTC" {
		tz = " " + w.TimeZone
	}
	s := fmt.Sprintf("spec.syncWindows[%d] (%s %q for %s%s", w.index, w.Kind, w.Schedule, w.Duration, tz)
	if w.Description != "" {
		s += ": " + w.Description
	}
	return s + ")"
}

// Verdict is what a project's windows say of one sync.
type Verdict struct {
	// Allowed says the sync may run now.
	Allowed bool
	// Manual says it may only because it is a manual sync (manualSync).
	Manual bool
	// Reason says which windows block the sync, or let it through only as
	// a manual sync; empty when no window stands in the way.
	Reason string
	// Opens is when a sync that is blocked may next run (zero when none
	// opens within the next year).
	Opens time.Time
	// Matching are the windows that select the app.
	Matching []string
}

// Check applies Argo CD's rules to a sync of app at now: no matching
// window allows everything; an active matching deny blocks; matching allow
// windows block when none is active; a manual sync passes when every window
// that blocks it has manualSync.
func (ws *Windows) Check(app WindowApp, manual bool, now time.Time) Verdict {
	var matching []*window
	v := Verdict{}
	for i := range ws.list {
		if w := &ws.list[i]; w.matches(app) {
			matching = append(matching, w)
			v.Matching = append(v.Matching, w.String())
		}
	}
	blocking, manualOK := blockers(matching, now)
	if len(blocking) == 0 {
		v.Allowed = true
		return v
	}
	if manual && manualOK {
		v.Allowed, v.Manual = true, true
		v.Reason = fmt.Sprintf("AppProject %s: %s; allowed as a manual sync (manualSync)", ws.project, strings.Join(blocking, "; "))
		return v
	}
	v.Reason = fmt.Sprintf("AppProject %s: %s", ws.project, strings.Join(blocking, "; "))
	v.Opens = opens(matching, now)
	return v
}

// blockers lists why the matching windows block a sync at t (nothing when
// they allow it) and whether manualSync lets a manual sync through.
func blockers(matching []*window, t time.Time) ([]string, bool) {
	var denies, allows, inactiveAllows []*window
	for _, w := range matching {
		on, _ := w.active(t)
		switch {
		case w.Kind == "deny" && on:
			denies = append(denies, w)
		case w.Kind == "allow" && on:
			allows = append(allows, w)
		case w.Kind == "allow":
			inactiveAllows = append(inactiveAllows, w)
		}
	}
	all := func(ws []*window) bool {
		for _, w := range ws {
			if !w.ManualSync {
				return false
			}
		}
		return true
	}
	if len(denies) > 0 {
		var out []string
		for _, w := range denies {
			_, start := w.active(t)
			out = append(out, fmt.Sprintf("deny window %s is active until %s", w, start.Add(w.duration).UTC().Format(time.RFC3339)))
		}
		return out, all(denies)
	}
	if len(allows) > 0 || len(inactiveAllows) == 0 {
		return nil, false
	}
	var out []string
	for _, w := range inactiveAllows {
		out = append(out, fmt.Sprintf("allow window %s is not active", w))
	}
	return []string{"syncs are allowed only inside the project's allow windows: " + strings.Join(out, ", ")}, all(inactiveAllows)
}

// opens is the first time after now at which the matching windows allow a
// sync: the allowed state changes only where a window opens or closes, so
// those instants are visited in order (bounded, for schedules that fire
// every minute under an always-active deny).
func opens(matching []*window, now time.Time) time.Time {
	t := now
	limit := now.AddDate(1, 0, 0)
	for range 5000 {
		next := limit
		for _, w := range matching {
			if on, start := w.active(t); on {
				if end := start.Add(w.duration); end.Before(next) {
					next = end
				}
			} else if s := w.schedule.Next(t.In(w.loc)); !s.IsZero() && s.Before(next) {
				next = s
			}
		}
		if !next.Before(limit) {
			return time.Time{}
		}
		t = next
		if b, _ := blockers(matching, t); len(b) == 0 {
			return t.UTC()
		}
	}
	return time.Time{}
}
