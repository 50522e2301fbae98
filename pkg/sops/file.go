package sops

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// MaxFileSize bounds the files read and written.
const MaxFileSize = 16 << 20

// Format is a file format sops knows.
type Format int

// Formats.
const (
	YAML Format = iota
	JSON
	Dotenv
	Binary
)

func (f Format) String() string {
	return [...]string{"yaml", "json", "dotenv", "binary"}[f]
}

// FormatForPath picks the format from the file name as sops does: .yaml
// and .yml, .json, .env, anything else binary.
func FormatForPath(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".env":
		return Dotenv
	}
	return Binary
}

// ParseFormat reads a format name (yaml, json, dotenv, binary).
func ParseFormat(s string) (Format, error) {
	for f := YAML; f <= Binary; f++ {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown format %q; use yaml, json, dotenv or binary", s)
}

// File is a parsed file: its documents and, when encrypted, its metadata.
type File struct {
	Name   string
	Format Format
	Docs   []Branch
	Meta   *Metadata

	cipher *valueCipher
	// plain holds the text of every value Decrypt decrypted.
	plain []string
}

// DecryptedValues returns the plaintext of every value the last Decrypt
// decrypted (not comments), for a redactor to mask.
func (f *File) DecryptedValues() []string { return f.plain }

// MACError says that a file's content does not match its MAC: it was
// changed after it was encrypted.
type MACError struct{ File string }

func (e *MACError) Error() string {
	return e.File + ": MAC mismatch: the file was changed after it was encrypted (a value, a key or the MAC itself); restore it from Git or re-encrypt it from the plaintext. If a tool such as kustomize changed unencrypted fields (names, namespaces, labels), encrypt with mac_only_encrypted: true, or generate the Secret with the decrypt function"
}

// UnsupportedError says a file uses keys we do not handle.
type UnsupportedError struct {
	File   string
	Reason string
}

func (e *UnsupportedError) Error() string {
	return e.File + ": " + e.Reason + "; kubectl-gitops decrypts files encrypted for age recipients without key groups (use sops itself for the others, or add an age recipient with `sops updatekeys`)"
}

// Parse reads a file, encrypted or not.
func Parse(name string, data []byte, format Format) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", name, MaxFileSize>>20)
	}
	f := &File{Name: name, Format: format}
	var err error
	switch format {
	case YAML:
		f.Docs, err = loadYAML(data)
	case JSON, Binary:
		var b Branch
		if b, err = loadJSON(data); err == nil {
			f.Docs = []Branch{b}
		} else if format == Binary {
			// Not JSON, so not an encrypted binary file: a plain one.
			return plainBinary(name, data), nil
		}
	case Dotenv:
		var b Branch
		if b, err = loadDotenv(data); err == nil {
			f.Docs = []Branch{b}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	meta, err := f.extractMetadata()
	if format == Binary && (meta == nil || err != nil) {
		return plainBinary(name, data), nil // JSON, but not a sops file
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.Meta = meta
	return f, nil
}

func plainBinary(name string, data []byte) *File {
	return &File{Name: name, Format: Binary, Docs: []Branch{{{Key: "data", Value: string(data)}}}}
}

// IsEncryptedFile reports whether data, in format, carries sops metadata.
func IsEncryptedFile(data []byte, format Format) bool {
	f, err := Parse("", data, format)
	return err == nil && f.Meta != nil
}

func (f *File) extractMetadata() (*Metadata, error) {
	var meta Branch
	found := false
	if f.Format == Dotenv {
		if len(f.Docs) == 0 {
			return nil, nil
		}
		var keep, flat Branch
		for _, it := range f.Docs[0] {
			if k, ok := it.Key.(string); ok && strings.HasPrefix(k, flatPrefix) {
				flat = append(flat, Item{Key: k[len(flatPrefix):], Value: it.Value})
				continue
			}
			keep = append(keep, it)
		}
		f.Docs[0] = keep
		if len(flat) == 0 {
			return nil, nil
		}
		b, err := unflatten(flat)
		if err != nil {
			return nil, err
		}
		meta, found = b, true
	} else {
		// The metadata is in the first document (sops writes a copy into
		// every one); without it there, a sops key is the user's data.
		if len(f.Docs) == 0 {
			return nil, nil
		}
		for _, it := range f.Docs[0] {
			if it.Key == MetadataKey {
				b, ok := it.Value.(Branch)
				if !ok {
					return nil, errors.New("the sops key is not a mapping")
				}
				meta, found = b, true
			}
		}
		if !found {
			return nil, nil
		}
		for di, doc := range f.Docs {
			keep := doc[:0:0]
			for _, it := range doc {
				if it.Key != MetadataKey {
					keep = append(keep, it)
				}
			}
			f.Docs[di] = keep
		}
	}
	if !found {
		return nil, nil
	}
	return parseMetadata(meta)
}

// Bytes writes the file, with its metadata when encrypted.
func (f *File) Bytes() ([]byte, error) {
	docs := f.Docs
	if f.Meta != nil {
		mb := f.Meta.branch()
		docs = make([]Branch, len(f.Docs))
		for i, d := range f.Docs {
			nd := append(Branch(nil), d...)
			if f.Format == Dotenv {
				flatten(flatPrefix, mb, &nd)
			} else {
				nd = append(nd, Item{Key: MetadataKey, Value: mb})
			}
			docs[i] = nd
		}
	}
	switch f.Format {
	case YAML:
		return emitYAML(docs)
	case JSON:
		return emitJSON(docs[0])
	case Dotenv:
		return emitDotenv(docs[0])
	case Binary:
		if f.Meta != nil {
			return emitJSON(docs[0])
		}
		for _, it := range docs[0] {
			if it.Key == "data" {
				if s, ok := it.Value.(string); ok {
					return []byte(s), nil
				}
			}
		}
		return nil, fmt.Errorf("%s: binary file has no data", f.Name)
	}
	return nil, fmt.Errorf("unknown format")
}

// Decrypt opens the data key with keys, decrypts every value in place and
// verifies the MAC. On any error the file is left unusable, never half
// decrypted for the caller.
func (f *File) Decrypt(keys *Keys) error {
	if f.Meta == nil {
		return fmt.Errorf("%s: not encrypted (no sops metadata)", f.Name)
	}
	if f.Meta.KeyGroups || f.Meta.ShamirThreshold > 0 {
		return &UnsupportedError{File: f.Name, Reason: "the data key is split into key groups (Shamir secret sharing)"}
	}
	if len(f.Meta.Age) == 0 {
		reason := "the file has no age recipients"
		if len(f.Meta.OtherKeys) > 0 {
			reason = "the file is encrypted only for " + strings.Join(f.Meta.OtherKeys, ", ") + " keys"
		}
		return &UnsupportedError{File: f.Name, Reason: reason}
	}
	key, err := keys.dataKey(f.Name, f.Meta)
	if err != nil {
		return err
	}
	c := newValueCipher(key)
	rules := f.Meta.Rules.withDefault()
	re, err := rules.compile()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	docs := cloneDocs(f.Docs)
	mac := newMAC(rules.MACOnlyEncrypted)
	var plain []string
	for _, d := range docs {
		err := walkBranch(d, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			cm, isComment := v.(Comment)
			enc := rules.shouldEncrypt(path, comments, isComment, re)
			out := v
			if enc {
				if isComment {
					// Comments written unencrypted (older sops) stay.
					if dv, err := c.decrypt(cm.Value, additionalData(path)); err == nil {
						out = dv
					}
				} else {
					s, ok := v.(string)
					if !ok {
						return nil, fmt.Errorf("%s: value at %s should be encrypted but is a %T", f.Name, pathString(path), v)
					}
					dv, err := c.decrypt(s, additionalData(path))
					if errors.Is(err, errAuth) {
						return nil, &MACError{File: f.Name}
					}
					if err != nil {
						return nil, fmt.Errorf("%s: value at %s: %w", f.Name, pathString(path), err)
					}
					out = dv
					if b, err := macBytes(dv); err == nil && len(b) > 0 {
						plain = append(plain, string(b))
					}
				}
			}
			if !isComment && (!rules.MACOnlyEncrypted || enc) {
				if err := mac.add(out); err != nil {
					return nil, err
				}
			}
			return out, nil
		})
		if err != nil {
			return err
		}
	}
	stored, err := c.decrypt(f.Meta.MAC, f.Meta.LastModified.Format(time.RFC3339))
	if err != nil {
		return &MACError{File: f.Name}
	}
	s, ok := stored.(string)
	if !ok || subtle.ConstantTimeCompare([]byte(s), []byte(mac.sum())) != 1 {
		return &MACError{File: f.Name}
	}
	f.Docs = docs
	f.cipher = c
	f.plain = plain
	return nil
}

// Plaintext writes the decrypted documents without metadata.
func (f *File) Plaintext() ([]byte, error) {
	meta := f.Meta
	f.Meta = nil
	defer func() { f.Meta = meta }()
	return f.Bytes()
}

// EncryptOptions say whom to encrypt a new file for, and what to encrypt.
type EncryptOptions struct {
	Recipients []string
	Rules      Rules
}

// Encrypt encrypts a plain file for new recipients under a new data key.
func (f *File) Encrypt(opts EncryptOptions) error {
	if f.Meta != nil {
		return fmt.Errorf("%s: already encrypted", f.Name)
	}
	if len(opts.Recipients) == 0 {
		return fmt.Errorf("%s: no age recipients; pass --age-recipient or add a creation rule with age: to .sops.yaml", f.Name)
	}
	if err := opts.Rules.Validate(); err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	meta := &Metadata{Rules: opts.Rules.withDefault(), Version: formatVersion, other: map[string]any{}}
	for _, r := range opts.Recipients {
		st, err := wrapDataKey(key, r)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		meta.Age = append(meta.Age, st)
	}
	f.cipher = newValueCipher(key)
	f.Meta = meta
	return f.seal()
}

// seal encrypts the plaintext documents with the file's cipher and
// metadata, and sets the MAC and lastmodified.
func (f *File) seal() error {
	rules := f.Meta.Rules.withDefault()
	re, err := rules.compile()
	if err != nil {
		return err
	}
	docs := cloneDocs(f.Docs)
	mac := newMAC(rules.MACOnlyEncrypted)
	for _, d := range docs {
		err := walkBranch(d, nil, nil, func(v any, path []string, comments [][]string) (any, error) {
			_, isComment := v.(Comment)
			enc := rules.shouldEncrypt(path, comments, isComment, re)
			if !isComment && (!rules.MACOnlyEncrypted || enc) {
				if err := mac.add(v); err != nil {
					return nil, err
				}
			}
			if !enc {
				return v, nil
			}
			out, err := f.cipher.encrypt(v, additionalData(path))
			if err != nil {
				return nil, fmt.Errorf("value at %s: %w", pathString(path), err)
			}
			return out, nil
		})
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	f.Meta.LastModified = time.Now().UTC().Truncate(time.Second)
	sealed, err := f.cipher.encrypt(mac.sum(), f.Meta.LastModified.Format(time.RFC3339))
	if err != nil {
		return err
	}
	f.Meta.MAC = sealed
	f.Meta.Version = formatVersion
	f.Docs = docs
	return nil
}

// Reencrypt encrypts decrypted documents again, keeping the data key,
// recipients and rules (and each unchanged value's ciphertext).
func (f *File) Reencrypt() error {
	if f.cipher == nil || f.Meta == nil {
		return fmt.Errorf("%s: not decrypted", f.Name)
	}
	return f.seal()
}

// Rotate encrypts decrypted documents under a new data key for the file's
// age recipients plus add, minus rm.
func (f *File) Rotate(add, rm []string) error {
	if f.cipher == nil || f.Meta == nil {
		return fmt.Errorf("%s: not decrypted", f.Name)
	}
	if len(f.Meta.OtherKeys) > 0 {
		return &UnsupportedError{File: f.Name, Reason: "the file is also encrypted for " + strings.Join(f.Meta.OtherKeys, ", ") + " keys, which a new data key would have to be encrypted to"}
	}
	drop := map[string]bool{}
	for _, r := range rm {
		drop[strings.TrimSpace(r)] = true
	}
	var recipients []string
	seen := map[string]bool{}
	for _, r := range append(f.Meta.Recipients(), add...) {
		r = strings.TrimSpace(r)
		if drop[r] || seen[r] {
			continue
		}
		seen[r] = true
		recipients = append(recipients, r)
	}
	for r := range drop {
		if !contains(f.Meta.Recipients(), r) {
			return fmt.Errorf("%s: %s is not a recipient of the file (its recipients: %s)", f.Name, r, strings.Join(f.Meta.Recipients(), ", "))
		}
	}
	if len(recipients) == 0 {
		return fmt.Errorf("%s: removing every recipient would leave nobody able to decrypt it; add one with --add-recipient", f.Name)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	var stanzas []AgeStanza
	for _, r := range recipients {
		st, err := wrapDataKey(key, r)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		stanzas = append(stanzas, st)
	}
	f.Meta.Age = stanzas
	f.cipher = newValueCipher(key)
	return f.seal()
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

type macHash struct {
	h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
}

// macOnlyEncryptedInit starts the MAC of mac_only_encrypted files, so it
// differs from a full MAC over the same values (the bytes sops uses).
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

func newMAC(onlyEncrypted bool) *macHash {
	m := &macHash{h: sha512.New()}
	if onlyEncrypted {
		m.h.Write(macOnlyEncryptedInit)
	}
	return m
}

func (m *macHash) add(v any) error {
	b, err := macBytes(v)
	if err != nil {
		return err
	}
	m.h.Write(b)
	return nil
}

func (m *macHash) sum() string { return fmt.Sprintf("%X", m.h.Sum(nil)) }

func cloneDocs(docs []Branch) []Branch {
	out := make([]Branch, len(docs))
	for i, d := range docs {
		out[i] = cloneValue(d).(Branch)
	}
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case Branch:
		out := make(Branch, len(v))
		for i, it := range v {
			out[i] = Item{Key: it.Key, Value: cloneValue(it.Value)}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	}
	return v
}

// EncryptedValues counts the values (not comments) of an encrypted file
// that are encrypted.
func (f *File) EncryptedValues() int {
	n := 0
	for _, d := range f.Docs {
		_ = walkBranch(cloneValue(d).(Branch), nil, nil, func(v any, _ []string, _ [][]string) (any, error) {
			if s, ok := v.(string); ok && IsEncrypted(s) {
				n++
			}
			return v, nil
		})
	}
	return n
}
