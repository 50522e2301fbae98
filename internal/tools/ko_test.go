package tools

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeKoModule writes a module whose one tool is a package named ko (so the
// build needs no module proxy) that prints greeting.
func writeKoModule(t *testing.T, greeting string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":     "module example.com/kotool\n\ngo 1.26\n\ntool example.com/kotool/ko\n",
		"go.sum":     "",
		"ko/main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(" + `"` + greeting + `"` + ") }\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestKoKeyFollowsPins(t *testing.T) {
	a, err := KoKey(writeKoModule(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := KoKey(writeKoModule(t, "a"))
	mod := writeKoModule(t, "a")
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), []byte("example.com/x v1.0.0 h1:x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := KoKey(mod)
	if a != again {
		t.Errorf("same pins gave keys %s and %s", a, again)
	}
	if a == b {
		t.Errorf("different go.sum gave the same key %s", a)
	}
	if len(a) != 16 {
		t.Errorf("key %q is not 16 hex digits", a)
	}
	if _, err := KoKey(t.TempDir()); err == nil {
		t.Error("a folder without go.mod has a key")
	}
}

// EnsureKo builds the module's tool into <cache>/ko/<key>/ko once, then
// reuses it; the hack/tools key plays no part.
func TestEnsureKoBuildsOnceIntoItsOwnKey(t *testing.T) {
	t.Setenv(EnvDir, "")
	mod := writeKoModule(t, "built")
	opts := Options{ModuleDir: writeModule(t, ""), KoModuleDir: mod, CacheDir: t.TempDir(), Log: io.Discard}
	ko, err := EnsureKo(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := KoKey(mod)
	if want := filepath.Join(opts.CacheDir, "ko", key, Ko); ko != want {
		t.Fatalf("EnsureKo = %s, want %s", ko, want)
	}
	out, err := exec.Command(ko).Output()
	if err != nil || strings.TrimSpace(string(out)) != "built" {
		t.Fatalf("built ko printed %q, %v; want \"built\"", out, err)
	}
	// A second call must not build: make the module unbuildable, keep its pins.
	if err := os.WriteFile(filepath.Join(mod, "ko", "main.go"), []byte("package main\n\nsyntax error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := EnsureKo(context.Background(), opts)
	if err != nil || again != ko {
		t.Errorf("second EnsureKo = %s, %v; want the cached %s", again, err, ko)
	}
	// Another hack/tools module (another key there) changes nothing for ko.
	opts.ModuleDir = writeModule(t, "example.com/a v1.0.0 h1:x\n")
	if other, err := EnsureKo(context.Background(), opts); err != nil || other != ko {
		t.Errorf("EnsureKo with other hack/tools pins = %s, %v; want %s", other, err, ko)
	}
}

func TestEnsureKoFailsWithoutBuild(t *testing.T) {
	t.Setenv(EnvDir, "")
	mod := writeKoModule(t, "x")
	if err := os.WriteFile(filepath.Join(mod, "ko", "main.go"), []byte("package main\n\nsyntax error\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{ModuleDir: writeModule(t, ""), KoModuleDir: mod, CacheDir: t.TempDir(), Log: io.Discard}
	if ko, err := EnsureKo(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "build ko") {
		t.Fatalf("EnsureKo of a broken module = %s, %v; want a build error", ko, err)
	}
	entries, _ := os.ReadDir(filepath.Join(opts.CacheDir, "ko"))
	for _, e := range entries {
		if e.Name() != ".lock" {
			t.Errorf("a failed build left %s in the cache", e.Name())
		}
	}
}

func TestEnsureKoPrefersToolsDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Ko), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, dir)
	ko, err := EnsureKo(context.Background(), Options{ModuleDir: "/nonexistent", KoModuleDir: "/nonexistent"})
	if err != nil || ko != filepath.Join(dir, Ko) {
		t.Errorf("EnsureKo = %s, %v; want %s from %s", ko, err, filepath.Join(dir, Ko), EnvDir)
	}
}
