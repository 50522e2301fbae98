package validateproject

import "testing"

func TestRepoPermitted(t *testing.T) {
	patterns := []string{"https://github.com/acme/*", "!https://github.com/acme/sandbox.git"}
	for repo, want := range map[string]bool{
		"https://github.com/acme/config.git":  true,
		"https://github.com/acme/sandbox.git": false,
		"https://github.com/other/config.git": false,
		// As Argo CD: "*" stops at "/", case and ".git" do not count.
		"https://github.com/acme/team/config.git": false,
		"https://GitHub.com/Acme/Config":          true,
		"https://github.com/acme/sandbox":         false,
	} {
		if got := RepoPermitted(patterns, repo); got != want {
			t.Errorf("%s: %v, want %v", repo, got, want)
		}
	}
	if !RepoPermitted([]string{"*"}, "git@host:x.git") || RepoPermitted(nil, "x") {
		t.Error("* or empty")
	}
	if !RepoPermitted([]string{"https://github.com/acme/**"}, "https://github.com/acme/team/config.git") {
		t.Error("** crosses /")
	}
	if !RepoPermitted([]string{"git@github.com:acme/*"}, "git@github.com:acme/config.git") || RepoPermitted([]string{"git@github.com:acme/*"}, "git@github.com:other/config.git") {
		t.Error("scp-like SSH URLs")
	}
}
