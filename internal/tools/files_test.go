package tools

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeProxy writes a file:// module proxy holding module example.com/crds
// v1.0.0 with the given files, and returns its URL and the module's h1: sum
// (computed as the go command does: SHA-256 over "<sha256>  <name>\n" lines of
// the sorted zip entries).
func fakeProxy(t *testing.T, files map[string]string) (url, sum string) {
	t.Helper()
	const mod, version = "example.com/crds", "v1.0.0"
	dir := t.TempDir()
	at := filepath.Join(dir, filepath.FromSlash(mod), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	files["go.mod"] = "module " + mod + "\n"
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(at, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("list", version+"\n")
	write(version+".info", `{"Version":"`+version+`"}`)
	write(version+".mod", files["go.mod"])
	zf, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	var names []string
	for name := range files {
		names = append(names, mod+"@"+version+"/"+name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		body := files[strings.TrimPrefix(name, mod+"@"+version+"/")]
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%x  %s\n", sha256.Sum256([]byte(body)), name)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(dir), "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// isolateGo points the go command at proxy, with a module cache of its own.
func isolateGo(t *testing.T, proxy string) {
	t.Setenv(EnvDir, "")
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOFLAGS", "-modcacherw") // so that t.TempDir can remove it
}

func writeFilesList(t *testing.T, lines string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FilesList), []byte("# pins\n\n"+lines), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEnsureFileDownloadsPinnedFileOnce(t *testing.T) {
	const body = "kind: CustomResourceDefinition\n"
	proxy, sum := fakeProxy(t, map[string]string{"crds/widgets.yaml": body})
	isolateGo(t, proxy)
	opts := Options{
		ModuleDir: writeFilesList(t, "example.com/crds v1.0.0 "+sum+" crds/widgets.yaml\n"),
		CacheDir:  t.TempDir(),
	}
	got, err := EnsureFile(context.Background(), opts, "widgets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || string(b) != body {
		t.Fatalf("EnsureFile wrote %q (%v), want %q", b, err, body)
	}
	if rel, _ := filepath.Rel(opts.CacheDir, got); !strings.HasPrefix(rel, "files"+string(filepath.Separator)) {
		t.Errorf("EnsureFile = %s, want a path under %s/files", got, opts.CacheDir)
	}
	// Cached: a proxy that is gone no longer matters.
	t.Setenv("GOPROXY", "off")
	again, err := EnsureFile(context.Background(), opts, "widgets.yaml")
	if err != nil || again != got {
		t.Fatalf("second EnsureFile = %s, %v; want %s from the cache", again, err, got)
	}
}

func TestEnsureFileErrors(t *testing.T) {
	proxy, sum := fakeProxy(t, map[string]string{"crds/widgets.yaml": "x\n"})
	tests := []struct{ name, list, file, want string }{
		{"sum mismatch", "example.com/crds v1.0.0 h1:AAAA crds/widgets.yaml\n", "widgets.yaml", "has sum " + sum + ", but files.txt pins h1:AAAA"},
		{"not pinned", "example.com/crds v1.0.0 " + sum + " crds/widgets.yaml\n", "gadgets.yaml", "gadgets.yaml is not pinned in "},
		{"no such path", "example.com/crds v1.0.0 " + sum + " crds/gadgets.yaml\n", "gadgets.yaml", "has no file crds/gadgets.yaml"},
		{"malformed", "example.com/crds v1.0.0 crds/widgets.yaml\n", "widgets.yaml", `want "module version h1-sum path-in-module"`},
		{"no such version", "example.com/crds v9.9.9 " + sum + " crds/widgets.yaml\n", "widgets.yaml", "go mod download example.com/crds@v9.9.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateGo(t, proxy)
			_, err := EnsureFile(context.Background(), Options{ModuleDir: writeFilesList(t, tt.list), CacheDir: t.TempDir()}, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("EnsureFile error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEnsureFilePrefersToolsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "widgets.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, dir)
	got, err := EnsureFile(context.Background(), Options{ModuleDir: t.TempDir()}, "widgets.yaml")
	if err != nil || got != filepath.Join(dir, "widgets.yaml") {
		t.Fatalf("EnsureFile = %s, %v; want the copy in %s", got, err, EnvDir)
	}
}

// The repository's own pins parse, and every name a constant gives is pinned.
func TestRepositoryFilesListed(t *testing.T) {
	mod, err := findModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ServiceMonitorCRD} {
		if _, err := lookupFile(mod, name); err != nil {
			t.Error(err)
		}
	}
}
