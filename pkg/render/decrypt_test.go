package render

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cr3t
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  k: v
`

func encryptedFixture(t *testing.T) (string, *sops.Keys, string) {
	t.Helper()
	key, recipient, err := sops.GenerateIdentity("test")
	if err != nil {
		t.Fatal(err)
	}
	keys := &sops.Keys{}
	if err := keys.Add("test", key); err != nil {
		t.Fatal(err)
	}
	enc, err := sops.Encrypt("db.enc.yaml", []byte(plainSecret), sops.YAML, sops.EncryptOptions{Recipients: []string{recipient}, Rules: sops.Rules{EncryptedRegex: "^(data|stringData)$"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(enc), keys, recipient
}

// Encrypted files decrypt in plain directories and in kustomizations (as
// kustomize reads them, so namespace and namePrefix apply to plaintext).
func TestRenderDecrypts(t *testing.T) {
	enc, keys, recipient := encryptedFixture(t)
	root := writeTree(t, map[string]string{
		"plain/db.enc.yaml":       enc,
		"kust/db.enc.yaml":        enc,
		"kust/kustomization.yaml": "namespace: prod\nnamePrefix: prod-\nresources: [db.enc.yaml]\n",
	})
	want := base64.StdEncoding.EncodeToString([]byte("s3cr3t"))
	for path, name := range map[string]string{"plain": "db", "kust": "prod-db"} {
		objs, err := Render(root, path, Options{Keys: keys})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(objs) != 2 {
			t.Fatalf("%s: %d objects", path, len(objs))
		}
		var secret map[string]any
		for _, o := range objs {
			if o.GetKind() == "Secret" {
				secret = o.Object
				if o.GetName() != name {
					t.Errorf("%s: Secret name %q, want %q", path, o.GetName(), name)
				}
			}
		}
		data, _ := secret["data"].(map[string]any)
		if data["password"] != want || secret["stringData"] != nil || secret["sops"] != nil {
			t.Errorf("%s: decrypted Secret %v", path, secret)
		}
	}

	// Without a key: left encrypted, reported, warned about once per file.
	var reported []string
	var warnings []string
	_, err := Render(root, "kust", Options{
		OnEncrypted: func(file string, r []string) { reported = append(reported, file+" "+strings.Join(r, ",")) },
		Warn:        func(m string) { warnings = append(warnings, m) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reported) != 1 || reported[0] != "kust/db.enc.yaml "+recipient || len(warnings) != 1 {
		t.Fatalf("reported %v, warnings %v", reported, warnings)
	}

	// A file with encrypted values that is not a readable sops file is an
	// error, not plain data.
	broken := strings.Replace(enc, "sops:", "sops:\n    lastmodified: 1\n    lastmodified: 2\n", 1)
	root3 := writeTree(t, map[string]string{"plain/db.enc.yaml": broken})
	if _, err := Render(root3, "plain", Options{Keys: keys}); err == nil || !strings.Contains(err.Error(), "holds SOPS-encrypted values but cannot be read") {
		t.Fatalf("unreadable encrypted file: %v", err)
	}

	// A changed value is an error, naming the file.
	tampered := strings.Replace(enc, "name: db", "name: other", 1)
	root2 := writeTree(t, map[string]string{"kust/db.enc.yaml": tampered, "kust/kustomization.yaml": "resources: [db.enc.yaml]\n"})
	if _, err := Render(root2, "kust", Options{Keys: keys}); err == nil || !strings.Contains(err.Error(), "db.enc.yaml: MAC mismatch") {
		t.Fatalf("tampered file: %v", err)
	}
}
