// Package fnresult turns errors into KRM function results.
package fnresult

import "sigs.k8s.io/kustomize/kyaml/fn/framework"

// Errors returns one error-severity result per error in err (an
// errors.Join is split), so each problem is its own line on stderr.
func Errors(err error) framework.Results {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make(framework.Results, 0, len(errs))
	for _, e := range errs {
		out = append(out, &framework.Result{Severity: framework.Error, Message: e.Error()})
	}
	return out
}
