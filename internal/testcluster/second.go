package testcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
)

// Second starts another control plane for t alone, a destination cluster
// beside the package's: stopped when t ends; its client key and token are
// registered with the leak sweep as the package cluster's are.
func Second(t testing.TB) *localcluster.Cluster {
	t.Helper()
	c, err := localcluster.Start(context.Background(), localcluster.Options{ToolsDir: ToolsDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	registerCredentials(c)
	return c
}

// ClusterSecret is an Argo CD cluster Secret (namespace argocd) named name
// for the control plane of cfg, with labels (for the clusters generator):
// its server, and its client certificate or bearer token in config. It
// returns the credentials it holds too, to search output for.
func ClusterSecret(t testing.TB, cfg *rest.Config, name string, labels map[string]string) (secret string, credentials [][]byte) {
	t.Helper()
	read := func(data []byte, file string) []byte {
		if len(data) > 0 || file == "" {
			return data
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ca, cert, key := read(cfg.CAData, cfg.CAFile), read(cfg.CertData, cfg.CertFile), read(cfg.KeyData, cfg.KeyFile)
	b64 := base64.StdEncoding.EncodeToString
	tls := fmt.Sprintf(`"tlsClientConfig": {"caData": %q, "certData": %q, "keyData": %q}`, b64(ca), b64(cert), b64(key))
	if cfg.BearerToken != "" {
		tls = fmt.Sprintf(`"bearerToken": %q, "tlsClientConfig": {"caData": %q}`, cfg.BearerToken, b64(ca))
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lbl strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&lbl, "    %s: %s\n", k, labels[k])
	}
	secret = fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: argocd\n  labels:\n    argocd.argoproj.io/secret-type: cluster\n%stype: Opaque\nstringData:\n  name: %s\n  server: %s\n  config: |\n    {%s}\n", name, lbl.String(), name, cfg.Host, tls)
	for _, c := range [][]byte{key, cert, []byte(b64(key)), []byte(cfg.BearerToken)} {
		if len(c) > 0 {
			credentials = append(credentials, c)
		}
	}
	return secret, credentials
}
