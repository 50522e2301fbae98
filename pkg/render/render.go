package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// Options tune Render.
type Options struct {
	// EnableExec lets exec KRM functions named by the repository run.
	EnableExec bool
	// EnableContainerFunctions lets container KRM functions named by the
	// repository run (kustomize runs them with docker, and hands them the
	// host environment variables their config names).
	EnableContainerFunctions bool
	// Self is the path of a kubectl-gitops binary. With it, our own
	// functions (exec `kubectl-gitops fn NAME`, or a binary named NAME, for
	// NAME in OwnFunctions) always run, with this binary, whatever PATH
	// holds, without EnableExec.
	Self string
	// OwnFunctions names our functions.
	OwnFunctions map[string]bool
	// FunctionArgs gives extra arguments for our own function NAME (the
	// decrypt function's --age-key-file); it is called only for functions
	// the build runs.
	FunctionArgs func(name string) []string
	// Keys decrypt SOPS-encrypted resources after the build. A resource
	// no key opens is left encrypted (and Warn is told); one that fails
	// its MAC is an error.
	Keys *sops.Keys
	// Warn receives warnings; nil drops them.
	Warn func(string)
	// OnEncrypted is told of every SOPS-encrypted file that stays
	// encrypted (no key opened it): whatever the build made of it, as a
	// resource or through a generator, must not be applied.
	OnEncrypted func(file string, recipients []string)
	// OnDecrypted receives the plaintext values of each file decrypted, so
	// that what prints the result can mask them wherever they land.
	OnDecrypted func(values []string)
	// Directory chooses the files of a plain directory as an Argo CD
	// Application's spec.source.directory does; nil reads every manifest
	// file below the directory.
	Directory *Directory
	// Kustomize are an Application's spec.source.kustomize overrides of
	// the path's kustomization; nil for none.
	Kustomize *Kustomize

	root   string
	warned map[string]bool
}

func (o Options) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	}
}

// stillEncrypted reports a file no key opened, once per render.
func (o Options) stillEncrypted(name string, recipients []string, msg string) {
	if o.warned != nil && o.warned[name] {
		return
	}
	o.warnOnce(name, msg)
	if o.OnEncrypted != nil {
		o.OnEncrypted(name, recipients)
	}
}

// warnOnce warns about key once per render (files are read more than once).
func (o Options) warnOnce(key, msg string) {
	if o.warned == nil || !o.warned[key] {
		if o.warned != nil {
			o.warned[key] = true
		}
		o.warn(msg)
	}
}

// MaxFileSize bounds each manifest file read in a plain directory, and
// each file a kustomize build reads.
const MaxFileSize = 16 << 20

// Render builds path (relative to root) and returns its objects in the
// order the build produced them.
func Render(root, path string, opts Options) ([]*unstructured.Unstructured, error) {
	// The build reports the files it read as absolute paths; a relative
	// root would make every one of them look outside.
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	dir, err := resolveInside(root, path)
	if err != nil {
		return nil, err
	}
	opts.warned = map[string]bool{}
	if opts.root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w; use a directory of the repository", path, errors.Unwrap(err))
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("path %q is a file; use a directory (a kustomization or manifests)", path)
	}
	if hasKustomization(dir) {
		return kustomize(root, dir, path, opts)
	}
	if opts.Kustomize != nil {
		return nil, fmt.Errorf("path %q has no kustomization.yaml, so spec.source.kustomize has nothing to change; remove it or point path at a kustomization", path)
	}
	return plainDirectory(root, dir, opts)
}

// resolveInside joins root and path and checks that the result, with every
// symbolic link followed, is root or below it.
func resolveInside(root, path string) (string, error) {
	if filepath.IsAbs(path) {
		return "", fmt.Errorf("path %q is absolute; use a path relative to the repository root", path)
	}
	clean := filepath.Clean(filepath.FromSlash(path))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q leaves the repository; use a path relative to the repository root, without ../", path)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(realRoot, clean)
	if err := checkInside(realRoot, dir, path); err != nil {
		return "", err
	}
	return dir, nil
}

// checkInside refuses p when, links followed, it lies outside realRoot. A
// path that does not exist passes (the caller reports that).
func checkInside(realRoot, p, name string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%q is a symbolic link that leaves the repository; links must point inside it", name)
	}
	return nil
}

