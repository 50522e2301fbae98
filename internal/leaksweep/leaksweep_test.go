package leaksweep

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// recorder is the part of testing.TB the sweep uses, recording what the
// sweep says; end runs its cleanups as testing does, last first.
type recorder struct {
	name     string
	errors   []string
	fatals   []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Name() string     { return r.name }
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, a...))
}

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestSweepFindsEveryForm(t *testing.T) {
	const value = "leaksweep-unit-test-value-0001"
	r := &recorder{name: "TestSweepFindsEveryForm"}
	Secret(r, value)
	if len(r.fatals) != 0 {
		t.Fatal(r.fatals)
	}
	b := []byte(value)
	forms := map[string]string{
		"as is":                 "error: password " + value + " rejected",
		"base64":                "password: " + base64.StdEncoding.EncodeToString(b) + "\n",
		"base64 raw":            `{"data":"` + base64.RawStdEncoding.EncodeToString(b) + `"}`,
		"base64url":             "x=" + base64.URLEncoding.EncodeToString([]byte("?>"+value)),
		"base64 inside, +1":     base64.StdEncoding.EncodeToString([]byte("u:" + value + ":tail")),
		"base64 inside, +2":     base64.StdEncoding.EncodeToString([]byte("ab" + value)),
		"base64 inside, +3":     base64.StdEncoding.EncodeToString([]byte("abc" + value + "z")),
		"hex":                   hex.EncodeToString(b),
		"url-escaped":           "https://x/?p=" + url.QueryEscape(value+" "),
		"quoted in a multiline": fmt.Sprintf("%q", "a\n"+value+"\nb"),
	}
	for what, text := range forms {
		Capture(r, what, text)
	}
	r.end()
	if len(r.errors) != len(forms) {
		t.Errorf("%d findings for %d captures holding the value:\n%s", len(r.errors), len(forms), strings.Join(r.errors, "\n"))
	}
	for what := range forms {
		found := false
		for _, e := range r.errors {
			if strings.HasPrefix(e, "leaksweep: "+what+" holds secret [secret#") {
				found = true
			}
		}
		if !found {
			t.Errorf("the value in %q is not found", what)
		}
	}
	for _, e := range r.errors {
		if strings.Contains(e, value) || strings.Contains(e, base64.StdEncoding.EncodeToString(b)) || strings.Contains(e, hex.EncodeToString(b)) {
			t.Errorf("a finding prints the secret: %s", e)
		}
	}
}

func TestSweepPassesWhenAbsent(t *testing.T) {
	r := &recorder{name: "TestSweepPassesWhenAbsent"}
	Secret(r, "leaksweep-unit-test-value-0002")
	Capture(r, "stdout", "password: ++++++++\nSecret/shop/db configured\n")
	Capture(r, "stderr", base64.StdEncoding.EncodeToString([]byte("leaksweep-unit-test-value-000")))
	before := Snapshot()
	r.end()
	if len(r.errors) != 0 {
		t.Errorf("findings without a secret: %v", r.errors)
	}
	if got := Snapshot().Captures - before.Captures; got != 2 {
		t.Errorf("%d captures swept, want 2", got)
	}
}

func TestFixtureValuesAreSwept(t *testing.T) {
	r := &recorder{name: "TestFixtureValuesAreSwept"}
	Capture(r, "stdout of `kubectl get secret shop-db -o yaml`", "data:\n  password: "+base64.StdEncoding.EncodeToString([]byte(Known[0].Value))+"\n")
	r.end()
	if len(r.errors) != 1 || !strings.Contains(r.errors[0], Known[0].Label) || !strings.Contains(r.errors[0], "base64") {
		t.Errorf("findings %q, want one naming %q in base64", r.errors, Known[0].Label)
	}
}

func TestAllowedIsNotSwept(t *testing.T) {
	r := &recorder{name: "TestAllowedIsNotSwept"}
	Allow(r, "stdout of `secret decrypt`", "password: "+Known[0].Value, "decrypt prints the plaintext on purpose")
	Allow(r, "stdout", "x", " ")
	r.end()
	if len(r.errors) != 0 {
		t.Errorf("an allowed capture was swept: %v", r.errors)
	}
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "without a reason") {
		t.Errorf("Allow without a reason: %v", r.fatals)
	}
}

func TestShortValuesAreRefused(t *testing.T) {
	r := &recorder{name: "TestShortValuesAreRefused"}
	Secret(r, "abc1234")
	if len(r.fatals) != 1 || !strings.Contains(r.fatals[0], "shorter than 8") || strings.Contains(r.fatals[0], "abc1234") {
		t.Errorf("a 7-byte secret: %v", r.fatals)
	}
}

// A capture made by a cleanup that runs after the sweep is swept at once.
func TestLateCaptureIsSwept(t *testing.T) {
	r := &recorder{name: "TestLateCaptureIsSwept"}
	r.Cleanup(func() { Capture(r, "agent logs", "token="+Known[5].Value) })
	Begin(r)
	r.end()
	if len(r.errors) != 1 || !strings.HasPrefix(r.errors[0], "leaksweep: agent logs holds secret") {
		t.Errorf("findings %q", r.errors)
	}
}

func TestFindingNamesWhereWithoutTheValue(t *testing.T) {
	r := &recorder{name: "TestFindingNamesWhere"}
	other := Known[1].Value
	text := strings.Repeat("x", 100) + Known[0].Value + "-" + other + strings.Repeat("y", 100)
	Capture(r, "stderr of `kubectl-gitops sync --password "+other+"`", text)
	r.end()
	if len(r.errors) != 2 {
		t.Fatalf("findings %q, want 2", r.errors)
	}
	e := r.errors[0]
	for _, want := range []string{"stderr of `kubectl-gitops sync --password [secret#", "at offset 100", `[secret#1]-[secret#2]`} {
		if !strings.Contains(e, want) {
			t.Errorf("finding %q lacks %q", e, want)
		}
	}
	if strings.Contains(e, Known[0].Value) || strings.Contains(e, other) {
		t.Errorf("finding prints a secret: %s", e)
	}
}

func TestRedact(t *testing.T) {
	in := "a " + Known[0].Value + " b " + base64.StdEncoding.EncodeToString([]byte(Known[0].Value)) + " c"
	if got, want := Redact(in), "a [secret#1] b [secret#1] c"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name        string
		s           Stats
		wired, full bool
		want        int
	}{
		{"outputs swept", Stats{Captures: 10, State: 4}, true, true, 0},
		{"only cluster state, full run", Stats{Captures: 4, State: 4}, true, true, 1},
		{"nothing, full run", Stats{}, true, true, 1},
		{"nothing, -run", Stats{}, true, false, 0},
		{"nothing, not wired (no namespace used)", Stats{}, false, true, 0},
		{"a finding", Stats{Captures: 10, Findings: 1}, false, false, 1},
	} {
		if got, msg := verdict(tc.s, tc.wired, tc.full); got != tc.want {
			t.Errorf("%s: %d (%s), want %d", tc.name, got, msg, tc.want)
		}
	}
}
