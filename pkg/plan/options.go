package plan

import (
	"fmt"
	"sort"
	"strings"
)

// PropagationPolicy is how a prune deletes an object's dependents.
type PropagationPolicy string

// Propagation policies of PrunePropagationPolicy.
const (
	PropagationForeground PropagationPolicy = "foreground"
	PropagationBackground PropagationPolicy = "background"
	PropagationOrphan     PropagationPolicy = "orphan"
)

// SyncOptions are Argo CD's sync options, from the
// argocd.argoproj.io/sync-options annotation of an object or from the app.
// The zero value is Argo CD's default.
type SyncOptions struct {
	// NoPrune (Prune=false) keeps the object when it leaves Git.
	NoPrune bool
	// PruneLast (PruneLast=true) prunes it after everything else.
	PruneLast bool
	// CreateNamespace (CreateNamespace=true) creates the destination
	// namespace when it is missing.
	CreateNamespace bool
	// PropagationPolicy (PrunePropagationPolicy=...) is used when pruning;
	// empty means foreground.
	PropagationPolicy PropagationPolicy
	// Replace (Replace=true) replaces the object (an update of the whole
	// object, as kubectl replace; a create when it is missing) instead of
	// applying it.
	Replace bool
	// Force (Force=true) deletes and recreates an object that cannot be
	// changed in place: with Replace=true whenever it changed (kubectl
	// replace --force), without it when the apply is refused for an
	// immutable field.
	Force bool
	// NoValidate (Validate=false) turns off the server's field validation.
	NoValidate bool
	// SkipDryRunOnMissingResource (=true) skips the dry-run of a custom
	// resource whose definition is not served yet.
	SkipDryRunOnMissingResource bool
	// RespectIgnoreDifferences (=true) gives the desired object the live
	// values of the fields the app's ignoreDifferences rules ignore, before
	// it is judged and applied, so those fields keep what the cluster has.
	RespectIgnoreDifferences bool
}

// optionSetters maps each supported key to what its values do.
var optionSetters = map[string]map[string]func(*SyncOptions){
	"Prune":                       {"false": func(o *SyncOptions) { o.NoPrune = true }, "true": func(o *SyncOptions) { o.NoPrune = false }},
	"PruneLast":                   {"true": func(o *SyncOptions) { o.PruneLast = true }, "false": func(o *SyncOptions) { o.PruneLast = false }},
	"CreateNamespace":             {"true": func(o *SyncOptions) { o.CreateNamespace = true }, "false": func(o *SyncOptions) { o.CreateNamespace = false }},
	"Replace":                     {"true": func(o *SyncOptions) { o.Replace = true }, "false": func(o *SyncOptions) { o.Replace = false }},
	"Force":                       {"true": func(o *SyncOptions) { o.Force = true }, "false": func(o *SyncOptions) { o.Force = false }},
	"Validate":                    {"false": func(o *SyncOptions) { o.NoValidate = true }, "true": func(o *SyncOptions) { o.NoValidate = false }},
	"SkipDryRunOnMissingResource": {"true": func(o *SyncOptions) { o.SkipDryRunOnMissingResource = true }, "false": func(o *SyncOptions) { o.SkipDryRunOnMissingResource = false }},
	"RespectIgnoreDifferences":    {"true": func(o *SyncOptions) { o.RespectIgnoreDifferences = true }, "false": func(o *SyncOptions) { o.RespectIgnoreDifferences = false }},
	// Server-side apply is how every object is applied; the option is
	// accepted so Argo CD manifests read as they are.
	"ServerSideApply": {"true": func(*SyncOptions) {}},
	"PrunePropagationPolicy": {
		"foreground": func(o *SyncOptions) { o.PropagationPolicy = PropagationForeground },
		"background": func(o *SyncOptions) { o.PropagationPolicy = PropagationBackground },
		"orphan":     func(o *SyncOptions) { o.PropagationPolicy = PropagationOrphan },
	},
}

// SupportedOptions lists the accepted Key=value pairs, sorted.
func SupportedOptions() []string {
	var out []string
	for k, vals := range optionSetters {
		for v := range vals {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// Apply parses comma-separated Key=value options (the annotation's form) on
// top of o. Blank entries are ignored; an unknown key or value is an error.
func (o SyncOptions) Apply(list ...string) (SyncOptions, error) {
	for _, entry := range list {
		for _, opt := range strings.Split(entry, ",") {
			opt = strings.TrimSpace(opt)
			if opt == "" {
				continue
			}
			key, val, ok := strings.Cut(opt, "=")
			vals, known := optionSetters[strings.TrimSpace(key)]
			if !ok || !known {
				return o, fmt.Errorf("unknown sync option %q; supported: %s", opt, strings.Join(SupportedOptions(), ", "))
			}
			set, ok := vals[strings.TrimSpace(val)]
			if !ok {
				var allowed []string
				for v := range vals {
					allowed = append(allowed, key+"="+v)
				}
				sort.Strings(allowed)
				return o, fmt.Errorf("sync option %q has an unsupported value; use %s", opt, strings.Join(allowed, " or "))
			}
			set(&o)
		}
	}
	return o, nil
}
