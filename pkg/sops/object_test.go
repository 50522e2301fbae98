package sops

import (
	"encoding/base64"
	"testing"
)

func TestObjectEncrypted(t *testing.T) {
	enc := "ENC[AES256_GCM,data:YjE=,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for name, tc := range map[string]struct {
		obj        map[string]any
		want       bool
		recipients int
	}{
		"plain":                 {map[string]any{"kind": "Secret", "data": map[string]any{"a": b64("x")}}, false, 0},
		"metadata block":        {map[string]any{"kind": "Secret", "sops": map[string]any{"age": []any{map[string]any{"recipient": "age1x"}}}}, true, 1},
		"ENC value in list":     {map[string]any{"kind": "ConfigMap", "data": map[string]any{"l": []any{"a", enc}}}, true, 0},
		"generated from env":    {map[string]any{"kind": "Secret", "data": map[string]any{"API_KEY": b64(enc), "sops_mac": b64(enc)}}, true, 0},
		"generated from file":   {map[string]any{"kind": "Secret", "data": map[string]any{"tls.key": b64(`{"data": "` + enc + `"}`)}}, true, 0},
		"ENC text not a Secret": {map[string]any{"kind": "ConfigMap", "binaryData": map[string]any{"x": b64(enc)}}, false, 0},
	} {
		got, recipients := ObjectEncrypted(tc.obj)
		if got != tc.want || len(recipients) != tc.recipients {
			t.Errorf("%s: got %v %v, want %v with %d recipients", name, got, recipients, tc.want, tc.recipients)
		}
	}
}
