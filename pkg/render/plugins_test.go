package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const containerFn = `apiVersion: example.com/v1
kind: Labeler
metadata:
  name: labeler
  annotations:
    config.kubernetes.io/function: |
      container:
        image: example.com/labeler:v1
        envs: [AWS_SECRET_ACCESS_KEY]
`

// fakeDocker puts a docker on PATH that records that it ran and fails,
// as docker does on a machine without a docker engine.
func fakeDocker(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	marker := filepath.Join(t.TempDir(), "docker-ran")
	script := "#!/bin/sh\necho \"$@\" > " + marker + "\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return marker
}

// A container function runs only when allowed; without it the render
// fails naming it, before anything ran (not even in the first pass).
func TestContainerFunctionsNeedTheirOwnOptIn(t *testing.T) {
	marker := fakeDocker(t)
	root := writeTree(t, map[string]string{
		"app/kustomization.yaml":    "resources: [cm.yaml]\ntransformers: [fn.yaml]\n",
		"app/cm.yaml":               cm("a"),
		"app/fn.yaml":               containerFn,
		"inline/kustomization.yaml": "resources: [cm.yaml]\ntransformers:\n- |\n" + indent(containerFn, "  ") + "- fn.yaml\n",
		"inline/cm.yaml":            cm("b"),
		"inline/fn.yaml":            "apiVersion: example.com/v1\nkind: Stamp\nmetadata:\n  name: stamp\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./fn.sh\n",
		"inline/fn.sh":              "#!/bin/sh\ncat\n",
	})

	for _, opts := range []Options{{}, {EnableExec: true}} {
		_, err := Render(root, "app", opts)
		var refused *UntrustedFunctionsError
		if !errors.As(err, &refused) || len(refused.Exec) != 0 || !strings.Contains(err.Error(),
			"kustomize build app: the kustomization runs container KRM functions, which run images named by the repository (with docker, given the host environment variables they name): Labeler/labeler in app/fn.yaml (image example.com/labeler:v1, given the host environment variables AWS_SECRET_ACCESS_KEY)") {
			t.Errorf("Render(app, %+v): got %v", opts, err)
		}
	}
	// Both kinds at once are named together, each on its own.
	_, err := Render(root, "inline", Options{})
	var refused *UntrustedFunctionsError
	if !errors.As(err, &refused) || len(refused.Exec) != 1 || len(refused.Container) != 1 ||
		!strings.Contains(refused.Container[0], "Labeler/labeler in inline/kustomization.yaml") {
		t.Errorf("Render(inline): got %#v", err)
	}
	if _, err := Render(root, "inline", Options{EnableContainerFunctions: true}); !errors.As(err, &refused) || len(refused.Exec) != 1 || len(refused.Container) != 0 {
		t.Errorf("Render(inline) with containers only: got %v", err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("docker ran without EnableContainerFunctions")
	}

	// Allowed, kustomize runs it: docker is called with the image.
	_, err = Render(root, "app", Options{EnableContainerFunctions: true})
	if err == nil || !strings.Contains(err.Error(), "couldn't execute function") {
		t.Errorf("Render(app) with EnableContainerFunctions: got %v, want kustomize's error from running docker", err)
	}
	if b, err := os.ReadFile(marker); err != nil || !strings.Contains(string(b), "example.com/labeler:v1") {
		t.Errorf("docker was not run with the image: %q, %v", b, err)
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// An exec plugin installed in the kustomize plugin home never runs on a
// repository's say, and neither does a helm binary on PATH.
func TestNoLegacyPluginsOrHelm(t *testing.T) {
	home := t.TempDir()
	t.Setenv("KUSTOMIZE_PLUGIN_HOME", home)
	marker := filepath.Join(t.TempDir(), "plugin-ran")
	plugin := filepath.Join(home, "example.com", "v1", "marker", "Marker")
	if err := os.MkdirAll(filepath.Dir(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\ntouch "+marker+"\ncat\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"helm", "helmV3"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	root := writeTree(t, map[string]string{
		"legacy/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [marker.yaml]\n",
		"legacy/cm.yaml":            cm("a"),
		"legacy/marker.yaml":        "apiVersion: example.com/v1\nkind: Marker\nmetadata: {name: m}\n",
		"helm/kustomization.yaml":   "helmCharts:\n- name: web\n  repo: https://charts.example\n  version: 1.0.0\n",
	})
	for _, opts := range []Options{{}, {EnableExec: true, EnableContainerFunctions: true}} {
		if _, err := Render(root, "legacy", opts); !errors.Is(err, ErrLegacyPlugin) {
			t.Errorf("Render(legacy, %+v): got %v, want ErrLegacyPlugin", opts, err)
		}
		if _, err := Render(root, "helm", opts); !errors.Is(err, ErrHelm) {
			t.Errorf("Render(helm, %+v) succeeded", opts)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a plugin of the plugin home or helm ran")
	}
}
