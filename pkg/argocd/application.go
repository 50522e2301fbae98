// Package argocd reads Argo CD's Application and AppProject manifests as
// their users write them, strictly: a field this tool does not implement is
// an error that names it, never a setting silently dropped.
package argocd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Group and version of Argo CD's kinds.
const (
	APIVersion = "argoproj.io/v1alpha1"
	// InCluster is the server URL Argo CD gives the cluster it runs in, and
	// InClusterName its name.
	InCluster     = "https://kubernetes.default.svc"
	InClusterName = "in-cluster"
	// ResourcesFinalizer makes deleting an Application delete its
	// resources.
	ResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"
)

// Application is what this tool reads of an Argo CD Application.
type Application struct {
	Name      string
	Namespace string
	// File is where it was read ("-" for standard input).
	File        string
	Annotations map[string]string
	Finalizers  []string

	Project     string
	Source      Source
	Destination Destination
	SyncPolicy  SyncPolicy
	// IgnoreDifferences are spec.ignoreDifferences, checked.
	IgnoreDifferences []ignore.Rule
	// RevisionHistoryLimit is spec.revisionHistoryLimit (nil: Argo CD's
	// default, 10).
	RevisionHistoryLimit *int
	// Object is the Application as read (or generated).
	Object *unstructured.Unstructured
	// GeneratedBy is the ApplicationSet that generated it; nil for one
	// written in a file.
	GeneratedBy *ApplicationSet
}

// Source is spec.source.
type Source struct {
	RepoURL        string
	TargetRevision string
	Path           string
	// Directory is spec.source.directory; nil when absent.
	Directory *Directory
	// Kustomize is spec.source.kustomize; nil when absent.
	Kustomize *render.Kustomize
}

// Directory is spec.source.directory: which files of a plain directory.
type Directory struct {
	Recurse bool
	// Include and Exclude are globs (a {a,b} list allowed) on the file
	// paths relative to the directory.
	Include, Exclude string
}

// Destination is spec.destination.
type Destination struct {
	Server, Name, Namespace string
}

// SyncPolicy is spec.syncPolicy.
type SyncPolicy struct {
	// Automated is set when syncPolicy.automated is.
	Automated   *Automated
	SyncOptions []string
	Retry       *Retry
	// ManagedNamespaceMetadata is set when syncPolicy.managedNamespaceMetadata is.
	ManagedNamespaceMetadata *NamespaceMetadata
}

// NamespaceMetadata is syncPolicy.managedNamespaceMetadata.
type NamespaceMetadata struct {
	Labels, Annotations map[string]string
}

// Automated is syncPolicy.automated.
type Automated struct {
	Prune, SelfHeal, AllowEmpty bool
}

// Retry is syncPolicy.retry, with Argo CD's defaults filled in.
type Retry struct {
	// Limit is the number of retries; negative is unlimited.
	Limit       int
	Backoff     time.Duration
	Factor      float64
	MaxDuration time.Duration
}

// Ref names the Application as messages do.
func (a *Application) Ref() string {
	where := a.File
	if where == "" {
		where = "-"
	}
	return fmt.Sprintf("Application %s (%s)", a.Name, where)
}

// Manifests are what LoadAll reads.
type Manifests struct {
	Apps []*Application
	Sets []*ApplicationSet
	// Projects are the AppProject objects next to them, as written.
	Projects []FileObject
}

// FileObject is an object and the file it was read from.
type FileObject struct {
	File   string
	Object *unstructured.Unstructured
}

// IsAppProject says whether o is an Argo CD AppProject.
func IsAppProject(o *unstructured.Unstructured) bool {
	return o.GetKind() == "AppProject" && o.GetAPIVersion() == APIVersion
}

