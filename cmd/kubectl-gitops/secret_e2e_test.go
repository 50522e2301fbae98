package main_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

const (
	sopsPassword = "s0ps-plaintext-battery-staple"
	sopsAPIKey   = "env-plaintext-tr0ub4dor"
)

var plainDBSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: ` + sopsPassword + `
`

const decryptTransformer = `apiVersion: fn.kubectl-gitops.dev/v1alpha1
kind: Decrypt
metadata:
  name: decrypt
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: kubectl-gitops
        args: [fn, decrypt]
`

const decryptGenerator = decryptTransformer + `secrets:
- name: app-env
  envs: [app.enc.env]
`

// secretKeys isolates the test from the machine's keys and makes a key
// file; it returns the file and its recipient.
func secretKeys(t *testing.T) (string, string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	stdout, stderr, code := gitops(t, "secret", "keygen", "-o", keyFile)
	if code != 0 {
		t.Fatalf("keygen: %s", stderr)
	}
	return keyFile, strings.TrimSpace(stdout)
}

// encryptFile writes plain to dir/name and encrypts it in place.
func encryptFile(t *testing.T, dir, name, plain, recipient string, extra ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"secret", "encrypt", "-i", "--age-recipient", recipient}, extra...)
	if _, stderr, code := gitops(t, append(args, p)...); code != 0 {
		t.Fatalf("encrypt %s: %s", name, stderr)
	}
	data, _ := os.ReadFile(p)
	if strings.Contains(string(data), sopsPassword) || strings.Contains(string(data), sopsAPIKey) {
		t.Fatalf("%s holds plaintext after encryption", name)
	}
	return string(data)
}

// assertNoPlaintext fails when any printed text holds a secret, plain or
// base64-encoded.
func assertNoPlaintext(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range []string{sopsPassword, sopsAPIKey} {
		for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s))} {
			for _, text := range texts {
				if strings.Contains(text, form) {
					t.Errorf("%s printed a secret (%q):\n%s", what, form, text)
				}
			}
		}
	}
}

// kustomizeBuild runs kustomize build with exec functions; its output is
// swept for secrets.
func kustomizeBuild(t *testing.T, dir string, env ...string) (string, error) {
	t.Helper()
	out, err := runKustomizeBuild(t, dir, env...)
	captureOutput(t, "output of `kustomize build "+filepath.Base(dir)+"`", out)
	return out, err
}

// kustomizeBuildDecrypting is kustomizeBuild for a build whose output holds
// decrypted Secrets on purpose; why says so.
func kustomizeBuildDecrypting(t *testing.T, why, dir string, env ...string) (string, error) {
	t.Helper()
	out, err := runKustomizeBuild(t, dir, env...)
	allowOutput(t, "output of `kustomize build "+filepath.Base(dir)+"`", out, why)
	return out, err
}

func runKustomizeBuild(t *testing.T, dir string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	cmd.Env = append(os.Environ(), append([]string{"PATH=" + plugin}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The decrypt function inside the real kustomize, as a generator (as
// KSOPS is used): an encrypted Secret manifest and a Secret built from an
// encrypted env file. kustomize's own transformers then apply to the
// plaintext.
func TestDecryptInKustomize(t *testing.T) {
	keyFile, recipient := secretKeys(t)
	dir := t.TempDir()
	encryptFile(t, dir, "db.enc.yaml", plainDBSecret, recipient)
	encryptFile(t, dir, "app.enc.env", "API_KEY="+sopsAPIKey+"\n", recipient)
	os.WriteFile(filepath.Join(dir, "decrypt.yaml"), []byte(decryptTransformer), 0o644)
	// behavior: merge adds the decrypted keys to a Secret the kustomization
	// generates itself.
	os.WriteFile(filepath.Join(dir, "generate.yaml"), []byte(decryptTransformer+"files: [db.enc.yaml]\nsecrets:\n- name: app-env\n  behavior: merge\n  envs: [app.enc.env]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("namePrefix: prod-\nsecretGenerator:\n- name: app-env\n  literals: [PLAIN=1]\ngenerators: [generate.yaml]\n"), 0o644)

	out, err := kustomizeBuildDecrypting(t, "the decrypt function's output is the decrypted Secret stream", dir, "SOPS_AGE_KEY_FILE="+keyFile)
	if err != nil {
		t.Fatalf("kustomize build: %v\n%s", err, out)
	}
	wantPassword := "password: " + base64.StdEncoding.EncodeToString([]byte(sopsPassword))
	wantAPIKey := "API_KEY: " + base64.StdEncoding.EncodeToString([]byte(sopsAPIKey))
	if !strings.Contains(out, wantPassword) || !strings.Contains(out, wantAPIKey) || strings.Contains(out, "sops:") || strings.Contains(out, "ENC[") {
		t.Fatalf("kustomize build output:\n%s", out)
	}
	if !strings.Contains(out, "name: prod-db\n") || !strings.Contains(out, "name: prod-app-env-") {
		t.Errorf("namePrefix or the content hash suffix (needs-hash) missing:\n%s", out)
	}
	if strings.Count(out, "kind: Secret") != 2 || !strings.Contains(out, "PLAIN: MQ==") {
		t.Errorf("behavior: merge did not merge into the kustomization's app-env:\n%s", out)
	}
	if strings.Contains(out, sopsPassword) || strings.Contains(out, sopsAPIKey) {
		t.Errorf("plaintext in the stream:\n%s", out)
	}

	// Without a key, the build fails naming the file's recipient.
	out, err = kustomizeBuild(t, dir)
	if err == nil || !strings.Contains(out, recipient) || !strings.Contains(out, "--age-key-file") {
		t.Fatalf("kustomize build without a key: %v\n%s", err, out)
	}
	assertNoPlaintext(t, "kustomize without a key", out)

	// As a transformer over an encrypted file listed in resources:,
	// kustomize reorders the fields before the function sees them; the MAC
	// check fails and the error says how to list the file instead.
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources: [db.enc.yaml]\ntransformers: [decrypt.yaml]\n"), 0o644)
	out, err = kustomizeBuild(t, dir, "SOPS_AGE_KEY_FILE="+keyFile)
	if err == nil || !strings.Contains(out, "MAC mismatch") || !strings.Contains(out, "files:") {
		t.Fatalf("kustomize build with the file in resources: %v\n%s", err, out)
	}
	assertNoPlaintext(t, "kustomize with a MAC error", out)
}

// render and sync decrypt: through the decrypt function, and after the
// build for an encrypted Secret listed as a plain resource. The live
// Secrets hold the plaintext; nothing printed does.
func TestSyncEncryptedSecrets(t *testing.T) {
	keyFile, recipient := secretKeys(t)
	work := t.TempDir()
	dbEnc := encryptFile(t, work, "db.enc.yaml", plainDBSecret, recipient)
	envEnc := encryptFile(t, work, "app.enc.env", "API_KEY="+sopsAPIKey+"\n", recipient)
	// Not only Secrets: a ConfigMap with an encrypted value.
	dsn := "postgres://app:" + sopsPassword + "@db:5432/app"
	dsnEnc := encryptFile(t, work, "dsn.enc.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dsn\ndata:\n  dsn: "+dsn+"\n", recipient, "--encrypted-regex", "^data$")
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("encrypted secrets", map[string]string{
		// namespace and namePrefix change the encrypted Secret: render and
		// sync decrypt files as kustomize reads them, before transformers.
		"app/kustomization.yaml": "namespace: " + ns + "\nnamePrefix: prod-\nresources: [db.enc.yaml, cm.yaml, dsn.enc.yaml]\ngenerators: [generate.yaml]\n",
		"app/db.enc.yaml":        dbEnc,
		"app/dsn.enc.yaml":       dsnEnc,
		"app/app.enc.env":        envEnc,
		"app/generate.yaml":      decryptGenerator,
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {color: blue}\n",
		// kustomize's own secretGenerator over an encrypted env file.
		"native/kustomization.yaml": "namespace: " + ns + "\nresources: [cm.yaml]\nsecretGenerator:\n- name: native-env\n  envs: [app.enc.env]\n",
		"native/app.enc.env":        envEnc,
		"native/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: native}\ndata: {color: green}\n",
	})

	// render: decrypted, masked, nothing printed in clear.
	stdout, stderr, code := gitops(t, "render", "--repo", r.Dir, "--path", "app", "--age-key-file", keyFile)
	if code != 0 || !strings.Contains(stdout, "name: prod-db") || strings.Contains(stdout, "ENC[") {
		t.Fatalf("render: %d\n%s\n%s", code, stdout, stderr)
	}
	assertNoPlaintext(t, "render", stdout, stderr)
	stdout, stderr, _ = gitops(t, "render", "--repo", r.Dir, "--path", "app", "--age-key-file", keyFile, "-o", "json")
	assertNoPlaintext(t, "render -o json", stdout, stderr)

	// sync without a key: refused before anything is written, naming the
	// Secret and its recipient.
	stdout, stderr, code = gitops(t, "sync", "sealed-"+ns, "--repo", r.Dir, "--path", "app")
	if code != 1 || !strings.Contains(stderr, recipient) {
		t.Fatalf("sync without a key: exit %d\n%s\n%s", code, stdout, stderr)
	}
	cs := kubernetes.NewForConfigOrDie(lc.Config)
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "prod-app", metav1.GetOptions{}); err == nil {
		t.Fatal("a sync that could not decrypt applied objects")
	}

	// Without a key, what secretGenerator made of the encrypted env file is
	// refused too, naming the file.
	stdout, stderr, code = gitops(t, "sync", "native-"+ns, "--repo", r.Dir, "--path", "native")
	if code != 1 || !strings.Contains(stderr, "native/app.enc.env (for "+recipient+")") || !strings.Contains(stderr, "nothing was applied") {
		t.Fatalf("sync of a secretGenerator over an encrypted file without a key: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "native", metav1.GetOptions{}); err == nil {
		t.Fatal("a sync with an undecrypted generator input applied objects")
	}
	stdout, stderr, code = gitops(t, "sync", "native-"+ns, "--repo", r.Dir, "--path", "native", "--age-key-file", keyFile)
	if code != 0 {
		t.Fatalf("sync of the secretGenerator with a key: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertNoPlaintext(t, "sync of the secretGenerator", stdout, stderr)
	natives, _ := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	generated := false
	for _, s := range natives.Items {
		if strings.HasPrefix(s.Name, "native-env-") && string(s.Data["API_KEY"]) == sopsAPIKey && len(s.Data) == 1 {
			generated = true
		}
	}
	if !generated {
		t.Fatalf("no native-env-<hash> Secret holding only the decrypted API key")
	}

	// The key from a Secret in the cluster.
	key, _ := os.ReadFile(keyFile)
	keyNS := testcluster.Namespace(t, lc)
	_, err := cs.CoreV1().Secrets(keyNS).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sops-age"}, Data: map[string][]byte{"keys.agekey": key},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = gitops(t, "sync", "sealed-"+ns, "--repo", r.Dir, "--path", "app", "--age-key-secret", keyNS+"/sops-age")
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertNoPlaintext(t, "sync", stdout, stderr)
	db, err := cs.CoreV1().Secrets(ns).Get(context.Background(), "prod-db", metav1.GetOptions{})
	if err != nil || string(db.Data["password"]) != sopsPassword {
		t.Fatalf("live Secret db: %v %q", err, db.Data["password"])
	}
	if cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "prod-dsn", metav1.GetOptions{}); err != nil || cm.Data["dsn"] != dsn {
		t.Fatalf("live ConfigMap dsn: %v", err)
	}
	list, _ := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	found := false
	for _, s := range list.Items {
		if strings.HasPrefix(s.Name, "prod-app-env-") && string(s.Data["API_KEY"]) == sopsAPIKey {
			found = true
		}
	}
	if !found {
		t.Fatalf("no generated app-env-<hash> Secret with the API key: %v", list.Items)
	}

	// A second sync, -o json: nothing to write, nothing printed in clear.
	stdout, stderr, code = gitops(t, "sync", "sealed-"+ns, "--repo", r.Dir, "--path", "app", "--age-key-file", keyFile, "-o", "json")
	if code != 0 || !strings.Contains(stdout, `"unchanged"`) {
		t.Fatalf("second sync: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertNoPlaintext(t, "sync -o json", stdout, stderr)
}

// A SIGTERM while the editor runs removes the plaintext temporary file and
// leaves the encrypted file as it was.
func TestSecretEditSignalRemovesPlaintext(t *testing.T) {
	keyFile, recipient := secretKeys(t)
	dir := t.TempDir()
	enc := encryptFile(t, dir, "s.enc.yaml", plainDBSecret, recipient)
	record := filepath.Join(dir, "record")
	editor := filepath.Join(dir, "editor.sh")
	// $EDITOR names a program (no spaces): kubectl's editor code runs it
	// directly, so its parent is kubectl-gitops.
	script := "#!/bin/sh\necho \"$1\" > " + record + "\nkill -TERM $PPID\nsleep 5\n"
	if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor)
	t.Setenv("KUBE_EDITOR", "")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	_, stderr, code := gitops(t, "secret", "edit", filepath.Join(dir, "s.enc.yaml"))
	if code != 130 || !strings.Contains(stderr, "edit discarded") {
		t.Fatalf("edit killed by SIGTERM: exit %d\n%s", code, stderr)
	}
	tmp, _ := os.ReadFile(record)
	if strings.TrimSpace(string(tmp)) == "" {
		t.Fatal("the editor did not run")
	}
	if _, err := os.Stat(strings.TrimSpace(string(tmp))); !os.IsNotExist(err) {
		t.Fatalf("the plaintext temporary file %s is still there", tmp)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "s.enc.yaml")); string(now) != enc {
		t.Fatal("the encrypted file changed")
	}
	assertNoPlaintext(t, "edit", stderr)
}

// Ctrl-C while the editor runs belongs to the editor: the edit goes on.
func TestSecretEditInterruptGoesToEditor(t *testing.T) {
	keyFile, recipient := secretKeys(t)
	dir := t.TempDir()
	encryptFile(t, dir, "s.enc.yaml", plainDBSecret, recipient)
	editor := filepath.Join(dir, "editor.sh")
	script := "#!/bin/sh\nkill -INT $PPID\nsleep 0.3\nsed -i 's/password: .*/password: changed-after-ctrl-c/' \"$1\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor)
	t.Setenv("KUBE_EDITOR", "")
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	_, stderr, code := gitops(t, "secret", "edit", filepath.Join(dir, "s.enc.yaml"))
	if code != 0 {
		t.Fatalf("edit with a Ctrl-C inside the editor: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := gitopsPrinting(t, "decrypt prints the edited plaintext; the test reads it back", "", nil, "secret", "decrypt", filepath.Join(dir, "s.enc.yaml"))
	if code != 0 || !strings.Contains(stdout, "password: changed-after-ctrl-c") {
		t.Fatalf("decrypt after the edit: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
