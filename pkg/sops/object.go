package sops

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// ObjectEncrypted reports whether a decoded object (a manifest as a map) is
// still SOPS-encrypted: it carries a sops metadata block, or any string
// value of the ENC[AES256_GCM,...] form. It returns the age recipients
// named by the metadata, if any.
func ObjectEncrypted(obj map[string]any) (bool, []string) {
	if meta, ok := obj[MetadataKey].(map[string]any); ok {
		var recipients []string
		if list, ok := meta["age"].([]any); ok {
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					if r, ok := m["recipient"].(string); ok {
						recipients = append(recipients, r)
					}
				}
			}
		}
		return true, recipients
	}
	if hasEncryptedValue(obj) {
		return true, nil
	}
	// A Secret generated from encrypted files holds them base64-encoded.
	if obj["kind"] == "Secret" {
		if data, ok := obj["data"].(map[string]any); ok {
			for k, v := range data {
				s, _ := v.(string)
				raw, err := base64.StdEncoding.DecodeString(s)
				if strings.HasPrefix(k, flatPrefix+"mac") || (err == nil && bytes.Contains(raw, []byte(encPrefix))) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

func hasEncryptedValue(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.HasPrefix(v, encPrefix)
	case map[string]any:
		for _, e := range v {
			if hasEncryptedValue(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if hasEncryptedValue(e) {
				return true
			}
		}
	}
	return false
}
