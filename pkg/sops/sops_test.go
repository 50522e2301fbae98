package sops

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: s3cr3t-p4ss
  port: 5432
  tls: true
`

func testKeys(t *testing.T) (*Keys, string) {
	t.Helper()
	key, recipient, err := GenerateIdentity("test")
	if err != nil {
		t.Fatal(err)
	}
	k := &Keys{}
	if err := k.Add("test key", key); err != nil {
		t.Fatal(err)
	}
	return k, recipient
}

func encryptForTest(t *testing.T, recipient string, rules Rules) []byte {
	t.Helper()
	enc, err := Encrypt("db.yaml", []byte(plainSecret), YAML, EncryptOptions{Recipients: []string{recipient}, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func lineWith(t *testing.T, data []byte, substr string) string {
	t.Helper()
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	t.Fatalf("no line with %q in\n%s", substr, data)
	return ""
}

// flipInBase64 changes one byte of the base64 field named field on line.
func flipInBase64(t *testing.T, line, field string) string {
	t.Helper()
	i := strings.Index(line, field+":")
	if i < 0 {
		t.Fatalf("no %s in %s", field, line)
	}
	start := i + len(field) + 1
	end := start + strings.IndexByte(line[start:], ',')
	raw, err := base64.StdEncoding.DecodeString(line[start:end])
	if err != nil {
		t.Fatal(err)
	}
	raw[0] ^= 0x01
	return line[:start] + base64.StdEncoding.EncodeToString(raw) + line[end:]
}

func TestTamperedFilesAreRefused(t *testing.T) {
	keys, recipient := testKeys(t)
	enc := encryptForTest(t, recipient, Rules{EncryptedRegex: "^stringData$"})
	if _, err := Decrypt("db.yaml", enc, YAML, keys); err != nil {
		t.Fatalf("untampered file: %v", err)
	}
	pw := lineWith(t, enc, "password:")
	mac := lineWith(t, enc, "mac:")
	cases := map[string][]byte{
		"value data byte":            []byte(strings.Replace(string(enc), pw, flipInBase64(t, pw, "data"), 1)),
		"value tag byte":             []byte(strings.Replace(string(enc), pw, flipInBase64(t, pw, "tag"), 1)),
		"MAC byte":                   []byte(strings.Replace(string(enc), mac, flipInBase64(t, mac, "data"), 1)),
		"unencrypted value changed":  []byte(strings.Replace(string(enc), "name: db", "name: other", 1)),
		"value moved to another key": []byte(strings.Replace(string(enc), "password:", "passwd:", 1)),
		"lastmodified changed":       []byte(strings.Replace(string(enc), `lastmodified: "20`, `lastmodified: "19`, 1)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decrypt("db.yaml", data, YAML, keys)
			var me *MACError
			if !errors.As(err, &me) {
				t.Fatalf("want a MAC error, got %v", err)
			}
			if !strings.HasPrefix(err.Error(), "db.yaml: MAC mismatch") || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error: %v", err)
			}
		})
	}
}

func TestMACOnlyEncryptedAllowsChangesToPlainValues(t *testing.T) {
	keys, recipient := testKeys(t)
	enc := encryptForTest(t, recipient, Rules{EncryptedRegex: "^stringData$", MACOnlyEncrypted: true})
	changed := strings.Replace(string(enc), "name: db", "name: prefix-db\n    namespace: prod", 1)
	out, err := Decrypt("db.yaml", []byte(changed), YAML, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "name: prefix-db") || !strings.Contains(string(out), "password: s3cr3t-p4ss") {
		t.Fatalf("decrypted:\n%s", out)
	}
	pw := lineWith(t, enc, "password:")
	if _, err := Decrypt("db.yaml", []byte(strings.Replace(changed, pw, flipInBase64(t, pw, "data"), 1)), YAML, keys); err == nil {
		t.Fatal("a changed encrypted value was accepted under mac_only_encrypted")
	}
}

func TestWrongKeyNamesRecipients(t *testing.T) {
	_, recipient := testKeys(t)
	other, otherRecipient := testKeys(t)
	enc := encryptForTest(t, recipient, Rules{})
	_, err := Decrypt("secrets/db.yaml", enc, YAML, other)
	var nk *NoKeyError
	if !errors.As(err, &nk) {
		t.Fatalf("want NoKeyError, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"secrets/db.yaml", recipient, "SOPS_AGE_KEY_FILE", "--age-key-file", "test key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, otherRecipient) {
		t.Errorf("error names the wrong key's recipient as a file recipient: %s", msg)
	}
	// Keys from elsewhere (a tenant's Secret) say where to put the key,
	// never the flags.
	other.SetAdvice("put it in Secret team-a/gitops-age-key")
	_, err = Decrypt("secrets/db.yaml", enc, YAML, other)
	if msg := err.Error(); !strings.HasSuffix(msg, "; put it in Secret team-a/gitops-age-key") || strings.Contains(msg, "--age-key-file") || strings.Contains(msg, "SOPS_AGE_KEY") {
		t.Errorf("with advice: %s", msg)
	}
	// No keys at all.
	keys, err := LoadKeys(KeySources{Getenv: func(string) string { return "" }, DefaultFile: t.TempDir() + "/keys.txt"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decrypt("db.yaml", enc, YAML, keys)
	if err == nil || !strings.Contains(err.Error(), "SOPS_AGE_KEY (unset)") || !strings.Contains(err.Error(), "keys.txt (missing)") {
		t.Fatalf("error: %v", err)
	}
}

func TestKeysFromEnvironment(t *testing.T) {
	key, recipient, _ := GenerateIdentity("test")
	enc := encryptForTest(t, recipient, Rules{})
	dir := t.TempDir()
	file := dir + "/k.txt"
	if err := writeFile(file, key); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]map[string]string{
		"SOPS_AGE_KEY":      {EnvAgeKey: string(key)},
		"SOPS_AGE_KEY_FILE": {EnvAgeKeyFile: file},
	} {
		t.Run(name, func(t *testing.T) {
			keys, err := LoadKeys(KeySources{Getenv: func(k string) string { return env[k] }, DefaultFile: dir + "/none.txt"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decrypt("db.yaml", enc, YAML, keys); err != nil {
				t.Fatal(err)
			}
		})
	}
	keys, err := LoadKeys(KeySources{Getenv: func(string) string { return "" }, DefaultFile: file})
	if err != nil || keys.Len() != 1 {
		t.Fatalf("default key file: %v, %d keys", err, keys.Len())
	}
	if _, err := LoadKeys(KeySources{Files: []string{dir + "/missing.txt"}, Getenv: func(string) string { return "" }}); err == nil {
		t.Fatal("a missing --age-key-file was accepted")
	}
	_, err = LoadKeys(KeySources{Getenv: func(k string) string {
		if k == EnvAgeKey {
			return "AGE-SECRET-KEY-1NOTAKEY"
		}
		return ""
	}})
	if err == nil || strings.Contains(err.Error(), "NOTAKEY") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestUnsupportedKeysAreRefused(t *testing.T) {
	keys, recipient := testKeys(t)
	enc := string(encryptForTest(t, recipient, Rules{}))
	// Keep the age stanza's place but replace it with a PGP one.
	start := strings.Index(enc, "    age:")
	end := strings.Index(enc, "    lastmodified:")
	pgpOnly := enc[:start] + "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          enc: x\n          fp: ABCDEF\n" + enc[end:]
	_, err := Decrypt("db.yaml", []byte(pgpOnly), YAML, keys)
	var ue *UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "only for pgp keys") {
		t.Fatalf("pgp-only file: %v", err)
	}
	groups := enc[:start] + "    key_groups:\n        - age:\n            - recipient: " + recipient + "\n              enc: x\n    shamir_threshold: 1\n" + enc[end:]
	if _, err := Decrypt("db.yaml", []byte(groups), YAML, keys); !errors.As(err, &ue) || !strings.Contains(err.Error(), "key groups") {
		t.Fatalf("key groups: %v", err)
	}
	// age plus pgp decrypts with the age key, but cannot be rotated.
	both := enc[:end] + "    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          enc: x\n          fp: ABCDEF\n" + enc[end:]
	f, err := Parse("db.yaml", []byte(both), YAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Decrypt(keys); err != nil {
		t.Fatal(err)
	}
	if err := f.Rotate(nil, nil); !errors.As(err, &ue) {
		t.Fatalf("rotate of an age+pgp file: %v", err)
	}
	// Editing keeps the data key, so the pgp stanza stays valid and is kept.
	if err := f.Reencrypt(); err != nil {
		t.Fatal(err)
	}
	out, _ := f.Bytes()
	if !strings.Contains(string(out), "fp: ABCDEF") {
		t.Fatalf("edit dropped the pgp stanza:\n%s", out)
	}
}

func TestInputIsBounded(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	if _, err := Parse("big.yaml", big, YAML); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func TestNotEncryptedValueWhereRulesSayEncrypted(t *testing.T) {
	keys, recipient := testKeys(t)
	enc := string(encryptForTest(t, recipient, Rules{}))
	pw := lineWith(t, []byte(enc), "password:")
	_, err := Decrypt("db.yaml", []byte(strings.Replace(enc, pw, "    password: plain-value-x", 1)), YAML, keys)
	if err == nil || !strings.Contains(err.Error(), "stringData.password") || strings.Contains(err.Error(), "plain-value-x") {
		t.Fatalf("err = %v", err)
	}
}

func TestDotenvMetadataRoundTrip(t *testing.T) {
	meta := Branch{
		{Key: "age", Value: []any{Branch{{Key: "enc", Value: "a\nb"}, {Key: "recipient", Value: "age1x"}}}},
		{Key: "lastmodified", Value: "2024-01-01T00:00:00Z"},
		{Key: "mac", Value: "m"},
	}
	var flat Branch
	flatten("", meta, &flat)
	want := []string{"age__list_0__map_enc", "age__list_0__map_recipient", "lastmodified", "mac"}
	for i, it := range flat {
		if it.Key != want[i] {
			t.Fatalf("flat keys: %v", flat)
		}
	}
	back, err := unflatten(flat)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMetadata(back)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Age) != 1 || m.Age[0].Enc != "a\nb" || m.Age[0].Recipient != "age1x" {
		t.Fatalf("age: %+v", m.Age)
	}
	if _, err := unflatten(Branch{{Key: "a", Value: "1"}, {Key: "a__map_b", Value: "2"}}); err == nil {
		t.Fatal("a key that is both a value and a mapping was accepted")
	}
}

func TestRulesValidate(t *testing.T) {
	for _, tc := range []struct {
		rules Rules
		err   string
	}{
		{Rules{}, ""},
		{Rules{EncryptedRegex: "^data$"}, ""},
		{Rules{EncryptedRegex: "^data$", UnencryptedSuffix: "_x"}, "use only one of"},
		{Rules{EncryptedRegex: "("}, `encrypted_regex "("`},
	} {
		err := tc.rules.Validate()
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: err = %v, want %q", tc.rules, err, tc.err)
		}
	}
}

func writeFile(p string, data []byte) error { return os.WriteFile(p, data, 0o600) }

// Hostile or broken input is an error naming no value, never a crash or a
// stall.
func TestBadInput(t *testing.T) {
	_, recipient := testKeys(t)
	deep := `{"sops": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	if _, err := Parse("deep.json", []byte(deep), JSON); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("deep JSON: %v", err)
	}
	if _, err := Parse("deep.bin", []byte(deep), Binary); err != nil {
		t.Errorf("a deep JSON binary file is plain data: %v", err)
	}
	// Each level doubles the nodes an alias expansion visits.
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x]\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
	}
	if _, err := Parse("bomb.yaml", []byte(bomb.String()), YAML); err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("alias bomb: %v", err)
	}
	for name, doc := range map[string]string{
		"tagged value": "password: !!int hunter2secret\n",
		"float":        "password: !!float hunter2secret\n",
	} {
		_, err := Encrypt("s.yaml", []byte(doc), YAML, EncryptOptions{Recipients: []string{recipient}})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Parse("dup.yaml", []byte("a: 1\nb: 2\na: 3\n"), YAML); err == nil || !strings.Contains(err.Error(), `key "a" is given twice`) {
		t.Errorf("duplicate key: %v", err)
	}
	key, _, _ := GenerateIdentity("t")
	secretKey := strings.TrimSpace(string(key[strings.Index(string(key), "AGE-SECRET-KEY"):]))
	if _, err := ParseRecipient(secretKey); err == nil || strings.Contains(err.Error(), secretKey) || !strings.Contains(err.Error(), "private key") {
		t.Errorf("a private key as recipient: %v", err)
	}
}

