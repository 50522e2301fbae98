package leaksweep

import "fmt"

// Known are the secret values written into the tests' fixtures (Secret
// stringData and data, SOPS plaintexts, Git tokens and passwords, webhook
// secrets), by where they are written. They are registered for every
// process that imports the package. Values a test generates (age
// identities from keygen, the test cluster's credentials) are registered
// where they are made, with Secret or Register.
//
// Adding a secret to a fixture? Add it here too (at least MinLen bytes),
// or call Secret in the test.
var Known = []struct{ Label, Value string }{
	// cmd/kubectl-gitops
	{"shop-db password (cmd/kubectl-gitops/sync_e2e_test.go secretValue)", "hunter2-plaintext-correct-horse"},
	{"rotated shop-db password (cmd/kubectl-gitops/diff_e2e_test.go newSecretValue)", "rotated-plaintext-battery-staple"},
	{"SOPS password (cmd/kubectl-gitops/secret_e2e_test.go sopsPassword)", "s0ps-plaintext-battery-staple"},
	{"SOPS env API key (cmd/kubectl-gitops/secret_e2e_test.go sopsAPIKey)", "env-plaintext-tr0ub4dor"},
	{"edited SOPS password (cmd/kubectl-gitops/secret_e2e_test.go)", "changed-after-ctrl-c"},
	{"Git token (cmd/kubectl-gitops/image_e2e_test.go)", "tok-3f9a1c-not-in-any-output"},
	{"wrong Git token (cmd/kubectl-gitops/image_e2e_test.go)", "wrong-token-value"},
	{"Git basic-auth password (cmd/kubectl-gitops/source_e2e_test.go)", "SECRET-basic-auth-pa55"},
	{"Git password (cmd/kubectl-gitops/faults_git_e2e_test.go faultPassword)", "SECRET-git-fault-pa55"},
	// testdata/badinput (cmd/kubectl-gitops/badinput_e2e_test.go)
	{"badinput Secret password (testdata/badinput/*/db.enc.yaml, secret.yaml)", "badinput-plaintext-s3cr3t"},
	{"badinput Secret password (testdata/badinput/secret-encrypt-no-recipient)", "not-secret-at-all"},
	{"badinput Git token (cmd/kubectl-gitops/badinput_e2e_test.go)", "tok-badinput-7d1e-not-in-any-output"},
	{"badinput refused Git token (testdata/badinput/*/case.yaml GIT_TOKEN)", "wrong-token"},
	// plugins/agent
	{"webhook secret (plugins/agent/agent_e2e_test.go webhookSecret)", "webhook-secret-for-tests-0123"},
	{"web-credentials password (plugins/agent/bench_test.go)", "dummy-not-a-secret"},
	// pkg/sync
	{"creds password (pkg/sync/compare_test.go)", "hunter2 is the password"},
	{"no-op Secret token (pkg/sync/compare_test.go)", "noop-sync-token-0123"},
	{"hook Secret password (pkg/sync/hooks_test.go)", "pa55-in-the-termination-log"},
	// plugins/secret, pkg/sops/interop
	{"SOPS password (plugins/secret, pkg/sops/interop)", "s3cr3t-p4ss"},
	{"edited SOPS password (plugins/secret, pkg/sops/interop)", "n3w-p4ss"},
	{"SOPS comment-regex password (pkg/sops/interop)", "hunter2-comment-regex"},
	{"SOPS data token (pkg/sops/interop, dG9rZW4tZGF0YS12YWx1ZQ==)", "token-data-value"},
	// pkg/ssaproof
	{"Secret password (pkg/ssaproof/server_test.go, c2VjcmV0LXBhc3N3b3Jk)", "secret-password"},
	{"edited Secret password (pkg/ssaproof/server_test.go, b3RoZXItcGFzc3dvcmQ=)", "other-password"},
}

func init() {
	for _, k := range Known {
		if err := Register(k.Label, k.Value); err != nil {
			panic(fmt.Sprintf("leaksweep.Known: %v", err))
		}
	}
}