func hasKustomization(dir string) bool {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// plainDirectory reads every .yaml, .yml and .json file below dir, in
// lexical order, skipping hidden files and directories.
func plainDirectory(root, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	var files []string
	sel := opts.Directory
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() && p != dir && sel != nil && !sel.Recurse {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			rel, _ := filepath.Rel(dir, p)
			if sel.selects(filepath.ToSlash(rel)) {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		rel, _ := filepath.Rel(realRoot, f)
		if err := checkInside(realRoot, f, rel); err != nil {
			return nil, err
		}
		data, err := readBounded(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if data, err = decryptFile(rel, data, opts); err != nil {
			return nil, err
		}
		objs, err := Decode(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d MiB; split it", MaxFileSize>>20)
	}
	return data, nil
}

// Decode parses a YAML (multi-document) or JSON stream into objects. Empty
// documents are skipped, List kinds are expanded, and a document without
// apiVersion, kind or metadata.name is an error naming its position.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	reader := utilyaml.NewYAMLReader(bufioReader(data))
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: invalid YAML: %w", doc, err)
		}
		if t := bytes.TrimSpace(j); bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
			continue // empty, or only comments
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name         string `json:"name"`
				GenerateName string `json:"generateName"`
			} `json:"metadata"`
			Items []any `json:"items"`
		}
		_ = json.Unmarshal(j, &head)
		isList := strings.HasSuffix(head.Kind, "List") && head.Items != nil
		if head.APIVersion == "" || head.Kind == "" || (!isList && head.Metadata.Name == "" && head.Metadata.GenerateName == "") {
			return nil, fmt.Errorf("document %d: not a Kubernetes object (needs apiVersion, kind and metadata.name)", doc)
		}
		// The unstructured JSON decoder keeps whole numbers as int64, as
		// objects read from the API server have them.
		decoded, err := runtime.Decode(unstructured.UnstructuredJSONScheme, j)
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", doc, head.Kind, err)
		}
		switch o := decoded.(type) {
		case *unstructured.UnstructuredList:
			for i := range o.Items {
				out = append(out, &o.Items[i])
			}
		case *unstructured.Unstructured:
			out = append(out, o)
		}
	}
}

func bufioReader(data []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(data)) }

// UntrustedFunctionsError is returned when a kustomization names KRM
// functions that run programs or images of the repository's choosing and
// the options do not allow them. Nothing ran.
type UntrustedFunctionsError struct {
	// Path is the path built.
	Path string
	// Exec and Container describe each function not allowed:
	// "Kind/name in file (exec PATH)", "Kind/name in file (image IMAGE)".
	Exec, Container []string
}

func (e *UntrustedFunctionsError) Error() string {
	var parts []string
	if len(e.Exec) > 0 {
		parts = append(parts, "exec KRM functions, which execute programs named by the repository: "+strings.Join(e.Exec, "; "))
	}
	if len(e.Container) > 0 {
		parts = append(parts, "container KRM functions, which run images named by the repository (with docker, given the host environment variables they name): "+strings.Join(e.Container, "; "))
	}
	return fmt.Sprintf("kustomize build %s: the kustomization runs %s", e.Path, strings.Join(parts, "; and "))
}

// ErrLegacyPlugin is returned, wrapped, when a kustomization names a
// kustomize plugin that is not a KRM function (an exec or Go plugin that
// kustomize would look up in its plugin home): render never runs those.
var ErrLegacyPlugin = errors.New("the kustomization names a kustomize plugin that is not a KRM function (an exec or Go plugin of the kustomize plugin home), which render does not run; configure it as a KRM function with the config.kubernetes.io/function annotation")

// ErrHelm is returned when a kustomization inflates Helm charts
// (helmCharts): that runs a helm binary and fetches charts, which render
// never does.
var ErrHelm = errors.New("the kustomization inflates Helm charts (helmCharts), which render does not do (it would run a helm binary); commit the output of helm template to the repository instead")

