package sops

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParseEncrypted: the ENC[...] parser never panics, and what it
// accepts prints back to the same text.
func FuzzParseEncrypted(f *testing.F) {
	f.Add("ENC[AES256_GCM,data:YjE=,iv:nadNX2YOVsU1T9aCRAi2eN5MMQKAkghaCTbT466gPHY=,tag:ea3pJssruXhbINeqs7VogA==,type:str]")
	f.Add("ENC[AES256_GCM,data:,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:comment]")
	f.Add("ENC[AES256_GCM,data:x,iv:y,tag:z,type:int")
	f.Add("ENC[AES256_GCM,data:YjE=,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str,extra:1]")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEncrypted(s)
		if err != nil {
			if IsEncrypted(s) && strings.Contains(err.Error(), s) && len(s) > 20 {
				t.Fatalf("error quotes its input: %v", err)
			}
			return
		}
		if e.String() != s {
			t.Fatalf("accepted %q but prints %q", s, e.String())
		}
		c := newValueCipher(make([]byte, 32))
		_, _ = c.decrypt(s, "a:")
	})
}

// FuzzMetadata: parsing a document with a metadata block never panics, and
// a block that parses can be written and parsed again.
func FuzzMetadata(f *testing.F) {
	keys, recipient, _ := GenerateIdentity("fuzz")
	_ = keys
	enc, _ := Encrypt("f.yaml", []byte("a: b\n"), YAML, EncryptOptions{Recipients: []string{recipient}})
	f.Add(enc)
	f.Add([]byte("sops:\n  mac: x\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  age: [{recipient: r, enc: e}]\n"))
	f.Add([]byte("sops:\n  key_groups: [{age: [{recipient: r}]}]\n  shamir_threshold: 2\n"))
	f.Add([]byte("{\"sops\": {\"mac\": 1, \"lastmodified\": \"x\"}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data, YAML)
		if err != nil || file.Meta == nil {
			return
		}
		out, err := file.Bytes()
		if err != nil {
			return
		}
		again, err := Parse("f.yaml", out, YAML)
		if err != nil {
			t.Fatalf("re-parse of written metadata: %v\n%s", err, out)
		}
		if again.Meta.MAC != file.Meta.MAC || len(again.Meta.Age) != len(file.Meta.Age) {
			t.Fatalf("metadata changed on a round trip")
		}
	})
}

// FuzzParse: no input, in any format, crashes the parser, and a file that
// parses can be written and parsed again.
func FuzzParse(f *testing.F) {
	_, recipient, _ := GenerateIdentity("fuzz")
	for _, seed := range []struct {
		data   string
		format Format
	}{
		{"a: b\n# c\nl: [1, 2.5, true, null]\n", YAML},
		{`{"a": {"b": [1, "x", false]}, "sops": {"mac": "m"}}`, JSON},
		{"A=b\n#c\nsops_mac=x\nsops_age__list_0__map_recipient=r\n", Dotenv},
		{"\x00binary", Binary},
	} {
		f.Add([]byte(seed.data), uint8(seed.format))
		if enc, err := Encrypt("f", []byte(seed.data), seed.format, EncryptOptions{Recipients: []string{recipient}}); err == nil {
			f.Add(enc, uint8(seed.format))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		ft := Format(format % 4)
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("Parse hangs on %s input %q", ft, data))
			}
		}()
		file, err := Parse("f", data, ft)
		if err != nil {
			return
		}
		out, err := file.Bytes()
		if err != nil {
			t.Fatalf("%s: what parses cannot be written: %v\n%q", ft, err, data)
		}
		again, err := Parse("f", out, ft)
		if err != nil {
			t.Fatalf("%s: what we wrote does not parse: %v\n%q", ft, err, out)
		}
		// Values must survive; where a comment lands is best effort (a
		// comment after a key may move above it).
		if !reflect.DeepEqual(withoutComments(file.Docs), withoutComments(again.Docs)) {
			t.Fatalf("%s: what we wrote reads back as other values\n%q\n%q", ft, data, out)
		}
	})
}

// withoutComments is a copy of docs without their comments.
func withoutComments(docs []Branch) []any {
	var strip func(v any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case Branch:
			b := Branch{}
			for _, it := range v {
				if _, ok := it.Key.(Comment); !ok {
					b = append(b, Item{Key: it.Key, Value: strip(it.Value)})
				}
			}
			return b
		case []any:
			l := []any{}
			for _, e := range v {
				if _, ok := e.(Comment); !ok {
					l = append(l, strip(e))
				}
			}
			return l
		}
		return v
	}
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = strip(d)
	}
	return out
}
