package setimage

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/api/filters/imagetag"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/fnresult"
)

// Processor is the function: it reads the config from the ResourceList and
// changes the images of its items.
type Processor struct{}

// Process implements framework.ResourceListProcessor. It returns the
// results as an error when any has severity error, so the function fails.
func (Processor) Process(rl *framework.ResourceList) error {
	cfg, err := Parse(rl.FunctionConfig)
	if err != nil {
		rl.Results = append(rl.Results, fnresult.Errors(err)...)
		return rl.Results
	}
	changed, err := Apply(cfg, rl.Items)
	if err != nil {
		rl.Results = append(rl.Results, fnresult.Errors(err)...)
		return rl.Results
	}
	rl.Results = append(rl.Results, changed.results(cfg)...)
	return nil
}

// Change is one image field the function changed.
type Change struct {
	Resource *yaml.ResourceIdentifier
	Field    string
	From, To string
	// Config is the index of the config image that matched.
	Config int
}

// Changes are all changes of one run.
type Changes []Change

// Apply changes the images of items in place and lists what changed. The
// change itself is kustomize's own image filter, so the result is what
// kustomize's `images:` field produces for the same fields.
func Apply(cfg *Config, items []*yaml.RNode) (Changes, error) {
	var changes Changes
	fields := cfg.fieldSpecs()
	for i, im := range cfg.Images {
		f := imagetag.Filter{ImageTag: types.Image{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag, Digest: im.Digest}, FsSlice: fields}
		for _, item := range items {
			meta, err := item.GetMeta()
			if err != nil {
				continue // not an object; kustomize would not touch it either
			}
			found := imageFields(item, meta, fields)
			if !anyMatches(found, im.Name) {
				continue // the filter would change nothing here
			}
			before := map[string]yaml.Node{} // copies: the filter may replace nodes
			for k, n := range found {
				before[k] = *n
			}
			if _, err := f.Filter([]*yaml.RNode{item}); err != nil {
				return nil, fmt.Errorf("%s/%s: %w", meta.Kind, meta.Name, err)
			}
			after := imageFields(item, meta, fields)
			for _, field := range sortedKeys(after) {
				old, now := before[field], after[field]
				if old.Value == now.Value {
					continue
				}
				// The replaced scalar loses its comments; give them back.
				if now.LineComment == "" && now.HeadComment == "" && now.FootComment == "" {
					now.LineComment, now.HeadComment, now.FootComment = old.LineComment, old.HeadComment, old.FootComment
				}
				changes = append(changes, Change{Resource: resourceRef(meta), Field: field, From: old.Value, To: now.Value, Config: i})
			}
		}
	}
	return changes, nil
}

func resourceRef(meta yaml.ResourceMeta) *yaml.ResourceIdentifier {
	return &yaml.ResourceIdentifier{TypeMeta: meta.TypeMeta, NameMeta: meta.ObjectMeta.NameMeta}
}

func (c Changes) results(cfg *Config) framework.Results {
	var out framework.Results
	matched := make([]bool, len(cfg.Images))
	resources := map[string]bool{}
	for _, ch := range c {
		matched[ch.Config] = true
		resources[ch.Resource.Kind+"/"+ch.Resource.Namespace+"/"+ch.Resource.Name] = true
		out = append(out, &framework.Result{
			Severity:    framework.Info,
			Message:     fmt.Sprintf("set image %s to %s", ch.From, ch.To),
			ResourceRef: ch.Resource,
			Field:       &framework.Field{Path: ch.Field, CurrentValue: ch.From, ProposedValue: ch.To},
		})
	}
	for i, ok := range matched {
		if !ok {
			out = append(out, &framework.Result{Severity: framework.Warning, Message: fmt.Sprintf("images[%d] (%s) matched no image; check the name (registry and port included)", i, cfg.Images[i].Name)})
		}
	}
	out = append(out, &framework.Result{Severity: framework.Info, Message: fmt.Sprintf("set-image: %d image(s) changed in %d resource(s)", len(c), len(resources))})
	return out
}

// anyMatches reports whether some image value names the image name, bare or
// with a tag or digest (the prefilter for kustomize's own matching).
func anyMatches(fields map[string]*yaml.Node, name string) bool {
	for _, n := range fields {
		v := n.Value
		if v == name || strings.HasPrefix(v, name+":") || strings.HasPrefix(v, name+"@") {
			return true
		}
	}
	return false
}
