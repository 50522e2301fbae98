package interop_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// These tests run the real sops v3.13.2 from hack/tools.

type sopsEnv struct {
	bin, dir, keyFile, recipient string
	keys                         *sops.Keys
}

func newSopsEnv(t testing.TB) *sopsEnv {
	t.Helper()
	e := &sopsEnv{bin: filepath.Join(testcluster.ToolsDir(t), tools.Sops), dir: t.TempDir()}
	key, recipient, err := sops.GenerateIdentity("test")
	if err != nil {
		t.Fatal(err)
	}
	e.keyFile, e.recipient = filepath.Join(e.dir, "keys.txt"), recipient
	for _, line := range strings.Split(string(key), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			leaksweep.Secret(t, strings.TrimSpace(line))
		}
	}
	if err := os.WriteFile(e.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	e.keys = &sops.Keys{}
	if err := e.keys.AddFile(e.keyFile, true); err != nil {
		t.Fatal(err)
	}
	return e
}

// sops runs sops in the env's directory with its key and returns stdout.
func (e *sopsEnv) sops(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+e.keyFile, "XDG_CONFIG_HOME="+e.dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	name := "sops " + strings.Join(args, " ")
	// The real sops's stdout is a decryption, or an encryption that leaves
	// values plain as its rules say: the comparison's input, not our output.
	leaksweep.Allow(t, "stdout of `"+name+"`", string(out), "the real sops's output, compared with ours")
	leaksweep.Capture(t, "stderr of `"+name+"`", stderr.String())
	if err != nil {
		t.Fatalf("sops %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func (e *sopsEnv) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const interopYAML = `# a Secret with comments
apiVersion: v1
kind: Secret
metadata:
  name: app # the app's secret
  labels:
    team: payments
type: Opaque
stringData:
  # the database password
  password: s3cr3t-p4ss
  empty: ""
data:
  token: dG9rZW4tZGF0YS12YWx1ZQ==
config:
  replicas: 3
  ratio: 0.25
  big: 1e+21
  enabled: true
  disabled: false
  nothing: null
  ports:
  - 80
  - name: https
    port: 443
  nested:
    deeper:
      key: value
`

const interopMultiDoc = interopYAML + `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: second
data:
  plain: text
`

const interopJSON = `{
  "apiVersion": "v1",
  "kind": "Secret",
  "metadata": {"name": "app", "labels": {"team": "payments"}},
  "stringData": {"password": "s3cr3t-p4ss", "html": "<b>&</b>"},
  "config": {"replicas": 3, "ratio": 0.25, "large": 12345678901234567890, "enabled": true, "nothing": null,
             "ports": [80, {"name": "https", "port": 443}], "nested": {"deeper": {"key": "value"}}}
}
`

const interopDotenv = "# database\nDB_PASSWORD=s3cr3t-p4ss\nMULTI=line1\\nline2\nEMPTY=\n"

type interopCase struct {
	name, file, input string
	format            sops.Format
	sopsArgs          []string
	rules             sops.Rules
}

var interopCases = []interopCase{
	{name: "yaml", file: "secret.yaml", input: interopYAML, format: sops.YAML},
	{name: "yaml-multidoc", file: "multi.yaml", input: interopMultiDoc, format: sops.YAML},
	{name: "yaml-encrypted-regex", file: "regex.yaml", input: interopYAML, format: sops.YAML, sopsArgs: []string{"--encrypted-regex", "^(data|stringData)$"}, rules: sops.Rules{EncryptedRegex: "^(data|stringData)$"}},
	{name: "yaml-unencrypted-regex", file: "unregex.yaml", input: interopYAML, format: sops.YAML, sopsArgs: []string{"--unencrypted-regex", "^(apiVersion|kind|metadata)$"}, rules: sops.Rules{UnencryptedRegex: "^(apiVersion|kind|metadata)$"}},
	{name: "yaml-encrypted-suffix", file: "suffix.yaml", input: strings.ReplaceAll(interopYAML, "password:", "password_secret:"), format: sops.YAML, sopsArgs: []string{"--encrypted-suffix", "_secret"}, rules: sops.Rules{EncryptedSuffix: "_secret"}},
	{name: "yaml-mac-only-encrypted", file: "maconly.yaml", input: interopYAML, format: sops.YAML, sopsArgs: []string{"--encrypted-regex", "^(data|stringData)$", "--mac-only-encrypted"}, rules: sops.Rules{EncryptedRegex: "^(data|stringData)$", MACOnlyEncrypted: true}},
	{name: "yaml-encrypted-comment-regex", file: "comments.yaml", input: "# sops:enc\npassword: hunter2-comment-regex\nuser: admin\n", format: sops.YAML, sopsArgs: []string{"--encrypted-comment-regex", "sops:enc"}, rules: sops.Rules{EncryptedCommentRegex: "sops:enc"}},
	{name: "yaml-unencrypted-comment-regex", file: "uncomments.yaml", input: "# sops:plain\npassword: hunter2-comment-regex\n# a comment\nuser: admin\n", format: sops.YAML, sopsArgs: []string{"--unencrypted-comment-regex", "sops:plain"}, rules: sops.Rules{UnencryptedCommentRegex: "sops:plain"}},
	{name: "json", file: "secret.json", input: interopJSON, format: sops.JSON},
	{name: "json-encrypted-regex", file: "regex.json", input: interopJSON, format: sops.JSON, sopsArgs: []string{"--encrypted-regex", "^(data|stringData)$"}, rules: sops.Rules{EncryptedRegex: "^(data|stringData)$"}},
	{name: "dotenv", file: "app.env", input: interopDotenv, format: sops.Dotenv},
	{name: "binary", file: "tls.key", input: "-----BEGIN KEY-----\n\x00\x01binary\xff\n", format: sops.Binary},
}

// TestSopsEncryptsWeDecrypt: files the real sops encrypts decrypt to
// exactly what `sops -d` prints.
func TestSopsEncryptsWeDecrypt(t *testing.T) {
	e := newSopsEnv(t)
	for _, tc := range interopCases {
		t.Run(tc.name, func(t *testing.T) {
			plain := e.write(t, tc.file, []byte(tc.input))
			args := append([]string{"-e", "--age", e.recipient, "--input-type", tc.format.String(), "--output-type", tc.format.String()}, tc.sopsArgs...)
			enc := e.sops(t, append(args, plain)...)
			encPath := e.write(t, "enc-"+tc.file, enc)
			want := e.sops(t, "-d", "--input-type", tc.format.String(), "--output-type", tc.format.String(), encPath)
			got, err := sops.Decrypt(tc.file, enc, tc.format, e.keys)
			if err != nil {
				t.Fatalf("Decrypt: %v\n%s", err, enc)
			}
			if !sameAsSops(t, got, want, tc.format) {
				t.Fatalf("decrypted output differs from sops -d\n--- sops -d\n%s\n--- ours\n%s", want, got)
			}
		})
	}
}

// TestWeEncryptSopsDecrypts: files we encrypt decrypt with `sops -d` to
// what we decrypt them to, and to the plaintext's values.
func TestWeEncryptSopsDecrypts(t *testing.T) {
	e := newSopsEnv(t)
	for _, tc := range interopCases {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := sops.Encrypt(tc.file, []byte(tc.input), tc.format, sops.EncryptOptions{Recipients: []string{e.recipient}, Rules: tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			if tc.format != sops.Binary && strings.Contains(string(enc), "s3cr3t-p4ss") {
				t.Fatalf("plaintext in the encrypted file:\n%s", enc)
			}
			encPath := e.write(t, "ours-"+tc.file, enc)
			fromSops := e.sops(t, "-d", "--input-type", tc.format.String(), "--output-type", tc.format.String(), encPath)
			ours, err := sops.Decrypt(tc.file, enc, tc.format, e.keys)
			if err != nil {
				t.Fatal(err)
			}
			if !sameAsSops(t, ours, fromSops, tc.format) {
				t.Fatalf("sops -d of our file differs from our decryption\n--- sops -d\n%s\n--- ours\n%s", fromSops, ours)
			}
			// The plaintext survives the round trip (as sops would
			// re-emit it).
			reference := e.sops(t, "-d", "--input-type", tc.format.String(), "--output-type", tc.format.String(), e.write(t, "sops-"+tc.file, e.sops(t, append([]string{"-e", "--age", e.recipient, "--input-type", tc.format.String(), "--output-type", tc.format.String()}, append(tc.sopsArgs, e.write(t, tc.file, []byte(tc.input)))...)...)))
			if !sameAsSops(t, ours, reference, tc.format) {
				t.Fatalf("round trip differs from sops' own\n--- sops\n%s\n--- ours\n%s", reference, ours)
			}
		})
	}
}

// TestEditedAndRotatedFilesDecryptWithSops: a file re-encrypted after a
// change, or rotated to a new data key and recipients, still decrypts
// with sops, and unchanged values keep their ciphertext on an edit.
func TestEditedAndRotatedFilesDecryptWithSops(t *testing.T) {
	e := newSopsEnv(t)
	plain := e.write(t, "secret.yaml", []byte(interopYAML))
	enc := e.sops(t, "-e", "--age", e.recipient, "--encrypted-regex", "^(data|stringData)$", plain)

	f, err := sops.Parse("secret.yaml", enc, sops.YAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Decrypt(e.keys); err != nil {
		t.Fatal(err)
	}
	setValue(t, f.Docs[0], []string{"stringData", "password"}, "n3w-p4ss")
	if err := f.Reencrypt(); err != nil {
		t.Fatal(err)
	}
	edited, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	tokenLine := func(b []byte) string {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "token:") {
				return l
			}
		}
		return ""
	}
	if tokenLine(edited) != tokenLine(enc) || tokenLine(enc) == "" {
		t.Errorf("an unchanged value was re-encrypted differently:\n%s\n%s", tokenLine(enc), tokenLine(edited))
	}
	out := e.sops(t, "-d", e.write(t, "edited.yaml", edited))
	if !strings.Contains(string(out), "password: n3w-p4ss") {
		t.Fatalf("sops -d of the edited file:\n%s", out)
	}

	_, second, _ := sops.GenerateIdentity("test")
	f2, _ := sops.Parse("edited.yaml", edited, sops.YAML)
	if err := f2.Decrypt(e.keys); err != nil {
		t.Fatal(err)
	}
	oldMAC := f2.Meta.MAC
	if err := f2.Rotate([]string{second}, nil); err != nil {
		t.Fatal(err)
	}
	rotated, _ := f2.Bytes()
	if got := f2.Meta.Recipients(); len(got) != 2 || got[1] != second {
		t.Fatalf("recipients after rotate: %v", got)
	}
	if f2.Meta.MAC == oldMAC {
		t.Fatal("rotate kept the MAC ciphertext; the data key did not change")
	}
	if out := e.sops(t, "-d", e.write(t, "rotated.yaml", rotated)); !strings.Contains(string(out), "password: n3w-p4ss") {
		t.Fatalf("sops -d of the rotated file:\n%s", out)
	}
	// Removing our own recipient leaves a file we can no longer open.
	f3, _ := sops.Parse("rotated.yaml", rotated, sops.YAML)
	if err := f3.Decrypt(e.keys); err != nil {
		t.Fatal(err)
	}
	if err := f3.Rotate(nil, []string{e.recipient}); err != nil {
		t.Fatal(err)
	}
	gone, _ := f3.Bytes()
	var nk *sops.NoKeyError
	if _, err := sops.Decrypt("gone.yaml", gone, sops.YAML, e.keys); !errors.As(err, &nk) {
		t.Fatalf("decrypt after removing our recipient: %v", err)
	}
}

// sameAsSops compares our output with sops', byte for byte, except that
// sops turns an inline comment it decrypts into a comment line above the
// key, where we keep it inline.
func sameAsSops(t *testing.T, ours, theirs []byte, format sops.Format) bool {
	t.Helper()
	if bytes.Equal(ours, theirs) {
		return true
	}
	f, err := sops.Parse("ours", ours, format)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range f.Docs {
		f.Docs[i] = headComments(d).(sops.Branch)
	}
	norm, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(norm, theirs)
}

// headComments clears the inline flag of every comment.
func headComments(v any) any {
	switch v := v.(type) {
	case sops.Branch:
		for i, it := range v {
			if c, ok := it.Key.(sops.Comment); ok {
				v[i].Key = sops.Comment{Value: c.Value}
			}
			v[i].Value = headComments(it.Value)
		}
	case []any:
		for i, e := range v {
			if c, ok := e.(sops.Comment); ok {
				v[i] = sops.Comment{Value: c.Value}
			} else {
				v[i] = headComments(e)
			}
		}
	}
	return v
}

func setValue(t *testing.T, b sops.Branch, path []string, v any) {
	t.Helper()
	for i, it := range b {
		if it.Key != path[0] {
			continue
		}
		if len(path) == 1 {
			b[i].Value = v
			return
		}
		setValue(t, it.Value.(sops.Branch), path[1:], v)
		return
	}
	t.Fatalf("no %v", path)
}

// A comment inside a list stays a comment through our encryption, and sops
// decrypts the file. (sops 3.13.2 itself turns such a comment into a list
// item when it encrypts, and then refuses its own file with a MAC
// mismatch; so this case is only tested in this direction.)
func TestListCommentsWeEncryptSopsDecrypts(t *testing.T) {
	e := newSopsEnv(t)
	in := "list:\n  # a list comment\n  - one\n  - 2\n"
	enc, err := sops.Encrypt("l.yaml", []byte(in), sops.YAML, sops.EncryptOptions{Recipients: []string{e.recipient}})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := sops.Decrypt("l.yaml", enc, sops.YAML, e.keys)
	if err != nil {
		t.Fatal(err)
	}
	fromSops := e.sops(t, "-d", e.write(t, "l.yaml", enc))
	want := "list:\n    # a list comment\n    - one\n    - 2\n"
	if string(ours) != want || string(fromSops) != want {
		t.Fatalf("ours:\n%s\nsops:\n%s", ours, fromSops)
	}
}
