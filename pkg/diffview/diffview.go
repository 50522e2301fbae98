package diffview

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// AnnotationLastApplied is kubectl's client-side apply record: a copy of
// the object as last applied, Secret values included. It is masked on
// every object.
const AnnotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// View is what a sync would change, masked, ready to show.
type View struct {
	App    string       `json:"app"`
	Source gsync.Source `json:"source"`
	// Objects are the changes that differ or are listed (everything but
	// unchanged objects), in the change set's order.
	Objects []Object `json:"objects"`
	Summary Summary  `json:"summary"`
	// Error is why the change set cannot be applied, masked; empty when
	// it can.
	Error string `json:"error,omitempty"`
	// Requests are the API requests the comparison made.
	Requests gsync.Requests `json:"requests"`
}

// Object is one object's difference.
type Object struct {
	gsync.ObjectID
	Action gsync.ChangeAction `json:"action"`
	Judged gsync.Judgement    `json:"judged"`
	Reason string             `json:"reason,omitempty"`
	Error  string             `json:"error,omitempty"`
	// Fields are the changed fields of an object to configure, replace or
	// recreate, with masked values; empty for objects to create or prune
	// (the whole object is added or removed).
	Fields []Field `json:"fields,omitempty"`
	// Live and Merged are the two sides of the diff: the live object and
	// what the server would store, noise removed and secrets masked; nil
	// when the side is absent (Live of an object to create, Merged of one
	// to prune) and both nil for listed-only objects (orphan, skip).
	Live   *unstructured.Unstructured `json:"-"`
	Merged *unstructured.Unstructured `json:"-"`
}

// Field is one changed field: its path (.spec.replicas, ["odd.key"],
// [0]) and its masked values; a side that lacks the field has none.
type Field = gsync.FieldChange

// Shown reports whether the object has a diff (one side or both), as
// opposed to being listed only.
func (o Object) Shown() bool { return o.Live != nil || o.Merged != nil }

// Summary counts the objects of a view by what a sync would do.
type Summary struct {
	Create    int `json:"create"`
	Change    int `json:"change"`
	Prune     int `json:"prune"`
	Unchanged int `json:"unchanged"`
	// Orphan and Skip are listed, never changed.
	Orphan int `json:"orphan,omitempty"`
	Skip   int `json:"skip,omitempty"`
	// Refused objects were refused by the server's dry-run: listed with
	// the server's message, without a diff (there is no stored form).
	Refused int `json:"refused,omitempty"`
}

// String is the one-line summary: "1 to create, 2 to change, 0 to
// prune", with orphans and skips when there are any.
func (s Summary) String() string {
	out := fmt.Sprintf("%d to create, %d to change, %d to prune", s.Create, s.Change, s.Prune)
	if s.Orphan > 0 {
		out += fmt.Sprintf(", %d orphaned", s.Orphan)
	}
	if s.Skip > 0 {
		out += fmt.Sprintf(", %d skipped", s.Skip)
	}
	if s.Refused > 0 {
		out += fmt.Sprintf(", %d refused by the dry-run", s.Refused)
	}
	return out
}

// Differs reports whether applying would change anything (create, change
// or prune).
func (v *View) Differs() bool {
	return v.Summary.Create+v.Summary.Change+v.Summary.Prune > 0
}