func TestSopsKeyIsDataUnlessInFirstDocument(t *testing.T) {
	f, err := Parse("m.yaml", []byte("a: 1\n---\nsops: {note: mine}\nb: 2\n"), YAML)
	if err != nil || f.Meta != nil {
		t.Fatalf("parse: %v, meta %v", err, f.Meta)
	}
	out, _ := f.Bytes()
	if !strings.Contains(string(out), "note: mine") {
		t.Fatalf("the second document's sops key was dropped:\n%s", out)
	}
	b, err := Parse("x.bin", []byte(`{"sops": "not metadata", "data": "x"}`), Binary)
	if err != nil || b.Meta != nil {
		t.Fatalf("binary JSON with a sops key that is not metadata: %v", err)
	}
}

// OnlyFiles: the keys of the environment and of sops' default file are not
// read, however they are set (a tenant's render chose its keys).
func TestOnlyFilesIgnoresEnvironmentAndDefault(t *testing.T) {
	key, recipient, _ := GenerateIdentity("test")
	enc := encryptForTest(t, recipient, Rules{})
	dir := t.TempDir()
	file := dir + "/k.txt"
	if err := writeFile(file, key); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvAgeKey: string(key), EnvAgeKeyFile: file}
	keys, err := LoadKeys(KeySources{Getenv: func(k string) string { return env[k] }, DefaultFile: file, OnlyFiles: true})
	if err != nil || keys.Len() != 0 {
		t.Fatalf("OnlyFiles without files: %v, %d keys; want none", err, keys.Len())
	}
	if _, err := Decrypt("db.yaml", enc, YAML, keys); err == nil {
		t.Fatal("decrypted with keys it was told not to read")
	}
	keys, err = LoadKeys(KeySources{Files: []string{file}, Getenv: func(k string) string { return env[k] }, OnlyFiles: true})
	if err != nil || keys.Len() != 1 {
		t.Fatalf("OnlyFiles with a file: %v, %d keys; want its one", err, keys.Len())
	}
}
