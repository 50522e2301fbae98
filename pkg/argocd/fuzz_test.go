package argocd

import (
	"reflect"
	"regexp"
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

// goIdent is a parameter name a Go template reaches as .name.
var goIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FuzzAppSetTemplate renders a template naming one parameter, in a value,
// in a key and in a list, with Argo CD's {{name}} substitution and with Go
// templates: with the parameter present it never fails and puts the value
// in its place, changing nothing else; with it missing, {{name}} stays as
// written, a Go template gives <no value>, and with missingkey=error it
// fails naming the parameter. Any text renders with {{name}} substitution
// without error, unchanged when it holds no {{.
func FuzzAppSetTemplate(f *testing.F) {
	// The parameters of Argo CD's generators documentation.
	for _, s := range []struct {
		key, value, pre, post string
		goTemplate, strict    bool
		raw                   string
	}{
		{"cluster", "engineering-dev", "", "-guestbook", false, false, "{{cluster}}-guestbook"},
		{"url", "https://kubernetes.default.svc", "", "", false, false, "{{ url }}"},
		{"path.basename", "app1", "", "", false, false, "{{path.basename}}-{{path[0]}}"},
		{"values.env", "prod", "env-", "", false, false, "{{values.env}}{{"},
		{"name", "in-cluster", "", "-guestbook", true, false, "{{.name}}-guestbook"},
		{"path", "apps/guestbook", "", "", true, true, "{{.path.basename}}"},
		{"nameNormalized", "in-cluster", "x-", "-y", true, true, "{{ normalize .name }}"},
		{"metadata", "v", "", "", true, false, "{{index .metadata.labels \"env\"}}"},
		{"a b", "v", "{", "}", false, false, "{{}}{{ }}"},
		{"_", "", "", "", true, true, "}}{{"},
	} {
		f.Add(s.key, s.value, s.pre, s.post, s.goTemplate, s.strict, s.raw)
	}
	f.Fuzz(func(t *testing.T, key, value, pre, post string, goTemplate, strict bool, raw string) {
		if len(key)+len(value)+len(pre)+len(post)+len(raw) > 4096 {
			return
		}
		noBraces := strings.NewReplacer("{", "", "}", "")
		pre, post = noBraces.Replace(pre), noBraces.Replace(post)
		tag := "{{" + key + "}}"
		if goTemplate {
			if !goIdent.MatchString(key) {
				key = "name"
			}
			tag = "{{ ." + key + " }}"
		} else if key = noBraces.Replace(strings.TrimSpace(key)); key == "" || strings.TrimSpace(key) != key {
			key = "name"
		}
		if !goTemplate {
			tag = "{{" + key + "}}"
		}
		s := &ApplicationSet{Name: "fuzz", GoTemplate: goTemplate}
		if strict {
			s.GoTemplateOptions = []string{"missingkey=error"}
		}
		tmpl := map[string]any{
			"metadata": map[string]any{"name": pre + tag + post, "labels": map[string]any{pre + tag: "x"}},
			"spec":     map[string]any{"project": "default", "list": []any{tag, int64(3), true, nil}},
		}
		want := func(v string) map[string]any {
			return map[string]any{
				"metadata": map[string]any{"name": pre + v + post, "labels": map[string]any{pre + v: "x"}},
				"spec":     map[string]any{"project": "default", "list": []any{v, int64(3), true, nil}},
			}
		}
		got, err := s.render(tmpl, map[string]any{key: value})
		if err != nil {
			t.Fatalf("%q with %s=%q: %v", tag, key, value, err)
		}
		if !reflect.DeepEqual(got, want(value)) {
			t.Fatalf("%q with %s=%q:\n got %v\nwant %v", tag, key, value, got, want(value))
		}

		missing := map[string]any{key + "_other": value}
		got, err = s.render(tmpl, missing)
		switch {
		case goTemplate && strict:
			if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Fatalf("%q without %s, missingkey=error: %v, %v", tag, key, got, err)
			}
		case goTemplate:
			if err != nil || !reflect.DeepEqual(got, want("<no value>")) {
				t.Fatalf("%q without %s: %v, %v", tag, key, got, err)
			}
		default:
			if err != nil || !reflect.DeepEqual(got, want(tag)) {
				t.Fatalf("%q without %s: %v, %v", tag, key, got, err)
			}
		}

		flat := &ApplicationSet{Name: "fuzz"}
		out, err := flat.renderString(raw, map[string]any{key: value})
		if err != nil {
			t.Fatalf("{{name}} substitution of %q: %v", raw, err)
		}
		if !strings.Contains(raw, "{{") && out != raw {
			t.Fatalf("%q has no {{ but renders as %q", raw, out)
		}
	})
}
