package argocd

import (
	"strings"
	"testing"
	"time"
)

func mustWindows(t *testing.T, list ...SyncWindow) *Windows {
	t.Helper()
	ws, err := ParseWindows("production", list)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

var orderApp = WindowApp{Name: "order-service-production", Namespace: "production", Server: "https://kubernetes.default.svc"}

// The rules of Argo CD's sync windows documentation, one case each.
func TestSyncWindowRules(t *testing.T) {
	deny22 := SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", Applications: []string{"*-production"}}
	allow9 := SyncWindow{Kind: "allow", Schedule: "0 9 * * *", Duration: "8h", Namespaces: []string{"production"}}
	for _, c := range []struct {
		name    string
		windows []SyncWindow
		app     WindowApp
		manual  bool
		now     string
		allowed bool
		manualO bool
		opens   string
		reason  string
	}{
		{name: "no windows", now: "2026-12-02T22:30:00Z", app: orderApp, allowed: true},
		{name: "deny not matching", windows: []SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", Applications: []string{"payment-*"}}}, now: "2026-12-02T22:30:00Z", app: orderApp, allowed: true},
		{name: "deny active", windows: []SyncWindow{deny22}, now: "2026-12-02T22:30:00Z", app: orderApp, opens: "2026-12-02T23:00:00Z", reason: `deny window spec.syncWindows[0] (deny "0 22 * * *" for 1h) is active until 2026-12-02T23:00:00Z`},
		{name: "deny active from its first instant", windows: []SyncWindow{deny22}, now: "2026-12-02T22:00:00Z", app: orderApp, opens: "2026-12-02T23:00:00Z"},
		{name: "deny over at its end", windows: []SyncWindow{deny22}, now: "2026-12-02T23:00:00Z", app: orderApp, allowed: true},
		{name: "deny inactive", windows: []SyncWindow{deny22}, now: "2026-12-02T21:59:59Z", app: orderApp, allowed: true},
		{name: "deny manual", windows: []SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", Applications: []string{"*"}, ManualSync: true}}, now: "2026-12-02T22:30:00Z", app: orderApp, manual: true, allowed: true, manualO: true},
		{name: "deny manualSync but automated", windows: []SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", Applications: []string{"*"}, ManualSync: true}}, now: "2026-12-02T22:30:00Z", app: orderApp, opens: "2026-12-02T23:00:00Z"},
		{name: "deny without manualSync blocks a manual sync", windows: []SyncWindow{deny22}, now: "2026-12-02T22:30:00Z", app: orderApp, manual: true, opens: "2026-12-02T23:00:00Z"},
		{name: "allow active", windows: []SyncWindow{allow9}, now: "2026-12-02T10:00:00Z", app: orderApp, allowed: true},
		{name: "allow inactive blocks", windows: []SyncWindow{allow9}, now: "2026-12-02T18:00:00Z", app: orderApp, opens: "2026-12-03T09:00:00Z", reason: "syncs are allowed only inside the project's allow windows"},
		{name: "deny wins over allow", windows: []SyncWindow{allow9, {Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Clusters: []string{"https://kubernetes.default.svc"}}}, now: "2026-12-02T12:15:00Z", app: orderApp, opens: "2026-12-02T13:00:00Z"},
		{name: "one deny without manualSync blocks a manual sync", windows: []SyncWindow{{Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Namespaces: []string{"*"}, ManualSync: true}, {Kind: "deny", Schedule: "30 11 * * *", Duration: "2h", Namespaces: []string{"prod*"}}}, now: "2026-12-02T12:15:00Z", app: orderApp, manual: true, opens: "2026-12-02T13:30:00Z"},
		{name: "time zone", windows: []SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", TimeZone: "Europe/Amsterdam", Namespaces: []string{"production"}}}, now: "2026-12-02T21:30:00Z", app: orderApp, opens: "2026-12-02T22:00:00Z"},
		{name: "time zone, summer time", windows: []SyncWindow{{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", TimeZone: "Europe/Amsterdam", Namespaces: []string{"production"}}}, now: "2026-07-02T20:30:00Z", app: orderApp, opens: "2026-07-02T21:00:00Z"},
		{name: "andOperator: all set selectors must match", windows: []SyncWindow{{Kind: "deny", Schedule: "* * * * *", Duration: "1h", Applications: []string{"order-*"}, Namespaces: []string{"staging"}, AndOperator: true}}, now: "2026-12-02T12:00:00Z", app: orderApp, allowed: true},
		{name: "andOperator: all match", windows: []SyncWindow{{Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Applications: []string{"order-*"}, Namespaces: []string{"prod?ction"}, AndOperator: true}}, now: "2026-12-02T12:00:00Z", app: orderApp, opens: "2026-12-02T13:00:00Z"},
		{name: "cluster by destination name", windows: []SyncWindow{{Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Clusters: []string{"prod-*"}}}, now: "2026-12-02T12:00:00Z", app: WindowApp{Name: "a", Cluster: "prod-eu"}, opens: "2026-12-02T13:00:00Z"},
		{name: "opens where an allow is active and no deny", windows: []SyncWindow{{Kind: "deny", Schedule: "0 * * * *", Duration: "30m", Applications: []string{"*"}}, {Kind: "allow", Schedule: "0 0 * * 6", Duration: "48h", Applications: []string{"*"}}}, now: "2026-12-02T12:00:00Z", app: orderApp, opens: "2026-12-05T00:30:00Z"},
		{name: "overlapping denies: opens when the last closes", windows: []SyncWindow{deny22, {Kind: "deny", Schedule: "30 22 * * *", Duration: "1h", Namespaces: []string{"*"}}}, now: "2026-12-02T22:15:00Z", app: orderApp, opens: "2026-12-02T23:30:00Z"},
		{name: "a window active all week opens at its end", windows: []SyncWindow{{Kind: "deny", Schedule: "* * * * 1-5", Duration: "1h", Applications: []string{"*"}}}, now: "2026-11-30T10:00:00Z", app: orderApp, opens: "2026-12-05T00:59:00Z", reason: "is active until 2026-11-30T11:00:00Z"},
		{name: "namespaces * selects an app without destination namespace", windows: []SyncWindow{{Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Namespaces: []string{"*"}}}, now: "2026-12-02T12:30:00Z", app: WindowApp{Name: "a", Server: "https://x"}, opens: "2026-12-02T13:00:00Z"},
		{name: "clusters * does not select an unset name", windows: []SyncWindow{{Kind: "deny", Schedule: "0 12 * * *", Duration: "1h", Clusters: []string{"prod-*"}}}, now: "2026-12-02T12:30:00Z", app: WindowApp{Name: "a", Server: "https://x"}, allowed: true},
		// 02:30 does not exist in New York on 2026-03-08 (02:00 EST is
		// 03:00 EDT): the nightly freeze fires at 02:30 EST (07:30Z).
		{name: "a start in the hour daylight saving skips", windows: []SyncWindow{{Kind: "deny", Schedule: "30 2 * * *", Duration: "4h", TimeZone: "America/New_York", Applications: []string{"*"}}}, now: "2026-03-08T08:00:00Z", app: orderApp, opens: "2026-03-08T11:30:00Z"},
		{name: "never opens", windows: []SyncWindow{{Kind: "deny", Schedule: "* * * * *", Duration: "1h", Applications: []string{"*"}}}, now: "2026-12-02T12:00:00Z", app: orderApp},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := mustWindows(t, c.windows...).Check(c.app, c.manual, at(c.now))
			if v.Allowed != c.allowed || v.Manual != c.manualO {
				t.Fatalf("allowed=%v manual=%v, want %v %v (%s)", v.Allowed, v.Manual, c.allowed, c.manualO, v.Reason)
			}
			if !c.allowed {
				var want time.Time
				if c.opens != "" {
					want = at(c.opens)
				}
				if !v.Opens.Equal(want) {
					t.Errorf("opens %s, want %s", v.Opens, want)
				}
				if !strings.Contains(v.Reason, "AppProject production") || !strings.Contains(v.Reason, c.reason) {
					t.Errorf("reason %q does not name the project and %q", v.Reason, c.reason)
				}
			}
		})
	}
}

func TestParseWindowsErrors(t *testing.T) {
	for _, c := range []struct {
		w    SyncWindow
		want string
	}{
		{SyncWindow{Kind: "block", Schedule: "* * * * *", Duration: "1h"}, `spec.syncWindows[0]: kind "block": want allow or deny`},
		{SyncWindow{Kind: "deny", Schedule: "0 22 * *", Duration: "1h"}, `schedule "0 22 * *"`},
		{SyncWindow{Kind: "deny", Schedule: "@daily", Duration: "1h"}, `schedule "@daily"`},
		{SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: "1 hour"}, `duration "1 hour"`},
		{SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: "-1h"}, `duration "-1h"`},
		{SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", TimeZone: "Mars/Olympus"}, `timeZone "Mars/Olympus"`},
		{SyncWindow{Kind: "deny", Schedule: "0 22 * * *", Duration: "1h", Applications: []string{"[a"}}, `applications: pattern "[a"`},
		{SyncWindow{Kind: "deny", Schedule: "0 0 30 2 *", Duration: "1h"}, `schedule "0 0 30 2 *" never fires`},
	} {
		_, err := ParseWindows("production", []SyncWindow{c.w})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "AppProject production") {
			t.Errorf("%+v: %v, want %q", c.w, err, c.want)
		}
	}
}
