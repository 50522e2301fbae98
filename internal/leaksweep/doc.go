// Package leaksweep fails a test when a secret value reaches something the
// test captured: a command's stdout or stderr, its -o json, an agent's logs,
// a /metrics scrape, a webhook response, an engine error or result, or an
// Event of the test's namespace.
//
// Secret values are registered once for the process (the fixtures' values,
// in known.go, and the test cluster's credentials, by internal/testcluster)
// or by a test for what it generates:
//
//	leaksweep.Secret(t, generatedAgeIdentity)
//
// The e2e runners capture what they see:
//
//	leaksweep.Capture(t, "stdout of `kubectl-gitops sync ...`", stdout)
//
// and when the test ends (t.Cleanup) every capture of the test is searched
// for every registered value as it is, in base64 (standard and URL
// alphabets, padded or not, at any alignment inside a longer encoding), in
// hex, URL-escaped and JSON-escaped. A finding fails the test naming the
// capture, the secret's label, the form and the offset, with the value
// replaced by a placeholder: the sweep never prints a secret.
//
// A capture that holds a secret on purpose (`secret decrypt` to stdout) is
// recorded with Allow and a reason instead; it is counted, not searched.
//
// Values shorter than MinLen bytes are refused: they would match by chance.
package leaksweep
