package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChecksums(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.tar.gz")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	// sha256("abc"), as sha256sum prints it.
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; sum != want {
		t.Fatalf("FileSHA256 = %s, want %s", sum, want)
	}
	list := FormatChecksums([]Artifact{
		{Name: "kubectl-gitops_v1.0.0_windows_amd64.zip", SHA256: strings.Repeat("b", 64)},
		{Name: "kubectl-gitops_v1.0.0_darwin_arm64.tar.gz", SHA256: sum},
	})
	want := sum + "  kubectl-gitops_v1.0.0_darwin_arm64.tar.gz\n" +
		strings.Repeat("b", 64) + "  kubectl-gitops_v1.0.0_windows_amd64.zip\n"
	if diff := cmp.Diff(want, string(list)); diff != "" {
		t.Errorf("checksums.txt (-want +got):\n%s", diff)
	}
	parsed, err := ParseChecksums(strings.NewReader(string(list)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{
		"kubectl-gitops_v1.0.0_darwin_arm64.tar.gz": sum,
		"kubectl-gitops_v1.0.0_windows_amd64.zip":   strings.Repeat("b", 64),
	}, parsed); diff != "" {
		t.Errorf("ParseChecksums (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		strings.ToUpper(sum) + "  a.tar.gz\n",
		sum + " a.tar.gz\n",
		sum + "  dir/a.tar.gz\n",
		"abc  a.tar.gz\n",
	} {
		if _, err := ParseChecksums(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), `want "<lowercase sha256>  <file name>"`) {
			t.Errorf("ParseChecksums(%q) error %v, want a line error", bad, err)
		}
	}
}
