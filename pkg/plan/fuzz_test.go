package plan

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// fuzzObject is a Job with the given annotations (empty values left out,
// so that a target can say "no such annotation").
func fuzzObject(ann map[string]string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "migrate", "namespace": "shop"}}}
	kept := map[string]string{}
	for k, v := range ann {
		if v != "" {
			kept[k] = v
		}
	}
	o.SetAnnotations(kept)
	return o
}

// FuzzSyncWave: a sync-wave that is accepted is the integer it spells and
// prints back to one that parses to the same wave; a refused one is an
// error naming the object and the annotation. Helm's hook-weight, read only
// without a sync-wave, is never an error.
func FuzzSyncWave(f *testing.F) {
	for _, s := range []string{"0", "1", "-1", "5", " 2 ", "+3", "007", "-0", "1.5", "one", "", "9223372036854775807", "99999999999999999999", "0x10", "1e3"} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Add("-5", "10")
	f.Fuzz(func(t *testing.T, wave, weight string) {
		if wave == "" && weight == "" {
			return
		}
		ann := map[string]string{AnnotationSyncWave: wave, AnnotationHelmHookWeight: weight}
		obj := fuzzObject(ann)
		n, err := waveOf(obj)
		if wave == "" {
			if err != nil {
				t.Fatalf("hook-weight %q: %v", weight, err)
			}
			if want, perr := strconv.Atoi(strings.TrimSpace(weight)); perr == nil && n != want {
				t.Fatalf("hook-weight %q read as %d, want %d", weight, n, want)
			} else if perr != nil && n != 0 {
				t.Fatalf("hook-weight %q is not an integer but read as %d", weight, n)
			}
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), AnnotationSyncWave) || !strings.Contains(err.Error(), Ref(obj)) {
				t.Fatalf("error does not name the object and the annotation: %v", err)
			}
			if _, perr := strconv.ParseInt(strings.TrimSpace(wave), 10, 0); perr == nil {
				t.Fatalf("sync-wave %q is an integer but refused: %v", wave, err)
			}
			return
		}
		again, err := waveOf(fuzzObject(map[string]string{AnnotationSyncWave: strconv.Itoa(n), AnnotationHelmHookWeight: weight}))
		if err != nil || again != n {
			t.Fatalf("sync-wave %q read as %d, printed %q, read back as %d, %v", wave, n, strconv.Itoa(n), again, err)
		}
		p, err := New([]*unstructured.Unstructured{obj}, SyncOptions{})
		if err != nil {
			t.Fatalf("a valid wave %q, but no plan: %v", wave, err)
		}
		if len(p.Waves) != 1 || p.Waves[0].Wave != n {
			t.Fatalf("plan of one object with wave %d:\n%s", n, p)
		}
	})
}

// FuzzSyncOptions: parsing is idempotent (the options applied twice are
// the options applied once), an accepted list spelled in canonical form
// (Key=value, trimmed, comma-separated) parses to the same options, every
// accepted entry is a supported option, and a refused entry is quoted in
// the error.
func FuzzSyncOptions(f *testing.F) {
	for _, s := range []string{
		"Prune=false", "PruneLast=true", "Replace=true", "Force=true,Replace=true", "Validate=false",
		"SkipDryRunOnMissingResource=true", "ServerSideApply=true", "RespectIgnoreDifferences=true",
		"PrunePropagationPolicy=orphan", "CreateNamespace=true", " Prune = false , ,PruneLast=true",
		"Prune=true,Prune=false", "ApplyOutOfSyncOnly=true", "Prune", "Prune=", "=false", "prune=false", ",",
		"Delete=false", "FailOnSharedResource=true",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, fromApp bool) {
		base := SyncOptions{}
		if fromApp {
			// Options set app-wide first: the annotation adds to them.
			base = SyncOptions{NoPrune: true, CreateNamespace: true, PropagationPolicy: PropagationBackground}
		}
		got, err := base.Apply(s)
		if err != nil {
			bad := ""
			for _, opt := range strings.Split(s, ",") {
				if opt = strings.TrimSpace(opt); opt != "" && !supported(opt) {
					bad = opt
					break
				}
			}
			if bad == "" {
				t.Fatalf("%q refused though every entry is supported: %v", s, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(bad)) {
				t.Fatalf("error does not quote the first bad entry %q: %v", bad, err)
			}
			return
		}
		var canonical []string
		for _, opt := range strings.Split(s, ",") {
			if opt = strings.TrimSpace(opt); opt == "" {
				continue
			}
			k, v, _ := strings.Cut(opt, "=")
			c := strings.TrimSpace(k) + "=" + strings.TrimSpace(v)
			if !slices.Contains(SupportedOptions(), c) {
				t.Fatalf("%q accepted entry %q, which is not among the supported options", s, opt)
			}
			canonical = append(canonical, c)
		}
		twice, err := got.Apply(s)
		if err != nil || twice != got {
			t.Fatalf("%q applied twice: %+v, %v; once: %+v", s, twice, err, got)
		}
		again, err := base.Apply(strings.Join(canonical, ","))
		if err != nil || again != got {
			t.Fatalf("%q in canonical form %q: %+v, %v; want %+v", s, strings.Join(canonical, ","), again, err, got)
		}
		split, err := base.Apply(canonical...)
		if err != nil || split != got {
			t.Fatalf("%q as separate entries: %+v, %v; want %+v", s, split, err, got)
		}
	})
}

