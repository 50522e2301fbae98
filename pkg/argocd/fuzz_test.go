package argocd

import (
	"strings"
	"testing"
	"time"
)

// fuzzEpoch and fuzzSpan bound the instants FuzzSyncWindow evaluates
// windows at: 2020 to about 2120.
const (
	fuzzEpoch = 1577836800 // 2020-01-01T00:00:00Z
	fuzzSpan  = 100 * 365 * 24 * 3600
)

// naiveStart is the latest start of w at or before t in loc, found by
// stepping through every firing from t minus the duration: what activeIn
// computes, the slow way.
func naiveStart(w *window, loc *time.Location, t time.Time) (bool, time.Time) {
	start := w.schedule.Next(t.In(loc).Add(-w.duration))
	if start.IsZero() || start.After(t) {
		return false, time.Time{}
	}
	for next := w.schedule.Next(start); !next.IsZero() && !next.After(t); next = w.schedule.Next(next) {
		start = next
	}
	return true, start
}

// FuzzSyncWindow: a project's windows parse or are refused with an error
// naming the window; for accepted ones, at any instant: the next firing is
// after it; a window that is active started at or before it, at a firing
// (the one stepping through every firing finds), and ends after it; Check
// never panics, a blocked sync says why, and when it says the windows open
// later, a sync at that time is allowed; a manual sync is allowed whenever
// an automated one is; and a window whose applications pattern has no glob
// metacharacters selects the app of that name.
func FuzzSyncWindow(f *testing.F) {
	// The schedules and windows of Argo CD's sync windows documentation,
	// and some it refuses.
	for _, s := range []struct {
		deny                     bool
		schedule, duration, zone string
		pattern                  string
		other                    string
		at                       int64
	}{
		{true, "10 1 * * *", "1h", "", "*-prod", "0 9 * * 1-5", 12345},
		{false, "0 22 * * *", "1h", "", "*", "* * * * *", 0},
		{true, "0 9 * * *", "8h", "Europe/Amsterdam", "order-service", "0 12 * * *", 86400 * 200},
		{false, "*/5 * * * *", "5m", "America/New_York", "web", "30 2 * * 0", 86400*68 + 3600*7},
		{true, "* * * * *", "1h", "UTC", "?", "", 1},
		{true, "0 2 * * *", "90m", "Europe/London", "a*", "0 1 * * *", 86400*88 + 3600},
		{false, "0 0 30 2 *", "1h", "", "x", "", 0},
		{false, "@daily", "1h", "", "x", "", 0},
		{true, "0 0 * * *", "-1h", "", "x", "", 0},
		{true, "0 0 * * *", "1h", "Mars/Olympus", "x", "", 0},
		{false, "0 0 1 1 *", "24h", "Asia/Kolkata", "{a,b}", "0 0 * * 6", 3600 * 5},
		{true, "15,45 */2 * * MON-FRI", "30m", "Australia/Lord_Howe", "[ab]pp", "", 86400 * 300},
	} {
		f.Add(s.deny, s.schedule, s.duration, s.zone, s.pattern, s.other, s.at, false)
	}
	f.Fuzz(func(t *testing.T, deny bool, schedule, duration, zone, pattern, other string, at int64, manualSync bool) {
		if len(schedule) > 100 || len(other) > 100 || len(pattern) > 100 || len(zone) > 64 {
			return
		}
		// Long durations are fine for the product (the search is
		// logarithmic) but not for naiveStart, the oracle.
		if d, err := time.ParseDuration(duration); err == nil && d > 48*time.Hour {
			return
		}
		kind, otherKind := "allow", "deny"
		if deny {
			kind, otherKind = otherKind, kind
		}
		list := []SyncWindow{{Kind: kind, Schedule: schedule, Duration: duration, TimeZone: zone, Applications: []string{pattern}, ManualSync: manualSync}}
		if other != "" {
			list = append(list, SyncWindow{Kind: otherKind, Schedule: other, Duration: "1h", Namespaces: []string{"*"}})
		}
		ws, err := ParseWindows("p", list)
		if err != nil {
			if !strings.Contains(err.Error(), "AppProject p: spec.syncWindows[") {
				t.Fatalf("error does not name the window: %v", err)
			}
			return
		}
		now := time.Unix(fuzzEpoch+(at%fuzzSpan+fuzzSpan)%fuzzSpan, 0).UTC()
		for i := range ws.list {
			w := &ws.list[i]
			if next := w.schedule.Next(now.In(w.loc)); !next.After(now) {
				t.Fatalf("%s: next firing after %s is %s", w, now, next)
			}
			on, start := w.active(now)
			if on && (start.After(now) || !now.Before(start.Add(w.duration))) {
				t.Fatalf("%s: active at %s since %s", w, now, start)
			}
			for _, loc := range []*time.Location{w.loc, time.FixedZone("", 3600)} {
				gotOn, got := w.activeIn(loc, now)
				wantOn, want := naiveStart(w, loc, now)
				if gotOn != wantOn || !got.Equal(want) {
					t.Fatalf("%s in %s at %s: active %v since %s, stepping through the firings says %v since %s", w, loc, now, gotOn, got, wantOn, want)
				}
			}
		}
		app := WindowApp{Name: pattern, Namespace: "prod", Server: "https://kubernetes.default.svc"}
		if !strings.ContainsAny(pattern, `*?[]{}\`) && len(ws.Check(app, false, now).Matching) == 0 {
			t.Fatalf("pattern %q does not select the app of that name", pattern)
		}
		v := ws.Check(app, false, now)
		if !v.Allowed {
			if v.Reason == "" {
				t.Fatal("blocked without a reason")
			}
			if !v.Opens.IsZero() {
				if !v.Opens.After(now) {
					t.Fatalf("blocked at %s, opens at %s", now, v.Opens)
				}
				if at := ws.Check(app, false, v.Opens); !at.Allowed {
					t.Fatalf("blocked at %s until %s, but blocked then too: %s", now, v.Opens, at.Reason)
				}
			}
		} else if v.Reason != "" || v.Manual {
			t.Fatalf("an automated sync allowed with reason %q, manual %v", v.Reason, v.Manual)
		}
		if m := ws.Check(app, true, now); v.Allowed && !m.Allowed {
			t.Fatalf("an automated sync is allowed, a manual one is not: %s", m.Reason)
		}
	})
}
