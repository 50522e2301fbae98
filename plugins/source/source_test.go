package source

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// The engine's errors name no flag; the command adds the ones that fix
// them.
func TestHint(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&render.UntrustedFunctionsError{Path: "app", Exec: []string{"A/a in f (exec x)"}},
			"kustomize build app: the kustomization runs exec KRM functions, which execute programs named by the repository: A/a in f (exec x); pass --enable-exec if you trust this repository"},
		{fmt.Errorf("render r at c: %w", &render.UntrustedFunctionsError{Path: "app", Container: []string{"B/b in f (image i)"}}),
			"render r at c: kustomize build app: the kustomization runs container KRM functions, which run images named by the repository (with docker, given the host environment variables they name): B/b in f (image i); pass --enable-container-functions if you trust this repository"},
		{&render.UntrustedFunctionsError{Path: "app", Exec: []string{"A/a in f (exec x)"}, Container: []string{"B/b in f (image i)"}},
			"kustomize build app: the kustomization runs exec KRM functions, which execute programs named by the repository: A/a in f (exec x); and container KRM functions, which run images named by the repository (with docker, given the host environment variables they name): B/b in f (image i); pass --enable-exec and --enable-container-functions if you trust this repository"},
		{&app.EncryptedError{Files: []app.EncryptedFile{{File: "s.enc.yaml", Recipients: []string{"age1x"}}}},
			"SOPS-encrypted files that no age key opened: s.enc.yaml (for age1x); a key of one of their recipients is needed: give one with --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY; nothing was applied"},
		{fmt.Errorf("clone r: %w; the repository wants credentials", transport.ErrAuthenticationRequired),
			"clone r: authentication required; the repository wants credentials: set $GIT_TOKEN or pass --git-token-file (https), or --ssh-key-file (ssh)"},
		{errors.New("other"), "other"},
	} {
		if got := Hint(tt.err).Error(); got != tt.want {
			t.Errorf("Hint:\n got %s\nwant %s", got, tt.want)
		}
	}
}
