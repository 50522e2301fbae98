package appflags

import (
	"os"
	"path/filepath"
	"testing"
)

// --local derives APP as sync derives it from --path: from the directory's
// path in its work tree; outside one, from the directory's name.
func TestLocalAppName(t *testing.T) {
	repo := t.TempDir()
	dir := filepath.Join(repo, "apps", "web", "overlays", "prod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := LocalAppName(dir); got == "web-prod" {
		t.Fatalf("LocalAppName outside a work tree = %q: it used a work tree that is not there", got)
	}
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := LocalAppName(dir); got != "web-prod" {
		t.Errorf("LocalAppName(%s) = %q, want web-prod", dir, got)
	}
	plain := filepath.Join(t.TempDir(), "Shop_Front")
	os.Mkdir(plain, 0o755)
	if got := LocalAppName(plain); got != "shop-front" {
		t.Errorf("LocalAppName(%s) = %q, want shop-front", plain, got)
	}
}