// kustomize runs krusty over dir. A first pass enables alpha plugins but not
// exec, which makes kustomize skip exec functions without running them, and
// rewrites container function configs as it reads them so that it skips
// those too; it records every file it reads. If those files declare exec
// or container functions, they must be allowed, and a second pass runs
// them.
func kustomize(root, dir, path string, opts Options) ([]*unstructured.Unstructured, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	rec := &recordingFS{FileSystem: filesys.MakeFsOnDisk(), read: map[string][]byte{}}
	out, err := build(&noContainersFS{FileSystem: rec}, dir, false, opts)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", path, err)
	}
	var foreign, containers []string
	own := false
	for _, f := range rec.files() {
		rel, _ := filepath.Rel(realRoot, f)
		if err := checkInside(realRoot, f, rel); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", path, err)
		}
		data := rec.read[f]
		if data == nil { // opened, not read, by the build
			if data, err = os.ReadFile(f); err != nil {
				continue
			}
		}
		for _, fn := range findExecFunctions(data, rel) {
			switch {
			case fn.container():
				containers = append(containers, fn.String())
			case opts.Self != "" && fn.own(opts.OwnFunctions) != "":
				own = true
			default:
				foreign = append(foreign, fn.String())
			}
		}
	}
	if !own && len(foreign) == 0 && len(containers) == 0 {
		return toObjects(out)
	}
	refused := &UntrustedFunctionsError{Path: path}
	if !opts.EnableExec {
		refused.Exec = foreign
	}
	if !opts.EnableContainerFunctions {
		refused.Container = containers
	}
	if len(refused.Exec)+len(refused.Container) > 0 {
		return nil, refused
	}
	var fSys filesys.FileSystem = filesys.MakeFsOnDisk()
	if own {
		fSys = &ownFunctionsFS{FileSystem: fSys, names: opts.OwnFunctions, self: opts.Self, args: opts.FunctionArgs}
	}
	out, err = build(fSys, dir, true, opts)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", path, err)
	}
	return toObjects(out)
}

// noContainersFS turns container function configs into ones the first
// pass skips, as the build reads them.
type noContainersFS struct{ filesys.FileSystem }

func (n *noContainersFS) ReadFile(path string) ([]byte, error) {
	data, err := n.FileSystem.ReadFile(path)
	if err != nil {
		return data, err
	}
	out, _ := disableContainers(data)
	return out, nil
}

// noPluginHome is what kustomize is told its plugin home is: a path that
// exists (so kustomize looks no further) and holds nothing (every plugin
// below it fails to load), so that no exec or Go plugin installed in the
// user's plugin home runs on a repository's say. kustomize reads its
// plugin home from $KUSTOMIZE_PLUGIN_HOME through the disk, never through
// the file system a build is given, so the process environment is the only
// place to say it; every build sets it again, to the same value, in case
// something changed it.
var noPluginHome = os.DevNull

// ownFunctionsFS points our own functions at Options.Self as files are read.
type ownFunctionsFS struct {
	filesys.FileSystem
	names map[string]bool
	self  string
	args  func(string) []string
}

func (o *ownFunctionsFS) ReadFile(path string) ([]byte, error) {
	data, err := o.FileSystem.ReadFile(path)
	if err != nil {
		return data, err
	}
	out, _ := rewriteOwn(data, o.names, o.self, o.args)
	return out, nil
}

// boundedFS refuses a file larger than MaxFileSize as the build reads it
// (a resource, a patch, a generator's file), as a plain directory's files
// are refused: kustomize reads whole files into memory.
// kustomize takes an unreadable kustomization for a missing one and goes
// on to say none was found, so the first refusal is kept: the build
// reports it whatever kustomize made of it.
type boundedFS struct {
	filesys.FileSystem
	dir     string
	refused error
}

func (b *boundedFS) ReadFile(path string) ([]byte, error) {
	if f, err := b.FileSystem.Open(path); err == nil {
		info, err := f.Stat()
		f.Close()
		if err == nil && info.Size() > MaxFileSize {
			name := path
			if rel, err := filepath.Rel(b.dir, path); err == nil && !strings.HasPrefix(rel, "..") {
				name = rel
			}
			err := fmt.Errorf("%s: file is larger than %d MiB; split it", name, MaxFileSize>>20)
			if b.refused == nil {
				b.refused = err
			}
			return nil, err
		}
	}
	return b.FileSystem.ReadFile(path)
}

