package tools

import (
	"os"
	"path/filepath"
	"testing"
)

func writeModule(t *testing.T, gosum string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":              "module example/tools\n",
		"go.sum":              gosum,
		"kwok-stages/main.go": "package main\n",
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

func TestKeyFollowsPins(t *testing.T) {
	a, err := Key(writeModule(t, "example.com/a v1.0.0 h1:x\n"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Key(writeModule(t, "example.com/a v1.0.0 h1:x\n"))
	b, _ := Key(writeModule(t, "example.com/a v1.0.1 h1:y\n"))
	if a != again {
		t.Errorf("same pins gave keys %s and %s", a, again)
	}
	if a == b {
		t.Errorf("different go.sum gave the same key %s", a)
	}
	if len(a) != 16 {
		t.Errorf("key %q is not 16 hex digits", a)
	}
}

func TestLocateUsesCacheAndMarker(t *testing.T) {
	t.Setenv(EnvDir, "")
	mod := writeModule(t, "")
	cache := t.TempDir()
	dir, ready, err := Locate(Options{ModuleDir: mod, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := Key(mod)
	if dir != filepath.Join(cache, key) || ready {
		t.Fatalf("Locate = %s, %v; want %s, false", dir, ready, filepath.Join(cache, key))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ready, _ := Locate(Options{ModuleDir: mod, CacheDir: cache}); ready {
		t.Errorf("a directory without %s counts as complete", completeMarker)
	}
	if err := os.WriteFile(filepath.Join(dir, completeMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ready, _ := Locate(Options{ModuleDir: mod, CacheDir: cache}); !ready {
		t.Errorf("a directory with %s is not complete", completeMarker)
	}
}
