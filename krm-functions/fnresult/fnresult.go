// Package fnresult turns errors into KRM function results.
package fnresult

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
)

// Errors returns one error-severity result per error in err (an
// errors.Join is split, joins within joins too, but not an error that wraps
// several with text of its own), so each problem is its own line on stderr.
func Errors(err error) framework.Results {
	var out framework.Results
	var add func(error)
	add = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok && isJoin(e, j.Unwrap()) {
			for _, inner := range j.Unwrap() {
				add(inner)
			}
			return
		}
		out = append(out, &framework.Result{Severity: framework.Error, Message: e.Error()})
	}
	if err != nil {
		add(err)
	}
	return out
}

// isJoin tells an errors.Join (its message is its errors' messages, one
// per line) from fmt.Errorf with several %w.
func isJoin(e error, errs []error) bool {
	msgs := make([]string, 0, len(errs))
	for _, inner := range errs {
		if inner != nil {
			msgs = append(msgs, inner.Error())
		}
	}
	return e.Error() == strings.Join(msgs, "\n")
}
