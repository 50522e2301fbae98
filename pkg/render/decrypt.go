package render

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// decryptText decrypts a SOPS-encrypted YAML or JSON text when a key opens
// it. Without a key it comes back as it was, with a warning; sync refuses
// to apply what is still encrypted. A MAC mismatch, or keys we do not
// support, are errors.
func decryptText(name string, data []byte, format sops.Format, opts Options) ([]byte, error) {
	f, err := sops.Parse(name, data, format)
	if err != nil && bytes.Contains(data, []byte("ENC[AES256_GCM,")) {
		// It holds encrypted values but cannot be read as a sops file:
		// never pass it on as if it were plain.
		return nil, fmt.Errorf("%s holds SOPS-encrypted values but cannot be read: %w", name, err)
	}
	if err != nil || f.Meta == nil {
		return data, nil // not an encrypted file; decoding reports bad YAML
	}
	if opts.Keys == nil || opts.Keys.Len() == 0 {
		opts.stillEncrypted(name, f.Meta.Recipients(), fmt.Sprintf("%s is SOPS-encrypted and no age key was found; it stays encrypted", name))
		return data, nil
	}
	var noKey *sops.NoKeyError
	if err := f.Decrypt(opts.Keys); errors.As(err, &noKey) {
		opts.stillEncrypted(name, f.Meta.Recipients(), err.Error()+"; it stays encrypted")
		return data, nil
	} else if err != nil {
		return nil, err
	}
	if opts.OnDecrypted != nil {
		opts.OnDecrypted(f.DecryptedValues())
	}
	return f.Plaintext()
}

// decryptFile decrypts a manifest file of a plain directory.
func decryptFile(rel string, data []byte, opts Options) ([]byte, error) {
	if !bytes.Contains(data, []byte(sops.MetadataKey)) {
		return data, nil
	}
	format := sops.FormatForPath(rel)
	if format != sops.JSON {
		format = sops.YAML
	}
	out, err := decryptText(rel, data, format, opts)
	if err != nil || bytes.Equal(out, data) {
		return out, err
	}
	return foldDocuments(out)
}

// decryptingFS decrypts SOPS-encrypted files as kustomize reads them, so
// its transformers (namespace, namePrefix, labels, patches) and generators
// (secretGenerator files and envs) work on plaintext. Decrypting after the
// build cannot work: kustomize reorders every object's fields and its
// transformers change values, and the MAC covers both.
type decryptingFS struct {
	filesys.FileSystem
	opts Options
}

func (d *decryptingFS) ReadFile(path string) ([]byte, error) {
	data, err := d.FileSystem.ReadFile(path)
	if err != nil || !bytes.Contains(data, []byte(sops.MetadataKey)) {
		return data, err
	}
	name := path
	if d.opts.root != "" {
		if rel, err := filepath.Rel(d.opts.root, path); err == nil {
			name = rel
		}
	}
	out, err := decryptText(name, data, sops.FormatForPath(path), d.opts)
	if err != nil || bytes.Equal(out, data) {
		return out, err
	}
	if f := sops.FormatForPath(path); f == sops.YAML || f == sops.JSON {
		return foldDocuments(out)
	}
	return out, nil
}

func foldDocuments(data []byte) ([]byte, error) {
	objs, err := Decode(data)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		FoldStringData(o.Object)
		b, err := o.MarshalJSON()
		if err != nil {
			return nil, err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// FoldStringData moves a Secret's stringData into data, base64-encoded, as
// the API server does on write (and as the decrypt function does), so
// decrypted values never travel as text; other objects stay as they are.
func FoldStringData(obj map[string]any) {
	if obj["kind"] != "Secret" || obj["apiVersion"] != "v1" {
		return
	}
	sd, ok := obj["stringData"].(map[string]any)
	if !ok {
		return
	}
	data, _ := obj["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range sd {
		data[k] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(v)))
	}
	obj["data"] = data
	delete(obj, "stringData")
}
