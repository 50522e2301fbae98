package secret

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: s3cr3t-p4ss
  user: app
`

const plaintext = "s3cr3t-p4ss"

type result struct {
	stdout, stderr string
	code           int
}

// run runs `kubectl gitops secret ARGS` in process with env set; its
// stdout and stderr are swept for secrets when the test ends.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := execute(t, env, args...)
	sweepResult(t, args, r, "")
	return r
}

// runPrinting is run for a command that prints a secret to stdout on
// purpose (decrypt); why says so. Its stderr is still swept.
func runPrinting(t *testing.T, why string, env map[string]string, args ...string) result {
	t.Helper()
	r := execute(t, env, args...)
	sweepResult(t, args, r, why)
	return r
}

func execute(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err != nil {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: exitcode.Code(err)}
}

type fixture struct {
	dir, keyFile, recipient string
	env                     map[string]string
	sops                    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.keyFile = filepath.Join(f.dir, "keys", "main.txt")
	f.env = map[string]string{"SOPS_AGE_KEY_FILE": f.keyFile, "SOPS_AGE_KEY": "", "XDG_CONFIG_HOME": filepath.Join(f.dir, "xdg")}
	r := run(t, f.env, "keygen", "-o", f.keyFile)
	if r.code != 0 {
		t.Fatalf("keygen: %+v", r)
	}
	f.recipient = strings.TrimSpace(r.stdout)
	f.sops = filepath.Join(testcluster.ToolsDir(t), tools.Sops)
	return f
}

func (f *fixture) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sopsDecrypt runs the real `sops -d` with the fixture's key.
func (f *fixture) sopsDecrypt(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(f.sops, "-d", path)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+f.keyFile)
	out, err := cmd.CombinedOutput()
	// The real sops decrypting is how the tests check our encryption.
	allowOutput(t, "output of `sops -d "+filepath.Base(path)+"`", string(out), "sops -d prints the plaintext; the test reads it back")
	if err != nil {
		t.Fatalf("sops -d %s: %v\n%s", path, err, out)
	}
	return string(out)
}

func TestKeygen(t *testing.T) {
	f := newFixture(t)
	st, err := os.Stat(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	key, _ := os.ReadFile(f.keyFile)
	if !strings.HasPrefix(f.recipient, "age1") || !strings.Contains(string(key), "# public key: "+f.recipient) || !strings.Contains(string(key), "AGE-SECRET-KEY-1") {
		t.Fatalf("recipient %q, key file:\n%s", f.recipient, key)
	}
	if r := run(t, f.env, "keygen", "-o", f.keyFile); r.code != 1 || !strings.Contains(r.stderr, "never overwritten") {
		t.Errorf("second keygen to the same file: %+v", r)
	}
	repo := filepath.Join(f.dir, "repo")
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	inRepo := filepath.Join(repo, "keys.txt")
	if r := run(t, f.env, "keygen", "-o", inRepo); r.code != 1 || !strings.Contains(r.stderr, "inside the Git work tree") {
		t.Errorf("keygen into a work tree: %+v", r)
	}
	if _, err := os.Stat(inRepo); err == nil {
		t.Error("a key was written into the work tree")
	}
	if r := run(t, f.env, "keygen", "-o", inRepo, "--force"); r.code != 0 {
		t.Errorf("keygen --force: %+v", r)
	}
}

func TestEncryptDecryptWithSopsConfig(t *testing.T) {
	f := newFixture(t)
	f.write(t, ".sops.yaml", "creation_rules:\n- path_regex: prod/.*\\.yaml$\n  encrypted_regex: ^(data|stringData)$\n  age: >-\n    "+f.recipient+"\n- path_regex: .*\n  age: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n")
	plain := f.write(t, "prod/secret.yaml", plainSecret)
	r := run(t, f.env, "encrypt", "-i", plain)
	if r.code != 0 {
		t.Fatalf("encrypt: %+v", r)
	}
	enc, _ := os.ReadFile(plain)
	if strings.Contains(string(enc), plaintext) || !strings.Contains(string(enc), "name: db") || !strings.Contains(string(enc), "encrypted_regex: ^(data|stringData)$") {
		t.Fatalf("encrypted file:\n%s", enc)
	}
	if out := f.sopsDecrypt(t, plain); !strings.Contains(out, "password: "+plaintext) {
		t.Fatalf("sops -d:\n%s", out)
	}
	r = runPrinting(t, "decrypt prints the plaintext; the test reads it back", f.env, "decrypt", plain)
	if r.code != 0 || !strings.Contains(r.stdout, "password: "+plaintext) || strings.Contains(r.stderr, plaintext) {
		t.Fatalf("decrypt: %+v", r)
	}
	if r := run(t, f.env, "encrypt", plain); r.code != 1 || !strings.Contains(r.stderr, "already encrypted") {
		t.Errorf("encrypting twice: %+v", r)
	}
	// The fallback rule names a recipient that is not valid.
	other := f.write(t, "dev/secret.yaml", plainSecret)
	if r := run(t, f.env, "encrypt", other); r.code != 1 || !strings.Contains(r.stderr, "not a valid age recipient") {
		t.Errorf("invalid recipient in .sops.yaml: %+v", r)
	}
	// Flags win over the config; without a rule, data and stringData only.
	noRule := f.write(t, "elsewhere/s.yaml", plainSecret)
	r = run(t, f.env, "encrypt", "--config", "/dev/null", "--age-recipient", f.recipient, noRule)
	if r.code != 0 || !strings.Contains(r.stdout, "encrypted_regex: ^(data|stringData)$") {
		t.Errorf("encrypt with flags: %+v", r)
	}
	nothing := f.write(t, "elsewhere/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	if r := run(t, f.env, "encrypt", "--config", "/dev/null", "--age-recipient", f.recipient, nothing); r.code != 1 || !strings.Contains(r.stderr, "nothing would be encrypted") {
		t.Errorf("encrypt with nothing to encrypt: %+v", r)
	}
	if r := run(t, f.env, "encrypt", "--age-recipient", f.recipient, "--encrypted-regex", "(", noRule); r.code != 2 {
		t.Errorf("bad regex: %+v", r)
	}
}

func TestDecryptRefusesWrongKeyAndWorkTree(t *testing.T) {
	f := newFixture(t)
	plain := f.write(t, "s.yaml", plainSecret)
	r := run(t, f.env, "encrypt", "--age-recipient", f.recipient, "-i", plain)
	if r.code != 0 {
		t.Fatal(r)
	}
	otherKey := filepath.Join(f.dir, "other.txt")
	if r := run(t, f.env, "keygen", "-o", otherKey); r.code != 0 {
		t.Fatal(r)
	}
	env := map[string]string{"SOPS_AGE_KEY_FILE": otherKey, "SOPS_AGE_KEY": "", "XDG_CONFIG_HOME": filepath.Join(f.dir, "xdg")}
	r = run(t, env, "decrypt", plain)
	if r.code != 1 || !strings.Contains(r.stderr, f.recipient) || !strings.Contains(r.stderr, "--age-key-file") || strings.Contains(r.stdout+r.stderr, plaintext) {
		t.Fatalf("decrypt with the wrong key: %+v", r)
	}
	// --age-key-file adds the right key.
	if r := runPrinting(t, "decrypt with the right key prints the plaintext", env, "decrypt", "--age-key-file", f.keyFile, plain); r.code != 0 || !strings.Contains(r.stdout, plaintext) {
		t.Fatalf("decrypt --age-key-file: %+v", r)
	}

	// stdout redirected into a file inside a Git work tree is refused.
	repo := filepath.Join(f.dir, "repo")
	os.MkdirAll(filepath.Join(repo, ".git"), 0o755)
	outPath := filepath.Join(repo, "plain.yaml")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var errOut bytes.Buffer
	cmd := NewCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: &errOut})
	cmd.SetArgs([]string{"decrypt", plain})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	t.Setenv("SOPS_AGE_KEY_FILE", f.keyFile)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "inside the Git work tree") {
		t.Fatalf("decrypt into a work tree: %v", err)
	}
	if data, _ := os.ReadFile(outPath); len(data) != 0 {
		t.Fatalf("plaintext written into the work tree: %q", data)
	}
}

// editor writes a shell script usable as $EDITOR.
func (f *fixture) editor(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEdit(t *testing.T) {
	f := newFixture(t)
	plain := f.write(t, "s.yaml", plainSecret)
	if r := run(t, f.env, "encrypt", "--age-recipient", f.recipient, "-i", plain); r.code != 0 {
		t.Fatal(r)
	}
	before, _ := os.ReadFile(plain)
	record := filepath.Join(f.dir, "record")

	// An editor that changes nothing leaves the file byte-identical; the
	// temporary file is private and removed afterwards.
	look := f.editor(t, "look.sh", `stat -c '%a %n' "$1" "$(dirname "$1")" > `+record+`; echo "$1" >> `+record)
	env := map[string]string{"EDITOR": look, "KUBE_EDITOR": ""}
	for k, v := range f.env {
		env[k] = v
	}
	if r := run(t, env, "edit", plain); r.code != 0 || !strings.Contains(r.stderr, "no changes") {
		t.Fatalf("edit without changes: %+v", r)
	}
	after, _ := os.ReadFile(plain)
	if !bytes.Equal(before, after) {
		t.Fatal("an edit without changes rewrote the file")
	}
	rec, _ := os.ReadFile(record)
	lines := strings.Split(strings.TrimSpace(string(rec)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "600 ") || !strings.HasPrefix(lines[1], "700 ") {
		t.Fatalf("temporary file modes:\n%s", rec)
	}
	if _, err := os.Stat(lines[2]); !os.IsNotExist(err) {
		t.Fatalf("temporary file %s still exists", lines[2])
	}

	// A real change: sops decrypts the result; the unchanged value keeps
	// its ciphertext.
	env["EDITOR"] = f.editor(t, "change.sh", `sed -i 's/password: s3cr3t-p4ss/password: n3w-p4ss/' "$1"`)
	if r := run(t, env, "edit", plain); r.code != 0 {
		t.Fatalf("edit: %+v", r)
	}
	after, _ = os.ReadFile(plain)
	if out := f.sopsDecrypt(t, plain); !strings.Contains(out, "password: n3w-p4ss") || !strings.Contains(out, "user: app") {
		t.Fatalf("sops -d after edit:\n%s", out)
	}
	userLine := func(b []byte) string {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "user:") {
				return l
			}
		}
		return ""
	}
	if userLine(before) != userLine(after) {
		t.Error("the unchanged value was re-encrypted differently")
	}

	// A failing editor, or invalid YAML, leaves the file alone and removes
	// the temporary file.
	for name, body := range map[string]string{
		"failing": `echo "$1" > ` + record + `; exit 3`,
		"invalid": `echo "$1" > ` + record + `; printf 'a: [\n' > "$1"`,
	} {
		env["EDITOR"] = f.editor(t, name+".sh", body)
		r := run(t, env, "edit", plain)
		if r.code != 1 || !strings.Contains(r.stderr, "left as it was") {
			t.Errorf("%s editor: %+v", name, r)
		}
		now, _ := os.ReadFile(plain)
		if !bytes.Equal(now, after) {
			t.Errorf("%s editor changed the file", name)
		}
		rec, _ := os.ReadFile(record)
		if _, err := os.Stat(strings.TrimSpace(string(rec))); !os.IsNotExist(err) {
			t.Errorf("%s editor: temporary file left behind", name)
		}
	}
}

func TestRotate(t *testing.T) {
	f := newFixture(t)
	plain := f.write(t, "s.yaml", plainSecret)
	if r := run(t, f.env, "encrypt", "--age-recipient", f.recipient, "-i", plain); r.code != 0 {
		t.Fatal(r)
	}
	second := filepath.Join(f.dir, "second.txt")
	r := run(t, f.env, "keygen", "-o", second)
	secondRecipient := strings.TrimSpace(r.stdout)
	if r := run(t, f.env, "rotate", plain, "--add-recipient", secondRecipient); r.code != 0 {
		t.Fatalf("rotate --add-recipient: %+v", r)
	}
	if out := f.sopsDecrypt(t, plain); !strings.Contains(out, plaintext) {
		t.Fatalf("sops -d after rotate:\n%s", out)
	}
	env := map[string]string{"SOPS_AGE_KEY_FILE": second, "SOPS_AGE_KEY": "", "XDG_CONFIG_HOME": filepath.Join(f.dir, "xdg")}
	if r := runPrinting(t, "the added recipient decrypts: the plaintext", env, "decrypt", plain); r.code != 0 {
		t.Fatalf("decrypt with the added recipient: %+v", r)
	}
	if r := run(t, env, "rotate", plain, "--rm-recipient", f.recipient); r.code != 0 {
		t.Fatalf("rotate --rm-recipient: %+v", r)
	}
	if r := run(t, f.env, "decrypt", plain); r.code != 1 || !strings.Contains(r.stderr, secondRecipient) {
		t.Fatalf("the removed recipient can still decrypt: %+v", r)
	}
	if r := run(t, env, "rotate", plain, "--rm-recipient", secondRecipient); r.code != 1 || !strings.Contains(r.stderr, "nobody") {
		t.Fatalf("removing the last recipient: %+v", r)
	}
	if r := run(t, env, "rotate", plain, "--add-recipient", "ssh-ed25519 AAAA"); r.code != 1 || !strings.Contains(r.stderr, "only age keys") {
		t.Fatalf("a non-age recipient: %+v", r)
	}
}

// The editor is read as kubectl edit reads it: $KUBE_EDITOR, then $EDITOR;
// words split on spaces, and a value with quotes run through $SHELL.
func TestEditorCommand(t *testing.T) {
	t.Setenv("SHELL", "/bin/sh")
	for _, tt := range []struct {
		kube, editor string
		want         []string
	}{
		{"", "", []string{"vi", "/tmp/f.yaml"}},
		{"", "nano", []string{"nano", "/tmp/f.yaml"}},
		{"code --wait", "nano", []string{"code", "--wait", "/tmp/f.yaml"}},
		{"", `emacs -nw "--eval=(x)"`, []string{"/bin/sh", "-c", `emacs -nw "--eval=(x)" "/tmp/f.yaml"`}},
	} {
		t.Setenv("KUBE_EDITOR", tt.kube)
		t.Setenv("EDITOR", tt.editor)
		if got := editorCommand("/tmp/f.yaml").Args; !slices.Equal(got, tt.want) {
			t.Errorf("KUBE_EDITOR=%q EDITOR=%q: %q, want %q", tt.kube, tt.editor, got, tt.want)
		}
	}
}
