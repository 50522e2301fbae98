package source

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// A server's empty or newline-ended message leaves no stray ": " or line
// break before the hint, and the error still is what it was.
func TestExplainTidiesServerMessages(t *testing.T) {
	for _, tt := range []struct {
		err      error
		want     string
		sentinel error
	}{
		{fmt.Errorf("%w: ", transport.ErrAuthenticationRequired), "authentication required; the repository wants credentials: a token or password (https) or an ssh key (ssh)", transport.ErrAuthenticationRequired},
		{fmt.Errorf("%w: 404 page not found\n", transport.ErrRepositoryNotFound), "repository not found: 404 page not found; check the repository URL", transport.ErrRepositoryNotFound},
		{transport.ErrRepositoryNotFound, "repository not found; check the repository URL", transport.ErrRepositoryNotFound},
	} {
		got := explain(tt.err)
		if got.Error() != tt.want || !errors.Is(got, tt.sentinel) {
			t.Errorf("explain(%q) = %q (is %v: %v), want %q", tt.err, got, tt.sentinel, errors.Is(got, tt.sentinel), tt.want)
		}
	}
}