func build(fSys filesys.FileSystem, dir string, exec bool, opts Options) ([]map[string]any, error) {
	bounded := &boundedFS{FileSystem: fSys, dir: dir}
	fSys = bounded
	var overrides *overridesFS
	if opts.Kustomize != nil {
		overrides = &overridesFS{FileSystem: fSys, dirs: []string{dir}, k: opts.Kustomize}
		if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
			overrides.dirs = append(overrides.dirs, real)
		}
		fSys = overrides
	}
	fSys = &generateNameFS{&decryptingFS{FileSystem: fSys, opts: opts}}
	ko := krusty.MakeDefaultOptions()
	// As `kustomize build` does: the kustomization's sortOptions, else the
	// legacy kind order. The output is then byte for byte kustomize's.
	ko.Reorder = krusty.ReorderOptionUnspecified
	pc := types.EnabledPluginConfig(types.BploUseStaticallyLinked)
	pc.FnpLoadingOptions.EnableExec = exec
	// helmCharts would run a helm binary from PATH; kustomize build runs
	// it only with --enable-helm, and render never does.
	pc.HelmConfig = types.HelmConfig{}
	ko.PluginConfig = pc
	if err := os.Setenv(konfig.KustomizePluginHomeEnv, noPluginHome); err != nil {
		return nil, err
	}
	m, err := krusty.MakeKustomizer(ko).Run(fSys, dir)
	if bounded.refused != nil {
		return nil, bounded.refused
	}
	if overrides != nil && overrides.err != nil {
		return nil, overrides.err
	}
	if overrides != nil && err == nil && !overrides.applied {
		// Never silently built without them.
		return nil, fmt.Errorf("spec.source.kustomize: the kustomization of %s was not read where expected, so the overrides could not be applied", dir)
	}
	if err != nil {
		if strings.Contains(err.Error(), noPluginHome+string(filepath.Separator)) {
			return nil, fmt.Errorf("%w: %v", ErrLegacyPlugin, err)
		}
		if strings.Contains(err.Error(), "must specify --enable-helm") {
			return nil, ErrHelm
		}
		return nil, err
	}
	var out []map[string]any
	for _, r := range m.Resources() {
		if r.Field(sops.MetadataKey) != nil && opts.Keys != nil && opts.Keys.Len() > 0 {
			opts.warn(fmt.Sprintf("%s is still SOPS-encrypted after the build (it was not read from a file of the repository); it stays encrypted", r.CurId()))
		}
		obj, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		out = append(out, obj)
	}
	if err := restoreGenerateNames(out); err != nil {
		return nil, err
	}
	return out, nil
}

// toObjects wraps kustomize's maps as objects, with whole numbers as int64
// (kyaml gives Go ints), as the JSON decoder and the API server have them:
// unstructured's DeepCopy and comparisons with live objects need that.
func toObjects(maps []map[string]any) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(maps))
	for _, m := range maps {
		out = append(out, &unstructured.Unstructured{Object: int64s(m).(map[string]any)})
	}
	return out, nil
}

func int64s(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = int64s(e)
		}
	case []any:
		for i, e := range t {
			t[i] = int64s(e)
		}
	case int:
		return int64(t)
	case int32:
		return int64(t)
	case uint64:
		return int64(t)
	case float32:
		return float64(t)
	}
	return v
}

// recordingFS notes every file the build reads, with its content (nil for
// files only opened), so they need not be read again.
type recordingFS struct {
	filesys.FileSystem
	read map[string][]byte
}

func (r *recordingFS) ReadFile(path string) ([]byte, error) {
	data, err := r.FileSystem.ReadFile(path)
	if abs, aerr := filepath.Abs(path); aerr == nil && err == nil {
		r.read[abs] = data
	}
	return data, err
}

func (r *recordingFS) Open(path string) (filesys.File, error) {
	if abs, err := filepath.Abs(path); err == nil {
		if _, seen := r.read[abs]; !seen {
			r.read[abs] = nil
		}
	}
	return r.FileSystem.Open(path)
}

func (r *recordingFS) files() []string {
	out := make([]string, 0, len(r.read))
	for f := range r.read {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}
