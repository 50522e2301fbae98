package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok3n@git.example/team/config.git":   "https://git.example/team/config.git",
		"https://ghp_TOKENVALUE@github.com/team/config":    "https://github.com/team/config",
		"http://user:p%40ss@127.0.0.1:8080/config.git?x=1": "http://127.0.0.1:8080/config.git?x=1",
		"HTTPS://u:p@host":                         "HTTPS://host",
		"https://git.example/config.git":           "https://git.example/config.git",
		"ssh://git@git.example/config.git":         "ssh://git@git.example/config.git",
		"ssh://git:pw@git.example:2222/config.git": "ssh://git@git.example:2222/config.git",
		"git@github.com:team/config.git":           "git@github.com:team/config.git",
		"/srv/config":                              "/srv/config",
		"file:///srv/config":                       "file:///srv/config",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScrubKeepsSentinels(t *testing.T) {
	err := scrub(errors.Join(transport.ErrAuthenticationRequired, errors.New(`Get "https://ghp_TOKENVALUE@h/x": refused`)), "https://ghp_TOKENVALUE@h/x")
	if strings.Contains(err.Error(), "ghp_TOKENVALUE") || !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("scrub: %v (is auth required: %v)", err, errors.Is(err, transport.ErrAuthenticationRequired))
	}
	err = scrub(errors.New(`Get "https://user:***@h/x" for user:s3cret`), "https://user:s3cret@h/x")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("scrub: %v", err)
	}
}

// Credentials in an http URL authenticate, and show up nowhere: not in
// errors, not in the checkout, not in the mirror's configuration.
func TestFetchWithCredentialsInURL(t *testing.T) {
	r := testrepo.New(t)
	first := r.Commit("first", map[string]string{"app/cm.yaml": "v1"})
	srv, _ := serveRepo(t, r)
	const password = "pa55-in-the-url"
	srv.Auth("ci", password)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	defer srv.StopHTTP()
	host := strings.TrimPrefix(srv.HTTPAddress(), "http://")
	cache := t.TempDir()

	co, err := Fetch(context.Background(), Request{Repo: "http://ci:" + password + "@" + host + "/config.git", Revision: "main"}, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != first || co.Repo != "http://"+host+"/config.git" {
		t.Errorf("commit %s repo %q", co.Commit, co.Repo)
	}
	co.Close()
	// Again, through the existing mirror.
	co, err = Fetch(context.Background(), Request{Repo: "http://ci:" + password + "@" + host + "/config.git", Revision: "main"}, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	co.Close()
	filepath.Walk(cache, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), password) {
				t.Errorf("%s holds the password", p)
			}
		}
		return nil
	})

	for _, tt := range []struct{ repo, rev string }{
		{"http://ci:wrong-" + password + "@" + host + "/config.git", "main"},
		{"http://ci:" + password + "@" + host + "/nope.git", "main"},
		{"http://ci:" + password + "@" + host + "/config.git", "no-such-branch"},
		{"http://tok-" + password + "@" + host + "/config.git", "main"},
		{"http://ci:" + password + "@127.0.0.1:1/config.git", "main"},
	} {
		_, err := Fetch(context.Background(), Request{Repo: tt.repo, Revision: tt.rev}, Options{CacheDir: t.TempDir()})
		if err == nil {
			t.Errorf("Fetch(%s @ %s) succeeded", RedactURL(tt.repo), tt.rev)
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the password is in the error: %v", err)
		}
	}
}
