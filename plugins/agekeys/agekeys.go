// Package agekeys holds the flags that say where age identities come from,
// shared by the secret, render and sync commands.
package agekeys

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// Flags name key files and, for commands that reach a cluster, a Secret.
type Flags struct {
	Files []string
	// Secret is NAMESPACE/NAME of a Secret whose values are age key files.
	Secret string
	// SecretOnly reads Secret alone, if it exists (no files, no
	// environment, no default key file): the keys of a tenant's namespace.
	SecretOnly bool
}

// AddFlags registers --age-key-file, and --age-key-secret when withSecret.
func (f *Flags) AddFlags(fs *pflag.FlagSet, withSecret bool) {
	fs.StringArrayVar(&f.Files, "age-key-file", nil, "age key file (AGE-SECRET-KEY-1... lines); repeatable. Also read: $"+sops.EnvAgeKey+", $"+sops.EnvAgeKeyFile+", and sops' keys.txt")
	if withSecret {
		fs.StringVar(&f.Secret, "age-key-secret", "", "NAMESPACE/NAME of a Secret in the cluster whose values are age key files (as Flux's sops-age Secret)")
	}
}

// Validate checks the flags.
func (f *Flags) Validate() error {
	if f.Secret != "" {
		if ns, name, ok := strings.Cut(f.Secret, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("--age-key-secret %q: want NAMESPACE/NAME", f.Secret)
		}
	}
	return nil
}

// Load reads the identities. client may be nil when no Secret is named.
func (f *Flags) Load(ctx context.Context, client kubernetes.Interface) (*sops.Keys, error) {
	keys := &sops.Keys{}
	if !f.SecretOnly {
		var err error
		if keys, err = sops.LoadKeys(sops.KeySources{Files: f.Files}); err != nil {
			return nil, err
		}
	}
	if f.Secret == "" {
		return keys, nil
	}
	ns, name, _ := strings.Cut(f.Secret, "/")
	if client == nil {
		return nil, fmt.Errorf("--age-key-secret %s: no cluster connection", f.Secret)
	}
	// A tenant's keys are its namespace's Secret alone: say that, never
	// the agent's flags.
	what := "--age-key-secret: "
	if f.SecretOnly {
		what = "the age key Secret of namespace " + ns + ": "
		keys.SetAdvice(fmt.Sprintf("put the age key file of one of those recipients in Secret %s/%s (kubectl create secret generic %s -n %s --from-file=keys.agekey=keys.txt); the agent's own keys are not used for the Applications of other namespaces", ns, name, name, ns))
	}
	s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if f.SecretOnly && apierrors.IsNotFound(err) {
		return keys, nil // no keys: a SOPS file then says which Secret to create
	}
	if err != nil {
		return nil, fmt.Errorf("%sSecret/%s/%s: %w", what, ns, name, err)
	}
	names := make([]string, 0, len(s.Data))
	for k := range s.Data {
		names = append(names, k)
	}
	sort.Strings(names)
	found := 0
	for _, k := range names {
		before := keys.Len()
		if err := keys.Add(fmt.Sprintf("Secret/%s/%s key %s", ns, name, k), s.Data[k]); err != nil {
			return nil, err
		}
		found += keys.Len() - before
	}
	if found == 0 {
		return nil, fmt.Errorf("%sSecret/%s/%s holds no age identities; put the key file in it: kubectl create secret generic %s -n %s --from-file=keys.agekey=keys.txt", what, ns, name, name, ns)
	}
	return keys, nil
}
