// Package decrypt is the decrypt KRM function: it decrypts SOPS-encrypted
// resources in a kustomize build and generates Secrets from SOPS-encrypted
// files and env files (the job KSOPS does), with age keys only.
//
// Config (apiVersion fn.kubectl-gitops.dev/v1alpha1, kind Decrypt):
//
//	files:                      # encrypted manifests added to the build, decrypted
//	- secret.enc.yaml
//	secrets:                    # Secrets built from encrypted files
//	- name: app-env
//	  namespace: web            # optional
//	  type: Opaque              # default
//	  behavior: create          # or merge / replace: kustomize.config.k8s.io/behavior
//	  disableNameSuffixHash: false  # else kustomize adds a content hash (needs-hash)
//	  files: [tls.key=tls.enc.key, config.enc.json]  # key=path or path (key: file name)
//	  envs: [app.enc.env]       # each KEY=value of an encrypted dotenv file
//
// As a transformer it decrypts every item carrying a `sops` metadata block;
// as a generator it adds files and secrets. Paths are relative to the
// kustomization and must stay inside it. A file that is not encrypted is
// refused: plaintext secrets do not belong in Git.
//
// Decrypted Secrets carry their values in data (stringData is folded into
// data, as the API server does on write), so the plaintext never appears as
// text in the stream. Keys come from --age-key-file, SOPS_AGE_KEY,
// SOPS_AGE_KEY_FILE and sops' keys.txt.
package decrypt