// New builds the view of cs. secretValues are plaintext values to mask
// wherever they appear (gsync.Input.SecretValues: those decrypted from
// SOPS files), beyond the values of the Secrets in cs.
func New(cs *gsync.ChangeSet, secretValues []string) *View {
	red := newRedactor(cs, secretValues)
	v := &View{App: cs.App, Source: cs.Source, Requests: cs.Requests}
	if err := cs.Err(); err != nil {
		v.Error = red.String(err.Error())
	}
	for _, c := range cs.Changes {
		if c.Action == gsync.ChangeRun {
			continue // a hook is created by each sync, never compared
		}
		o := Object{ObjectID: c.ObjectID, Action: c.Action, Judged: c.Judged, Reason: red.String(c.Reason), Error: red.String(c.Error)}
		// Live and what the server would store, without noise and without
		// the fields ignoreDifferences ignores: what Change.Diff was
		// computed from.
		cl, cm := c.Compared()
		if cm != nil && c.Merged == nil {
			render.FoldStringData(cm.Object) // as the server would store it
		}
		var live, merged *unstructured.Unstructured
		switch {
		case c.Error != "":
			// No diff: what the server would store is unknown, and the raw
			// desired object against live would show every defaulted field.
			v.Summary.Refused++
			v.Objects = append(v.Objects, o)
			continue
		}
		switch c.Action {
		case gsync.ChangeUnchanged:
			v.Summary.Unchanged++
			continue
		case gsync.ChangeOrphan:
			v.Summary.Orphan++
		case gsync.ChangeSkip:
			v.Summary.Skip++
		case gsync.ChangePrune:
			v.Summary.Prune++
			live = cl
		case gsync.ChangeCreate:
			v.Summary.Create++
			merged = cm
		default: // configure, replace, recreate
			v.Summary.Change++
			live, merged = cl, cm
		}
		if live != nil || merged != nil {
			dropEmptyMetadata(live)
			dropEmptyMetadata(merged)
			maskPair(live, merged)
			live, merged = red.object(live), red.object(merged)
			if live != nil && merged != nil {
				o.Fields = gsync.FieldChanges(live.Object, merged.Object)
			}
		}
		o.Live, o.Merged = live, merged
		v.Objects = append(v.Objects, o)
	}
	return v
}

// dropEmptyMetadata removes empty labels and annotations maps, which read
// as a change where one side has none.
func dropEmptyMetadata(o *unstructured.Unstructured) {
	if o == nil {
		return
	}
	if md, ok := o.Object["metadata"].(map[string]any); ok {
		for _, k := range []string{"annotations", "labels"} {
			if m, ok := md[k].(map[string]any); ok && len(m) == 0 {
				delete(md, k)
			}
		}
	}
}

// isSecret reports whether o is a core v1 Secret.
func isSecret(o *unstructured.Unstructured) bool {
	return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
}

// maskPair masks, in place, the values of Secret data and stringData and
// the last-applied annotation, pairwise: per key, the first distinct value
// seen (live first) becomes ++++++++, the next +++++++++, and so on.
func maskPair(live, merged *unstructured.Unstructured) {
	sides := []*unstructured.Unstructured{live, merged}
	if isSecret(live) || isSecret(merged) {
		for _, field := range []string{"data", "stringData"} {
			var maps []map[string]any
			for _, o := range sides {
				if o == nil {
					maps = append(maps, nil)
					continue
				}
				m, _ := o.Object[field].(map[string]any)
				maps = append(maps, m)
			}
			maskMaps(maps)
		}
	}
	var anns []map[string]any
	for _, o := range sides {
		var a map[string]any
		if o != nil {
			if md, ok := o.Object["metadata"].(map[string]any); ok {
				a, _ = md["annotations"].(map[string]any)
			}
		}
		anns = append(anns, a)
	}
	maskKey(anns, AnnotationLastApplied)
}

func maskMaps(maps []map[string]any) {
	keys := map[string]bool{}
	for _, m := range maps {
		for k := range m {
			keys[k] = true
		}
	}
	for k := range keys {
		maskKey(maps, k)
	}
}

// maskKey replaces maps[i][key], where present, by a mask that is equal
// exactly where the values are equal.
func maskKey(maps []map[string]any, key string) {
	masks := map[string]string{}
	for _, m := range maps {
		v, ok := m[key]
		if !ok {
			continue
		}
		s := fmt.Sprint(v)
		mask, seen := masks[s]
		if !seen {
			mask = strings.Repeat("+", len(redact.Mask)+len(masks))
			masks[s] = mask
		}
		m[key] = mask
	}
}

// redactor masks known secret values in every string of an object.
type redactor struct{ *redact.Redactor }

func newRedactor(cs *gsync.ChangeSet, secretValues []string) redactor {
	var secrets []*unstructured.Unstructured
	for _, c := range cs.Changes {
		for _, o := range []*unstructured.Unstructured{c.Desired, c.Live, c.Merged} {
			if isSecret(o) {
				secrets = append(secrets, o)
			}
		}
	}
	r := redact.NewFromObjects(secrets)
	r.Add(secretValues...)
	return redactor{r}
}

func (r redactor) object(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	return r.Objects([]*unstructured.Unstructured{o})[0]
}
