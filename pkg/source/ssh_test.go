package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// writeKnownHosts writes a known_hosts file that trusts pub for host:port.
func writeKnownHosts(t *testing.T, hostport string, pub ssh.PublicKey) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(knownhosts.Line([]string{knownhosts.Normalize(hostport)}, pub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFetchOverSSH(t *testing.T) {
	r := testrepo.New(t)
	sha := r.Commit("first", map[string]string{"app/cm.yaml": "v1"})

	srv, _ := serveRepo(t, r)
	keyDir := t.TempDir()
	srv.KeyDir(keyDir)
	if err := srv.ListenSSH(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.StartSSH() }()
	defer srv.StopSSH()
	u, err := url.Parse(srv.SSHAddress())
	if err != nil {
		t.Fatal(err)
	}
	repoURL := srv.SSHAddress() + "/config.git"

	// The server's host key, as an ssh-keyscan would record it.
	hostKeyPEM, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa"))
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.ParsePrivateKey(hostKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	trusted := writeKnownHosts(t, u.Host, hostSigner.PublicKey())
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(otherPub)
	wrong := writeKnownHosts(t, u.Host, otherKey)

	// The client's key.
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}

	co, err := Fetch(context.Background(), Request{Repo: repoURL, Revision: "main"}, Options{CacheDir: t.TempDir(), Auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{trusted}}})
	if err != nil {
		t.Fatalf("fetch with a trusted host key: %v", err)
	}
	if co.Commit != sha {
		t.Errorf("commit %s, want %s", co.Commit, sha)
	}
	co.Close()

	_, err = Fetch(context.Background(), Request{Repo: repoURL, Revision: "main"}, Options{CacheDir: t.TempDir(), Auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{wrong}}})
	if err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Errorf("fetch with a mismatching host key: got %v, want a refusal", err)
	}

	co, err = Fetch(context.Background(), Request{Repo: repoURL, Revision: "main"}, Options{CacheDir: t.TempDir(), Auth: Auth{SSHKeyFile: keyFile, KnownHostsFiles: []string{wrong}, InsecureSkipHostKeyCheck: true}})
	if err != nil {
		t.Fatalf("fetch with --insecure-skip-host-key-check: %v", err)
	}
	co.Close()

	// Without a key file, the key comes from the ssh agent at SSH_AUTH_SOCK:
	// here an agent serving the agent protocol on a unix socket.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: clientPriv}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	co, err = Fetch(context.Background(), Request{Repo: repoURL, Revision: "main"}, Options{CacheDir: t.TempDir(), Auth: Auth{KnownHostsFiles: []string{trusted}}})
	if err != nil {
		t.Fatalf("fetch with the ssh agent: %v", err)
	}
	if co.Commit != sha {
		t.Errorf("commit %s via the agent, want %s", co.Commit, sha)
	}
	co.Close()
}
