package fnresult_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/fnresult"
)

func TestErrors(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	for _, tc := range []struct {
		name string
		err  error
		want []string
	}{
		{"one", a, []string{"a"}},
		{"joined", errors.Join(a, b), []string{"a", "b"}},
		{"joins within joins", errors.Join(a, errors.Join(b, c)), []string{"a", "b", "c"}},
		{"several %w with text stay one", fmt.Errorf("x: %w, %w", a, b), []string{"x: a, b"}},
		{"nil", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range fnresult.Errors(tc.err) {
				got = append(got, r.Message)
				if r.Severity != "error" {
					t.Errorf("severity %q", r.Severity)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
