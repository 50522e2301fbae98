package argocd

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Argo CD's declarative cluster Secrets.
const (
	LabelSecretType   = "argocd.argoproj.io/secret-type"
	SecretTypeCluster = "cluster"
)

// Cluster is a cluster registered with Argo CD by a cluster Secret.
type Cluster struct {
	// Name and Server are the Secret's name and server keys.
	Name, Server string
	// Labels are the Secret's labels (the clusters generator selects by
	// them); Annotations its annotations (parameters too).
	Labels, Annotations map[string]string
	// Secret names the Secret it came from (namespace/name), for messages.
	Secret string

	config clusterConfig
}

// clusterConfig is the Secret's config key, as far as this tool reads it.
type clusterConfig struct {
	BearerToken     string `json:"bearerToken,omitempty"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	TLSClientConfig struct {
		Insecure   bool   `json:"insecure,omitempty"`
		ServerName string `json:"serverName,omitempty"`
		CAData     string `json:"caData,omitempty"`
		CertData   string `json:"certData,omitempty"`
		KeyData    string `json:"keyData,omitempty"`
	} `json:"tlsClientConfig"`
}

// notSupportedConfig are config keys of Argo CD's that this tool refuses,
// with why.
var notSupportedConfig = map[string]string{
	"awsAuthConfig":      "AWS IAM authentication is not supported",
	"execProviderConfig": "exec credential providers are not supported",
	"proxyUrl":           "proxies are not supported",
}

// LoadClusters reads the cluster Secrets of a file, of the manifest files
// directly in a directory, or of standard input ("-"). Other documents are
// left out.
func LoadClusters(path string, stdin io.Reader) ([]Cluster, error) {
	var objs []*unstructured.Unstructured
	err := eachFile(path, stdin, func(f string, data []byte) error {
		docs, err := render.Decode(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		objs = append(objs, docs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ClustersOf(objs)
}

// ClustersOf reads the cluster Secrets among objs (Secrets labelled
// argocd.argoproj.io/secret-type: cluster), sorted by name. A value that
// cannot be read is an error naming the Secret and the key, never the
// value.
func ClustersOf(objs []*unstructured.Unstructured) ([]Cluster, error) {
	var out []Cluster
	var errs []error
	for _, o := range objs {
		if o.GetKind() != "Secret" || o.GetAPIVersion() != "v1" || o.GetLabels()[LabelSecretType] != SecretTypeCluster {
			continue
		}
		ref := "Secret " + o.GetNamespace() + "/" + o.GetName()
		value := func(key string) (string, error) {
			if s, ok, _ := unstructured.NestedString(o.Object, "stringData", key); ok {
				return s, nil
			}
			s, ok, _ := unstructured.NestedString(o.Object, "data", key)
			if !ok {
				return "", nil
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", fmt.Errorf("%s: data.%s is not base64", ref, key)
			}
			return string(b), nil
		}
		c := Cluster{Labels: o.GetLabels(), Annotations: o.GetAnnotations(), Secret: ref}
		// kubectl's last applied configuration holds the whole Secret, its
		// credentials too: never a parameter.
		delete(c.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
		var err error
		restricted := false
		for _, key := range []string{"namespaces", "clusterResources", "project"} {
			if v, _ := value(key); v != "" {
				errs = append(errs, fmt.Errorf("%s: the %s key restricts the cluster, which is not enforced yet; refusing it rather than ignore it", ref, key))
				restricted = true
			}
		}
		if restricted {
			continue
		}
		if c.Name, err = value("name"); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Server, err = value("server"); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Server == "" {
			errs = append(errs, fmt.Errorf("%s: the server key is required", ref))
			continue
		}
		if c.Name == "" {
			c.Name = c.Server
		}
		cfg, err := value("config")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cfg != "" {
			var keys map[string]json.RawMessage
			if err := json.Unmarshal([]byte(cfg), &keys); err != nil {
				errs = append(errs, fmt.Errorf("%s: the config key is not JSON", ref))
				continue
			}
			bad := false
			for k := range keys {
				if why, ok := notSupportedConfig[k]; ok {
					errs = append(errs, fmt.Errorf("%s: config.%s: %s", ref, k, why))
					bad = true
				}
			}
			if bad {
				continue
			}
			if err := json.Unmarshal([]byte(cfg), &c.config); err != nil {
				errs = append(errs, fmt.Errorf("%s: the config key does not hold Argo CD's cluster config (bearerToken, username, password, tlsClientConfig)", ref))
				continue
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// RESTConfig is how to reach the cluster, with the Secret's credentials.
func (c Cluster) RESTConfig() (*rest.Config, error) {
	rc := &rest.Config{Host: c.Server, BearerToken: c.config.BearerToken, Username: c.config.Username, Password: c.config.Password}
	t := c.config.TLSClientConfig
	rc.TLSClientConfig.Insecure, rc.TLSClientConfig.ServerName = t.Insecure, t.ServerName
	for _, f := range []struct {
		key  string
		data string
		into *[]byte
	}{{"caData", t.CAData, &rc.TLSClientConfig.CAData}, {"certData", t.CertData, &rc.TLSClientConfig.CertData}, {"keyData", t.KeyData, &rc.TLSClientConfig.KeyData}} {
		if f.data == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.data))
		if err != nil {
			return nil, fmt.Errorf("%s: config.tlsClientConfig.%s is not base64", c.Secret, f.key)
		}
		*f.into = b
	}
	return rc, nil
}