// supported reports whether one option entry is a supported Key=value,
// spaces around key and value allowed.
func supported(opt string) bool {
	k, v, ok := strings.Cut(opt, "=")
	return ok && slices.Contains(SupportedOptions(), strings.TrimSpace(k)+"="+strings.TrimSpace(v))
}

// FuzzHookOf: any hook annotations read without panicking; a refused value
// is an error naming the object and its annotation; an accepted hook has its
// phases in phase order without duplicates, each one named by the
// annotation, and at least one delete policy, without duplicates; and a hook
// written back in canonical form (its phases, its policies) reads the same.
func FuzzHookOf(f *testing.F) {
	for _, seed := range [][4]string{
		{"PreSync", "", "", ""},
		{"PostSync", "HookSucceeded", "", ""},
		{"Sync,PostSync", "HookSucceeded,HookFailed", "", ""},
		{"SyncFail", "BeforeHookCreation", "", ""},
		{"Skip", "", "", ""},
		{"PreDelete", "", "", ""},
		{"PostDelete,Skip", "", "", ""},
		{" PostSync, Skip,PreSync,SyncFail", "", "", ""},
		{"presync", "", "", ""},
		{",", "", "", ""},
		{"PreSync", "Always", "", ""},
		{"", "", "pre-install,pre-upgrade", "before-hook-creation,hook-succeeded"},
		{"", "", "post-install", "hook-failed"},
		{"", "", "test", ""},
		{"", "", "crd-install", ""},
		{"", "", "post-rollback", ""},
		{"", "", "pre-install", "hook-succeded"},
		{"", "HookSucceeded", "post-upgrade", "hook-failed"},
		{"PostSync", "", "pre-install", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, hook, policy, helmHook, helmPolicy string) {
		ann := map[string]string{AnnotationHook: hook, AnnotationHookDeletePolicy: policy,
			AnnotationHelmHook: helmHook, AnnotationHelmHookDeletePolicy: helmPolicy}
		obj := fuzzObject(ann)
		h, skip, err := HookOf(obj)
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, Ref(obj)) || !strings.Contains(msg, "annotation ") {
				t.Fatalf("error does not name the object and an annotation: %v", err)
			}
			named := false
			for k, v := range obj.GetAnnotations() {
				named = named || strings.Contains(msg, k+"=") || (len(csv(v)) == 0 && strings.Contains(msg, k))
			}
			if !named {
				t.Fatalf("error names no annotation the object has: %v", err)
			}
			return
		}
		if skip {
			if h != nil || csv(hook)[0] != "Skip" || len(csv(hook)) != 1 {
				t.Fatalf("%q: skip with hook %+v", hook, h)
			}
			if !IsSkipHook(obj) || IsHook(obj) {
				t.Fatalf("%q: IsSkipHook/IsHook disagree with HookOf", hook)
			}
			return
		}
		if h == nil {
			if IsHook(obj) {
				t.Fatalf("not a hook, but IsHook says it is")
			}
			return
		}
		named := csv(hook)
		if h.Helm {
			named = nil
			for _, v := range csv(helmHook) {
				if p, ok := helmHooks[v]; ok {
					named = append(named, string(p))
				}
			}
		}
		for i, p := range h.Phases {
			if !slices.Contains(named, string(p)) {
				t.Fatalf("phase %s not named by the annotations %v", p, obj.GetAnnotations())
			}
			if i > 0 && phaseOrder[h.Phases[i-1]] >= phaseOrder[p] {
				t.Fatalf("phases out of order or repeated: %v", h.Phases)
			}
		}
		if len(h.Phases) > 0 && h.NotRun != "" {
			t.Fatalf("phases %v with NotRun %q", h.Phases, h.NotRun)
		}
		if len(h.Phases) == 0 && h.NotRun == "" && (h.Helm || slices.ContainsFunc(named, func(s string) bool { return s != "Skip" })) {
			// Only Skip listed more than once (a hook as Argo CD reads
			// it, which no phase runs) may leave NotRun empty.
			t.Fatalf("%v: a hook no phase runs, and NotRun does not say why", obj.GetAnnotations())
		}
		if len(h.Policies) == 0 {
			t.Fatal("no delete policy")
		}
		for i, p := range h.Policies {
			if slices.Contains(h.Policies[:i], p) || !slices.Contains(argoPolicies, string(p)) {
				t.Fatalf("policies %v", h.Policies)
			}
		}
		if h.Helm || len(h.Phases) == 0 {
			return
		}
		var phases, policies []string
		for _, p := range h.Phases {
			phases = append(phases, string(p))
		}
		for _, p := range h.Policies {
			policies = append(policies, string(p))
		}
		canon := fuzzObject(map[string]string{AnnotationHook: strings.Join(phases, ","), AnnotationHookDeletePolicy: strings.Join(policies, ",")})
		again, _, err := HookOf(canon)
		if err != nil || !slices.Equal(again.Phases, h.Phases) || !slices.Equal(again.Policies, h.Policies) {
			t.Fatalf("hook %+v written back as %v reads %+v, %v", h, canon.GetAnnotations(), again, err)
		}
	})
}
