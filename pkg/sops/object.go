package sops

import "strings"

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
	return hasEncryptedValue(obj), nil
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
