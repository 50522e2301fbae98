package argocd

import (
	"os"
	"strings"
	"testing"
)

func TestClusterSecrets(t *testing.T) {
	objs := `apiVersion: v1
kind: Secret
metadata:
  name: eu
  namespace: argocd
  labels: {argocd.argoproj.io/secret-type: cluster, region: eu}
stringData:
  name: production-eu
  server: https://eu.example:6443
  config: '{"bearerToken": "t0k3n-value", "tlsClientConfig": {"insecure": false, "caData": "Y2E="}}'
---
apiVersion: v1
kind: Secret
metadata:
  name: us
  labels: {argocd.argoproj.io/secret-type: cluster}
data:
  server: aHR0cHM6Ly91cy5leGFtcGxlOjY0NDM=
---
apiVersion: v1
kind: Secret
metadata: {name: not-a-cluster}
stringData: {server: x}
`
	cs, err := parseClusters(t, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Name != "https://us.example:6443" || cs[1].Name != "production-eu" || cs[1].Labels["region"] != "eu" {
		t.Fatalf("clusters %+v", cs)
	}
	rc, err := cs[1].RESTConfig()
	if err != nil || rc.Host != "https://eu.example:6443" || rc.BearerToken != "t0k3n-value" || string(rc.CAData) != "ca" {
		t.Errorf("rest config %+v %v", rc, err)
	}

	_, err = parseClusters(t, `apiVersion: v1
kind: Secret
metadata: {name: aws, namespace: argocd, labels: {argocd.argoproj.io/secret-type: cluster}}
stringData:
  server: https://eks.example
  config: '{"awsAuthConfig": {"clusterName": "x"}, "bearerToken": "s3cret-token"}'
`)
	if err == nil || !strings.Contains(err.Error(), "Secret argocd/aws: config.awsAuthConfig: AWS IAM authentication is not supported") || strings.Contains(err.Error(), "s3cret-token") {
		t.Errorf("aws: %v", err)
	}
}

func parseClusters(t *testing.T, text string) ([]Cluster, error) {
	t.Helper()
	dir := t.TempDir() + "/c.yaml"
	if err := writeFile(dir, text); err != nil {
		t.Fatal(err)
	}
	return LoadClusters(dir, nil)
}

func writeFile(p, text string) error { return os.WriteFile(p, []byte(text), 0o600) }

func TestClusterSecretRestrictionsRefused(t *testing.T) {
	_, err := parseClusters(t, `apiVersion: v1
kind: Secret
metadata: {name: scoped, namespace: argocd, labels: {argocd.argoproj.io/secret-type: cluster}}
stringData: {server: https://a.example, namespaces: "team-a,team-b"}
`)
	if err == nil || !strings.Contains(err.Error(), "Secret argocd/scoped: the namespaces key restricts the cluster, which is not enforced yet") {
		t.Errorf("%v", err)
	}
}
