package sync_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
)

// sweepValue captures v for the leak sweep as the engine's callers show
// it: as JSON (-o json) and as %+v (what a log line or an error shows).
func sweepValue(t testing.TB, what string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Errorf("leaksweep: %s: %v", what, err)
	}
	leaksweep.Capture(t, what+" as JSON", string(b))
	leaksweep.Capture(t, what+" as %+v", fmt.Sprintf("%+v", v))
}

// sweepResult captures a result of the engine and its error.
func sweepResult(t testing.TB, what string, v any, err error) {
	t.Helper()
	sweepValue(t, what, v)
	if err != nil {
		leaksweep.Capture(t, "error of "+what, err.Error())
	}
}
