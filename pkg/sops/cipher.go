package sops

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	encPrefix = "ENC[AES256_GCM,"
	// nonceSize is the GCM nonce length sops uses (not the usual 12).
	nonceSize = 32
	tagSize   = 16
	// maxValueSize bounds one encrypted value (the whole file is bounded
	// by MaxFileSize anyway).
	maxValueSize = MaxFileSize
)

// encrypted is a parsed ENC[AES256_GCM,data:...,iv:...,tag:...,type:...].
type encrypted struct {
	data, iv, tag []byte
	typ           string
}

var valueTypes = map[string]bool{"str": true, "int": true, "float": true, "bool": true, "bytes": true, "time": true, "comment": true}

// IsEncrypted reports whether s has the form of a sops-encrypted value.
func IsEncrypted(s string) bool { return strings.HasPrefix(s, encPrefix) }

// parseEncrypted parses an encrypted value. It is strict: the four fields
// in sops' order, standard base64, a 16-byte tag, a non-empty IV and a
// known type. Base64 must be canonical, so one value has one spelling.
func parseEncrypted(s string) (encrypted, error) {
	var e encrypted
	if !strings.HasPrefix(s, encPrefix) || !strings.HasSuffix(s, "]") {
		return e, errors.New("not an ENC[AES256_GCM,...] value")
	}
	if len(s) > maxValueSize {
		return e, errors.New("encrypted value is too large")
	}
	fields := strings.Split(s[len(encPrefix):len(s)-1], ",")
	want := []string{"data:", "iv:", "tag:", "type:"}
	if len(fields) != len(want) {
		return e, fmt.Errorf("encrypted value has %d fields, want data, iv, tag and type", len(fields))
	}
	var raw [3][]byte
	for i, name := range want {
		if !strings.HasPrefix(fields[i], name) {
			return e, fmt.Errorf("encrypted value: field %d is not %q", i+1, strings.TrimSuffix(name, ":"))
		}
		v := fields[i][len(name):]
		if i == 3 {
			if !valueTypes[v] {
				return e, fmt.Errorf("encrypted value has unknown type %q", v)
			}
			e.typ = v
			continue
		}
		// Strict still skips CR and LF; a canonical value has none.
		b, err := base64.StdEncoding.Strict().DecodeString(v)
		if err != nil || strings.ContainsAny(v, "\r\n") {
			return e, fmt.Errorf("encrypted value: %s is not base64", strings.TrimSuffix(name, ":"))
		}
		raw[i] = b
	}
	e.data, e.iv, e.tag = raw[0], raw[1], raw[2]
	if len(e.iv) == 0 {
		return e, errors.New("encrypted value has an empty iv")
	}
	if len(e.tag) != tagSize {
		return e, fmt.Errorf("encrypted value has a %d-byte tag, want %d", len(e.tag), tagSize)
	}
	return e, nil
}

func (e encrypted) String() string {
	return encPrefix + "data:" + base64.StdEncoding.EncodeToString(e.data) +
		",iv:" + base64.StdEncoding.EncodeToString(e.iv) +
		",tag:" + base64.StdEncoding.EncodeToString(e.tag) +
		",type:" + e.typ + "]"
}

// ivKey names a plaintext at a path, so an edit that leaves a value alone
// re-encrypts it to the same text (sops does the same).
type ivKey struct {
	aad, typ, plain string
}

// valueCipher seals and opens values under one data key.
type valueCipher struct {
	key []byte
	// ivs remembers the IV of each value decrypted, for reuse when the
	// same plaintext at the same path is encrypted again.
	ivs map[ivKey][]byte
}

func newValueCipher(key []byte) *valueCipher {
	return &valueCipher{key: key, ivs: map[ivKey][]byte{}}
}

func (c *valueCipher) gcm(nonce int) (cipher.AEAD, error) {
	block, err := aes.NewCipher(c.key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithNonceSize(block, nonce)
}

// plainForm is the type name and bytes a value is encrypted as.
func plainForm(v any) (string, []byte, error) {
	switch v := v.(type) {
	case string:
		return "str", []byte(v), nil
	case int:
		return "int", []byte(strconv.Itoa(v)), nil
	case float64:
		return "float", []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		b, err := macBytes(v)
		return "bool", b, err
	case []byte:
		return "bytes", v, nil
	case time.Time:
		b, err := v.MarshalText()
		return "time", b, err
	case Comment:
		return "comment", []byte(v.Value), nil
	}
	return "", nil, fmt.Errorf("cannot encrypt a %T", v)
}

// encrypt seals v with aad. Empty strings and comments stay empty, as in
// sops.
func (c *valueCipher) encrypt(v any, aad string) (string, error) {
	typ, plain, err := plainForm(v)
	if err != nil {
		return "", err
	}
	if len(plain) == 0 && (typ == "str" || typ == "bytes" || typ == "comment") {
		return "", nil
	}
	iv, ok := c.ivs[ivKey{aad, typ, string(plain)}]
	if !ok {
		iv = make([]byte, nonceSize)
		if _, err := rand.Read(iv); err != nil {
			return "", err
		}
	}
	aead, err := c.gcm(len(iv))
	if err != nil {
		return "", err
	}
	sealed := aead.Seal(nil, iv, plain, []byte(aad))
	e := encrypted{data: sealed[:len(sealed)-tagSize], tag: sealed[len(sealed)-tagSize:], iv: iv, typ: typ}
	return e.String(), nil
}

// errAuth is returned when a value does not open under the key: it or its
// path was changed, or the key is not this file's.
var errAuth = errors.New("value does not authenticate (changed, moved, or encrypted under another key)")

// decrypt opens an encrypted value and returns it with its type restored.
func (c *valueCipher) decrypt(s, aad string) (any, error) {
	if s == "" {
		return "", nil
	}
	e, err := parseEncrypted(s)
	if err != nil {
		return nil, err
	}
	aead, err := c.gcm(len(e.iv))
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, e.iv, append(append([]byte{}, e.data...), e.tag...), []byte(aad))
	if err != nil {
		return nil, errAuth
	}
	c.ivs[ivKey{aad, e.typ, string(plain)}] = e.iv
	text := string(plain)
	switch e.typ {
	case "str":
		return text, nil
	case "int":
		n, err := strconv.Atoi(text)
		if err != nil {
			return nil, fmt.Errorf("decrypted int value is not an integer")
		}
		return n, nil
	case "float":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("decrypted float value is not a number")
		}
		return f, nil
	case "bool":
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("decrypted bool value is not a boolean")
		}
		return b, nil
	case "bytes":
		return plain, nil
	case "time":
		var t time.Time
		if err := t.UnmarshalText(plain); err != nil {
			return nil, fmt.Errorf("decrypted time value is not a timestamp")
		}
		return t, nil
	case "comment":
		return Comment{Value: text}, nil
	}
	return nil, fmt.Errorf("unknown value type %q", e.typ)
}