// LoadAll reads the Applications, ApplicationSets and AppProjects of path
// (see Load); a path holding no Application or ApplicationSet is an error.
func LoadAll(path string, stdin io.Reader) (*Manifests, error) {
	m := &Manifests{}
	var errs []error
	err := eachFile(path, stdin, func(f string, data []byte) error {
		a, err := Parse(f, data)
		errs = append(errs, err)
		m.Apps = append(m.Apps, a...)
		s, err := ParseAppSets(f, data)
		errs = append(errs, err)
		m.Sets = append(m.Sets, s...)
		if objs, err := render.Decode(data); err == nil {
			for _, o := range objs {
				if IsAppProject(o) {
					m.Projects = append(m.Projects, FileObject{File: f, Object: o})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(m.Apps)+len(m.Sets) == 0 {
		return nil, fmt.Errorf("%s: no Application or ApplicationSet (apiVersion %s) found", path, APIVersion)
	}
	return m, nil
}

// Load reads the Applications in a file, in every .yaml, .yml and .json file
// directly in a directory (as Argo CD reads a directory source), or in
// standard input ("-"). Objects of other kinds are left out; a file or
// directory without any Application is an error, and so is every
// Application field this tool does not implement.
func Load(path string, stdin io.Reader) ([]*Application, error) {
	var out []*Application
	var errs []error
	err := eachFile(path, stdin, func(f string, data []byte) error {
		apps, err := Parse(f, data)
		errs = append(errs, err)
		out = append(out, apps...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Application (apiVersion %s, kind Application) found", path, APIVersion)
	}
	return out, nil
}

// eachFile calls fn with the name and content of each manifest file of
// path (see Load).
func eachFile(path string, stdin io.Reader, fn func(file string, data []byte) error) error {
	files, err := ManifestFiles(path)
	if err != nil {
		return err
	}
	for _, f := range files {
		var data []byte
		if f == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return err
		}
		if err := fn(f, data); err != nil {
			return err
		}
	}
	return nil
}

// ManifestFiles are the manifest files of path: the file itself, or the
// .yaml, .yml and .json files directly in a directory (not hidden ones),
// in name order; "-" is standard input.
func ManifestFiles(path string) ([]string, error) {
	if path == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

// Parse reads the Applications among the documents of data (file names
// them in messages). Every problem of every Application is reported.
func Parse(file string, data []byte) ([]*Application, error) {
	objs, err := render.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []*Application
	var errs []error
	for _, o := range objs {
		if o.GetKind() != "Application" || o.GetAPIVersion() != APIVersion {
			continue
		}
		a, err := FromObject(file, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// fields is what this tool implements of an Application, by path;
// unsupported says why a known field is refused.
var (
	fields = map[string][]string{
		"":            {"apiVersion", "kind", "metadata", "spec", "status", "operation"},
		"spec":        {"project", "source", "destination", "syncPolicy", "ignoreDifferences", "revisionHistoryLimit", "info"},
		"spec.source": {"repoURL", "targetRevision", "path", "directory", "kustomize"},
		"spec.source.kustomize": {"namePrefix", "nameSuffix", "images", "replicas", "commonLabels", "commonAnnotations", "commonAnnotationsEnvsubst",
			"forceCommonLabels", "forceCommonAnnotations", "labelWithoutSelector", "labelIncludeTemplates", "namespace", "patches", "components", "ignoreMissingComponents"},
		"spec.source.directory":                    {"recurse", "include", "exclude"},
		"spec.destination":                         {"server", "name", "namespace"},
		"spec.syncPolicy":                          {"automated", "syncOptions", "retry", "managedNamespaceMetadata"},
		"spec.syncPolicy.managedNamespaceMetadata": {"labels", "annotations"},
		"spec.syncPolicy.automated":                {"prune", "selfHeal", "allowEmpty", "enabled"},
		"spec.syncPolicy.retry":                    {"limit", "backoff"},
		"spec.syncPolicy.retry.backoff":            {"duration", "factor", "maxDuration"},
	}
	unsupported = map[string]string{
		"spec.sources":                      "multiple sources are not supported yet; use spec.source",
		"spec.source.helm":                  "Helm sources are not supported yet",
		"spec.source.chart":                 "Helm chart sources are not supported yet",
		"spec.source.plugin":                "config management plugins are not supported",
		"spec.source.kustomize.version":     "a kustomize version of Argo CD's configuration is not supported; the built-in kustomize builds",
		"spec.source.kustomize.kubeVersion": "kubeVersion is for Helm charts inflated by kustomize, which are not supported",
		"spec.source.kustomize.apiVersions": "apiVersions is for Helm charts inflated by kustomize, which are not supported",
		"spec.source.ref":                   "source refs belong to multiple sources, which are not supported yet",
		"spec.source.directory.jsonnet":     "Jsonnet is not supported",
		"spec.source.name":                  "source names belong to multiple sources, which are not supported yet",
		"spec.sourceHydrator":               "the source hydrator is not supported",
	}
)

// checkFields reports every key of v under path that is not implemented.
func checkFields(path string, v map[string]any) []error {
	var errs []error
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := strings.TrimPrefix(path+"."+k, ".")
		if why, ok := unsupported[p]; ok {
			errs = append(errs, fmt.Errorf("%s: %s", p, why))
			continue
		}
		known := false
		for _, f := range fields[path] {
			known = known || f == k
		}
		if !known {
			errs = append(errs, fmt.Errorf("%s: not a field of an Application this tool reads (fields here: %s)", p, strings.Join(fields[path], ", ")))
			continue
		}
		if sub, ok := v[k].(map[string]any); ok {
			if _, nested := fields[p]; nested {
				errs = append(errs, checkFields(p, sub)...)
			}
		}
	}
	return errs
}

// IsApplication reports whether o is an Argo CD Application.
func IsApplication(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Application" && o.GetAPIVersion() == APIVersion
}

// Wave is the Application's sync wave (argocd.argoproj.io/sync-wave), the
// order of children in an app of apps; 0 when absent or not a number.
func (a *Application) Wave() int {
	n, _ := strconv.Atoi(strings.TrimSpace(a.Annotations["argocd.argoproj.io/sync-wave"]))
	return n
}

// HasResourcesFinalizer says deleting the Application deletes its
// resources (resources-finalizer.argocd.argoproj.io, also with a
// /foreground or /background suffix).
func (a *Application) HasResourcesFinalizer() bool {
	for _, f := range a.Finalizers {
		if f == ResourcesFinalizer || strings.HasPrefix(f, ResourcesFinalizer+"/") {
			return true
		}
	}
	return false
}

// FromObject reads one Application object; file names where it came from.
func FromObject(file string, o *unstructured.Unstructured) (*Application, error) {
	a := &Application{Name: o.GetName(), Namespace: o.GetNamespace(), File: file, Annotations: o.GetAnnotations(), Finalizers: o.GetFinalizers(), Object: o}
	errs := checkFields("", o.Object)
	str := func(path ...string) string {
		v, found, err := unstructured.NestedFieldNoCopy(o.Object, path...)
		if !found {
			return ""
		}
		s, ok := v.(string)
		if err != nil || !ok {
			errs = append(errs, fmt.Errorf("%s: want a string, not %v", strings.Join(path, "."), v))
		}
		return s
	}
	boolean := func(path ...string) bool {
		v, found, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		if !found {
			return false
		}
		b, ok := v.(bool)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: want true or false, not %v", strings.Join(path, "."), v))
		}
		return b
	}
	if a.Name == "" {
		errs = append(errs, errors.New("metadata.name is required"))
	}
	a.Project = str("spec", "project")
	a.Source = Source{RepoURL: str("spec", "source", "repoURL"), TargetRevision: str("spec", "source", "targetRevision"), Path: str("spec", "source", "path")}
	if a.Source.RepoURL == "" {
		errs = append(errs, errors.New("spec.source.repoURL is required"))
	}
	if _, ok, _ := unstructured.NestedMap(o.Object, "spec", "source", "directory"); ok {
		a.Source.Directory = &Directory{Recurse: boolean("spec", "source", "directory", "recurse"),
			Include: str("spec", "source", "directory", "include"), Exclude: str("spec", "source", "directory", "exclude")}
	}
	if k, ok, _ := unstructured.NestedMap(o.Object, "spec", "source", "kustomize"); ok {
		ko, err := kustomizeOf(k)
		errs = append(errs, err...)
		a.Source.Kustomize = ko
	}
	a.Destination = Destination{Server: str("spec", "destination", "server"), Name: str("spec", "destination", "name"), Namespace: str("spec", "destination", "namespace")}
	switch d := a.Destination; {
	case d.Server != "" && d.Name != "":
		errs = append(errs, errors.New("spec.destination: give server or name, not both (as Argo CD requires)"))
	case d.Server == "" && d.Name == "":
		errs = append(errs, errors.New("spec.destination: server or name is required"))
	}
	if _, ok, _ := unstructured.NestedMap(o.Object, "spec", "syncPolicy", "automated"); ok {
		a.SyncPolicy.Automated = &Automated{Prune: boolean("spec", "syncPolicy", "automated", "prune"),
			SelfHeal: boolean("spec", "syncPolicy", "automated", "selfHeal"), AllowEmpty: boolean("spec", "syncPolicy", "automated", "allowEmpty")}
		if enabled, found, _ := unstructured.NestedBool(o.Object, "spec", "syncPolicy", "automated", "enabled"); found && !enabled {
			a.SyncPolicy.Automated = nil // Argo CD 3: automated written but switched off
		}
	}
	if opts, found, err := unstructured.NestedStringSlice(o.Object, "spec", "syncPolicy", "syncOptions"); err != nil {
		errs = append(errs, fmt.Errorf("spec.syncPolicy.syncOptions: want a list of Key=value strings: %v", err))
	} else if found {
		a.SyncPolicy.SyncOptions = opts
	}
	if _, ok, _ := unstructured.NestedMap(o.Object, "spec", "syncPolicy", "managedNamespaceMetadata"); ok {
		md := &NamespaceMetadata{}
		for _, f := range []struct {
			name string
			to   *map[string]string
		}{{"labels", &md.Labels}, {"annotations", &md.Annotations}} {
			m, _, err := unstructured.NestedStringMap(o.Object, "spec", "syncPolicy", "managedNamespaceMetadata", f.name)
			if err != nil {
				errs = append(errs, fmt.Errorf("spec.syncPolicy.managedNamespaceMetadata.%s: want a map of strings (quote numbers and booleans)", f.name))
			}
			*f.to = m
		}
		for k, v := range md.Labels {
			if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("spec.syncPolicy.managedNamespaceMetadata.labels: %s=%s: %s", k, v, strings.Join(msgs, "; ")))
			}
		}
		for k := range md.Annotations {
			if msgs := validation.IsQualifiedName(strings.ToLower(k)); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("spec.syncPolicy.managedNamespaceMetadata.annotations: %s: %s", k, strings.Join(msgs, "; ")))
			}
		}
		a.SyncPolicy.ManagedNamespaceMetadata = md
	}
	if _, ok, _ := unstructured.NestedMap(o.Object, "spec", "syncPolicy", "retry"); ok {
		r, err := retryOf(o.Object)
		if err != nil {
			errs = append(errs, err)
		}
		a.SyncPolicy.Retry = r
	}
	if v, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "revisionHistoryLimit"); found {
		n, ok := v.(int64)
		if !ok || n < 0 {
			errs = append(errs, fmt.Errorf("spec.revisionHistoryLimit: want a whole number of at least 0, not %v", v))
		}
		limit := int(n)
		a.RevisionHistoryLimit = &limit
	}
	if raw, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "ignoreDifferences"); found {
		js, _ := json.Marshal(raw)
		rules, err := ignore.Parse(js, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.ignoreDifferences: %w", err))
		}
		a.IgnoreDifferences = rules
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("Application %s (%s):%w", a.Name, file, indent(err))
	}
	return a, nil
}

type indentedErr struct{ err error }

func (e indentedErr) Error() string {
	return "\n  " + strings.ReplaceAll(e.err.Error(), "\n", "\n  ")
}
func (e indentedErr) Unwrap() error { return e.err }

func indent(err error) error { return indentedErr{err} }

// retryOf reads syncPolicy.retry with Argo CD's defaults: backoff 5s,
// factor 2, maxDuration 3m; limit 0 when absent.
func retryOf(obj map[string]any) (*Retry, error) {
	r := &Retry{Backoff: 5 * time.Second, Factor: 2, MaxDuration: 3 * time.Minute}
	if v, found, _ := unstructured.NestedFieldNoCopy(obj, "spec", "syncPolicy", "retry", "limit"); found {
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("spec.syncPolicy.retry.limit: want a whole number, not %v", v)
		}
		r.Limit = int(n)
	}
	dur := func(key string, into *time.Duration) error {
		v, found, _ := unstructured.NestedFieldNoCopy(obj, "spec", "syncPolicy", "retry", "backoff", key)
		if !found {
			return nil
		}
		switch t := v.(type) {
		case int64: // seconds, as Argo CD reads a bare number
			*into = time.Duration(t) * time.Second
			return nil
		case string:
			if n, err := strconv.Atoi(t); err == nil {
				*into = time.Duration(n) * time.Second
				return nil
			}
			d, err := time.ParseDuration(t)
			if err != nil || d < 0 {
				return fmt.Errorf("spec.syncPolicy.retry.backoff.%s: %q is not a duration such as 5s or 3m", key, t)
			}
			*into = d
			return nil
		}
		return fmt.Errorf("spec.syncPolicy.retry.backoff.%s: want a duration such as 5s, not %v", key, v)
	}
	var errs []error
	errs = append(errs, dur("duration", &r.Backoff), dur("maxDuration", &r.MaxDuration))
	if v, found, _ := unstructured.NestedFieldNoCopy(obj, "spec", "syncPolicy", "retry", "backoff", "factor"); found {
		n, ok := v.(int64)
		if !ok || n < 1 {
			errs = append(errs, fmt.Errorf("spec.syncPolicy.retry.backoff.factor: want a whole number of at least 1, not %v", v))
		}
		r.Factor = float64(n)
	}
	return r, errors.Join(errs...)
}

// RepoMap rewrites repository URLs: each FROM prefix (the longest that
// matches) is replaced by its TO, for mirrors and for tests without
// network.
type RepoMap map[string]string

// ParseRepoMap reads FROM=TO entries.
func ParseRepoMap(entries []string) (RepoMap, error) {
	m := RepoMap{}
	for _, e := range entries {
		from, to, ok := strings.Cut(e, "=")
		if !ok || from == "" || to == "" {
			return nil, fmt.Errorf("--repo-map %q: want FROM=TO, such as https://github.com/acme/config.git=/srv/mirror/config", e)
		}
		m[from] = to
	}
	return m, nil
}

// Map rewrites url.
func (m RepoMap) Map(url string) string {
	best := ""
	for from := range m {
		if strings.HasPrefix(url, from) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return url
	}
	return m[best] + url[len(best):]
}

// kustomizeOf reads spec.source.kustomize.
func kustomizeOf(m map[string]any) (*render.Kustomize, []error) {
	k := &render.Kustomize{}
	var errs []error
	at := func(f string) string { return "spec.source.kustomize." + f }
	str := func(f string) string {
		v, ok := m[f]
		if !ok {
			return ""
		}
		s, isStr := v.(string)
		if !isStr {
			errs = append(errs, fmt.Errorf("%s: want a string, not %v", at(f), v))
		}
		return s
	}
	boolean := func(f string) bool {
		v, ok := m[f]
		if !ok {
			return false
		}
		b, isBool := v.(bool)
		if !isBool {
			errs = append(errs, fmt.Errorf("%s: want true or false, not %v", at(f), v))
		}
		return b
	}
	strs := func(f string) []string {
		v, ok := m[f]
		if !ok {
			return nil
		}
		list, isList := v.([]any)
		var out []string
		for _, e := range list {
			s, isStr := e.(string)
			if !isStr {
				isList = false
				break
			}
			out = append(out, s)
		}
		if !isList {
			errs = append(errs, fmt.Errorf("%s: want a list of strings", at(f)))
		}
		return out
	}
	stringMap := func(f string) map[string]string {
		v, ok := m[f]
		if !ok {
			return nil
		}
		in, isMap := v.(map[string]any)
		out := map[string]string{}
		for key, e := range in {
			s, isStr := e.(string)
			if !isStr {
				isMap = false
				break
			}
			out[key] = s
		}
		if !isMap {
			errs = append(errs, fmt.Errorf("%s: want a map of strings (quote numbers and booleans)", at(f)))
		}
		return out
	}
	k.NamePrefix, k.NameSuffix, k.Namespace = str("namePrefix"), str("nameSuffix"), str("namespace")
	k.Images, k.Components = strs("images"), strs("components")
	k.CommonLabels, k.CommonAnnotations = stringMap("commonLabels"), stringMap("commonAnnotations")
	k.CommonAnnotationsEnvsubst, k.ForceCommonLabels, k.ForceCommonAnnotations = boolean("commonAnnotationsEnvsubst"), boolean("forceCommonLabels"), boolean("forceCommonAnnotations")
	k.LabelWithoutSelector, k.LabelIncludeTemplates, k.IgnoreMissingComponents = boolean("labelWithoutSelector"), boolean("labelIncludeTemplates"), boolean("ignoreMissingComponents")
	if v, ok := m["patches"]; ok {
		list, isList := v.([]any)
		if !isList {
			errs = append(errs, fmt.Errorf("%s: want a list of kustomize patches (patch or path, target)", at("patches")))
		}
		k.Patches = list
	}
	if v, ok := m["replicas"]; ok {
		list, _ := v.([]any)
		for i, e := range list {
			r, _ := e.(map[string]any)
			name, _ := r["name"].(string)
			var count int64
			var err error
			switch c := r["count"].(type) {
			case int64:
				count = c
			case string:
				count, err = strconv.ParseInt(c, 10, 64)
			default:
				err = errors.New("missing")
			}
			if name == "" || err != nil || count < 0 {
				errs = append(errs, fmt.Errorf("%s[%d]: want name and count (a whole number)", at("replicas"), i))
				continue
			}
			k.Replicas = append(k.Replicas, render.Replica{Name: name, Count: count})
		}
		if list == nil {
			errs = append(errs, fmt.Errorf("%s: want a list of name and count", at("replicas")))
		}
	}
	return k, errs
}
