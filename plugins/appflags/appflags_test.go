package appflags

import (
	"os"
	"path/filepath"
	"testing"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func TestAppName(t *testing.T) {
	for path, want := range map[string]string{
		"apps/order-service/overlays/production": "order-service-production",
		"apps/web":                               "web",
		"clusters/prod/apps/Billing_API":         "prod-billing-api",
		".":                                      "config",
		"":                                       "config",
		"overlays/":                              "config",
	} {
		if got := AppName(path, "https://git.example/team/config.git"); got != want {
			t.Errorf("AppName(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestIgnoreDifferences(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "app.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  ignoreDifferences:\n  - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("- {kind: Deployment, jsonPointer: [/spec/replicas]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Options before Validate (as sync's Complete does) still gets the rules.
	f := Flags{InventoryNamespace: "gitops", IgnoreDifferences: good}
	var o gsync.Options
	f.Options(&o)
	if err := f.Validate(false); err != nil {
		t.Fatal(err)
	}
	if len(o.IgnoreDifferences) != 1 || o.IgnoreDifferences[0].Kind != "Deployment" {
		t.Errorf("rules %+v, want the Application's one", o.IgnoreDifferences)
	}

	f = Flags{InventoryNamespace: "gitops", IgnoreDifferences: bad}
	want := "--ignore-differences: " + bad + `: ignoreDifferences[0]: unknown key "jsonPointer"; did you mean jsonPointers?`
	if err := f.Validate(false); err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}
