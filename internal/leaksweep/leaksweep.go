package leaksweep

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MinLen is the shortest value the sweep accepts: a shorter one would be
// found by chance in ordinary output.
const MinLen = 8

// TB is the part of testing.TB the sweep uses; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// form is one way a secret can be written: its name and its text.
type form struct {
	name, text string
}

type secret struct {
	id    int
	label string
	forms []form
}

type capture struct {
	what, text string
	state      bool
}

// testState is what one test captured.
type testState struct {
	captures []capture
	swept    bool
}

// Stats counts what the sweep saw in this process.
type Stats struct {
	Secrets  int   // values registered
	Tests    int   // tests (and subtests) that captured something
	Captures int   // captures searched, State included
	State    int   // of which read from the cluster: Events, inventories
	Allowed  int   // captures recorded as allowed, not searched
	Bytes    int64 // bytes searched
	Findings int   // secrets found
}

var reg = struct {
	mu      sync.Mutex
	secrets []*secret
	values  map[string]bool
	tests   map[TB]*testState
	stats   Stats
}{values: map[string]bool{}, tests: map[TB]*testState{}}

// Register adds value, named label, to the values swept for in every test
// of the process. It refuses values shorter than MinLen. Registering a
// value twice is harmless.
func Register(label, value string) error {
	if len(value) < MinLen {
		return fmt.Errorf("leaksweep: secret %q is %d bytes, shorter than %d: it would be found by chance; use a longer value", label, len(value), MinLen)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.values[value] {
		return nil
	}
	reg.values[value] = true
	s := &secret{id: len(reg.secrets) + 1, label: label, forms: forms(value)}
	reg.secrets = append(reg.secrets, s)
	reg.stats.Secrets++
	return nil
}

// Secret registers a value the test generated (a key, a token) for every
// later sweep of the process, this test's included. It fails t when the
// value is shorter than MinLen.
func Secret(t TB, value string) {
	t.Helper()
	label := t.Name()
	if _, file, line, ok := runtime.Caller(1); ok {
		label += " (" + file[strings.LastIndex(file, "/")+1:] + ":" + strconv.Itoa(line) + ")"
	}
	if err := Register(label, value); err != nil {
		t.Fatalf("%v", err)
	}
}

// Begin makes sure t's captures are swept when t ends. Capture calls it;
// a helper calls it first when its own cleanups capture (Events of a
// namespace that a later cleanup deletes), so the sweep runs after them.
func Begin(t TB) {
	t.Helper()
	state(t)
}

func state(t TB) *testState {
	reg.mu.Lock()
	st, ok := reg.tests[t]
	if !ok {
		st = &testState{}
		reg.tests[t] = st
		reg.stats.Tests++
	}
	reg.mu.Unlock()
	if !ok {
		t.Cleanup(func() { sweep(t, st) })
	}
	return st
}

// Capture records text, named what ("stdout of `kubectl-gitops sync`"),
// to be searched when t ends. A capture made after the sweep (from a
// cleanup that runs later) is searched at once.
func Capture(t TB, what, text string) {
	t.Helper()
	add(t, capture{what: what, text: text})
}

// CaptureState is Capture for what a test reads back from the cluster (an
// Event, an inventory ConfigMap): counted apart, so a package whose runners
// capture nothing is seen even though its namespaces were read.
func CaptureState(t TB, what, text string) {
	t.Helper()
	add(t, capture{what: what, text: text, state: true})
}

func add(t TB, c capture) {
	t.Helper()
	st := state(t)
	reg.mu.Lock()
	if !st.swept {
		st.captures = append(st.captures, c)
		reg.mu.Unlock()
		return
	}
	reg.mu.Unlock()
	report(t, []capture{c})
}

// Allow records a capture that holds a secret on purpose (`secret
// decrypt` to stdout). It is counted and not searched; why says why it may
// hold one, and must not be empty.
func Allow(t TB, what, text, why string) {
	t.Helper()
	if strings.TrimSpace(why) == "" {
		t.Fatalf("leaksweep: Allow(%s) without a reason", Redact(what))
	}
	state(t)
	reg.mu.Lock()
	reg.stats.Allowed++
	reg.mu.Unlock()
}

func sweep(t TB, st *testState) {
	reg.mu.Lock()
	st.swept = true
	captures := st.captures
	st.captures = nil
	reg.mu.Unlock()
	report(t, captures)
}

func report(t TB, captures []capture) {
	for _, c := range captures {
		found := Find(c.text)
		reg.mu.Lock()
		reg.stats.Captures++
		if c.state {
			reg.stats.State++
		}
		reg.stats.Bytes += int64(len(c.text))
		reg.stats.Findings += len(found)
		reg.mu.Unlock()
		for _, f := range found {
			t.Errorf("leaksweep: %s holds secret %s (%s) %s at offset %d: %s",
				Redact(c.what), f.Placeholder(), f.Label, f.Form, f.Offset, excerpt(c.text, f.Offset, f.Len))
		}
	}
}

// Finding is one secret found in a text.
type Finding struct {
	ID     int    // the secret's number, as in its placeholder
	Label  string // where the secret was registered
	Form   string // "as is", "base64", "hex", ...
	Offset int    // byte offset in the text
	Len    int    // length of the match
}

// Placeholder is what is printed instead of the secret.
func (f Finding) Placeholder() string { return placeholder(f.ID) }

func placeholder(id int) string { return "[secret#" + strconv.Itoa(id) + "]" }

// Find returns every registered secret in text, by offset: each secret
// once, at its first offset in any form.
func Find(text string) []Finding {
	reg.mu.Lock()
	secrets := reg.secrets
	reg.mu.Unlock()
	var out []Finding
	for _, s := range secrets {
		var best *Finding
		for _, f := range s.forms {
			i := strings.Index(text, f.text)
			if i < 0 || best != nil && (i > best.Offset || i == best.Offset && len(f.text) <= best.Len) {
				continue
			}
			best = &Finding{ID: s.id, Label: s.label, Form: f.name, Offset: i, Len: len(f.text)}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// Redact replaces every registered secret in text, in any form, with its
// placeholder.
func Redact(text string) string {
	reg.mu.Lock()
	secrets := reg.secrets
	reg.mu.Unlock()
	type span struct{ from, to, id int }
	var spans []span
	for _, s := range secrets {
		for _, f := range s.forms {
			for from := 0; ; {
				i := strings.Index(text[from:], f.text)
				if i < 0 {
					break
				}
				spans = append(spans, span{from + i, from + i + len(f.text), s.id})
				from += i + 1
			}
		}
	}
	if len(spans) == 0 {
		return text
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].from != spans[j].from {
			return spans[i].from < spans[j].from
		}
		return spans[i].to > spans[j].to
	})
	var b strings.Builder
	at := 0
	for _, sp := range spans {
		if sp.to <= at {
			continue
		}
		if sp.from >= at {
			b.WriteString(text[at:sp.from])
			b.WriteString(placeholder(sp.id))
		}
		at = sp.to
	}
	b.WriteString(text[at:])
	return b.String()
}

// excerpt is up to 60 bytes either side of the match, every secret in it
// replaced, quoted so control characters show.
func excerpt(text string, at, n int) string {
	from, to := max(at-60, 0), min(at+n+60, len(text))
	// Widen to whole matches so a secret cut at the edge is still replaced.
	for _, f := range Find(text[max(from-200, 0):min(to+200, len(text))]) {
		base := max(from-200, 0)
		s, e := base+f.Offset, base+f.Offset+f.Len
		if s < from && e > from {
			from = s
		}
		if s < to && e > to {
			to = e
		}
	}
	return strconv.Quote(Redact(text[from:to]))
}

// Snapshot returns what the sweep has counted so far.
func Snapshot() Stats {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.stats
}

// Summary writes one line of the counts, for a package's TestMain.
func Summary(w io.Writer, pkg string) {
	s := Snapshot()
	fmt.Fprintf(w, "leaksweep: %s: %d captures swept (%d of them Events and inventories read from the cluster; %d bytes) in %d tests, %d allowed, against %d secrets: %d found\n",
		pkg, s.Captures, s.State, s.Bytes, s.Tests, s.Allowed, s.Secrets, s.Findings)
}

// Finish prints the Summary for a package's TestMain and returns the exit
// code to add: 1 when a secret was found, or when wired is true (the
// package's tests exercised what its runners capture) and a full run (no
// -run, -skip or -bench) captured nothing but cluster state: its runners are
// not wired.
func Finish(w io.Writer, pkg string, wired bool) int {
	Summary(w, pkg)
	full := true
	for _, name := range []string{"test.run", "test.bench", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			full = false
		}
	}
	code, msg := verdict(Snapshot(), wired, full)
	if msg != "" {
		fmt.Fprintf(w, "leaksweep: %s: %s\n", pkg, msg)
	}
	return code
}

// verdict is Finish's exit code and why, for counts s.
func verdict(s Stats, wired, full bool) (int, string) {
	switch {
	case s.Findings > 0:
		return 1, fmt.Sprintf("%d secrets found (the failed tests name them)", s.Findings)
	case full && wired && s.Captures-s.State == 0:
		return 1, "the tests captured no output to sweep: wire the package's runners to leaksweep.Capture"
	}
	return 0, ""
}

// forms are the ways value may be written out.
func forms(value string) []form {
	out := []form{{"as is", value}}
	seen := map[string]bool{value: true}
	addForm := func(name, text string) {
		if len(text) >= MinLen && !seen[text] {
			seen[text] = true
			out = append(out, form{name, text})
		}
	}
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		addForm(enc.name, enc.enc.EncodeToString([]byte(value)))
		for _, c := range base64Cores(enc.enc, []byte(value)) {
			addForm(enc.name, c)
		}
	}
	addForm("hex", hex.EncodeToString([]byte(value)))
	addForm("HEX", strings.ToUpper(hex.EncodeToString([]byte(value))))
	addForm("url-escaped", url.QueryEscape(value))
	addForm("url-path-escaped", url.PathEscape(value))
	if b, err := json.Marshal(value); err == nil {
		addForm("JSON-escaped", strings.Trim(string(b), `"`))
	}
	addForm("Go-quoted", strings.Trim(strconv.Quote(value), `"`))
	return out
}

// base64Cores are the characters of value's base64 that depend on value
// alone, at each of the three alignments it can have inside a longer
// encoded text: so the value is found however much precedes or follows it,
// padded or not.
func base64Cores(enc *base64.Encoding, value []byte) []string {
	var out []string
	n := len(value)
	for pad := 0; pad < 3; pad++ {
		s := enc.EncodeToString(append(make([]byte, pad), value...))
		// Character i carries bits [6i, 6i+6); value holds bits [8pad, 8(pad+n)).
		from := (8*pad + 5) / 6
		to := 8 * (pad + n) / 6
		if to-from >= MinLen {
			out = append(out, s[from:to])
		}
	}
	return out
}
