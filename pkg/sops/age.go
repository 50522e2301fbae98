package sops

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Key sources, as sops reads them.
const (
	EnvAgeKey     = "SOPS_AGE_KEY"
	EnvAgeKeyFile = "SOPS_AGE_KEY_FILE"
	// maxKeyFile bounds a key file.
	maxKeyFile = 1 << 20
)

// DefaultKeyFile is where sops looks for age keys when no variable is set:
// $XDG_CONFIG_HOME/sops/age/keys.txt (on macOS, XDG_CONFIG_HOME if set,
// else ~/Library/Application Support; on Windows %AppData%).
func DefaultKeyFile() (string, error) {
	if runtime.GOOS == "darwin" {
		if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
			return filepath.Join(d, "sops", "age", "keys.txt"), nil
		}
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "sops", "age", "keys.txt"), nil
}

// Identity is an age identity and where it came from.
type Identity struct {
	age.Identity
	// Recipient is the identity's public key, when it has one.
	Recipient string
	// Source names where it was read (a file, a variable, a Secret).
	Source string
}

// Keys holds the identities that may open data keys, and the places that
// were looked at, for errors.
type Keys struct {
	ids    []Identity
	looked []string
	advice string
}

// SetAdvice replaces what a NoKeyError says to do (by default: set
// $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY, or pass --age-key-file), for keys
// that come from somewhere else, such as a tenant's Secret.
func (k *Keys) SetAdvice(advice string) { k.advice = advice }

// KeySources says where LoadKeys looks. Files named explicitly must exist.
type KeySources struct {
	// Files are key files named by the user (--age-key-file).
	Files []string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// DefaultFile overrides DefaultKeyFile (tests).
	DefaultFile string
	// OnlyFiles reads Files alone: not the environment, not the default
	// key file (the keys a caller chose, such as a tenant's).
	OnlyFiles bool
}

// LoadKeys reads identities from the named files, SOPS_AGE_KEY,
// SOPS_AGE_KEY_FILE and sops' default keys.txt, in that order. Having none
// is not an error here: decrypting a file then says what to do.
func LoadKeys(src KeySources) (*Keys, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	k := &Keys{}
	for _, f := range src.Files {
		if err := k.AddFile(f, true); err != nil {
			return nil, err
		}
	}
	if src.OnlyFiles {
		return k, nil
	}
	if v := getenv(EnvAgeKey); v != "" {
		if err := k.Add(EnvAgeKey, []byte(v)); err != nil {
			return nil, err
		}
	} else {
		k.looked = append(k.looked, EnvAgeKey+" (unset)")
	}
	if f := getenv(EnvAgeKeyFile); f != "" {
		if err := k.AddFile(f, true); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvAgeKeyFile, err)
		}
	} else {
		k.looked = append(k.looked, EnvAgeKeyFile+" (unset)")
	}
	def := src.DefaultFile
	if def == "" {
		def, _ = DefaultKeyFile()
	}
	if def != "" {
		if err := k.AddFile(def, false); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// AddFile reads identities from a key file. A missing file is an error
// only when required.
func (k *Keys) AddFile(path string, required bool) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			k.looked = append(k.looked, path+" (missing)")
			return nil
		}
		return fmt.Errorf("age key file %s: %w", path, errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return fmt.Errorf("age key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return fmt.Errorf("age key file %s is larger than 1 MiB; it is not a key file", path)
	}
	return k.Add(path, data)
}

// Add parses identities (AGE-SECRET-KEY-1... lines; # comments) read from
// source.
func (k *Keys) Add(source string, data []byte) error {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's parse errors never quote the key material.
		return fmt.Errorf("age identities in %s: %w", source, err)
	}
	for _, id := range ids {
		k.ids = append(k.ids, Identity{Identity: id, Recipient: recipientOf(id), Source: source})
	}
	k.looked = append(k.looked, source)
	return nil
}

// Len is the number of identities.
func (k *Keys) Len() int { return len(k.ids) }

func recipientOf(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	return ""
}

// NoKeyError says that none of the identities opens a file's data key.
type NoKeyError struct {
	File       string
	Recipients []string
	Looked     []string
	// Advice is what to do; empty says the flags and environment.
	Advice string
}

func (e *NoKeyError) Error() string {
	looked := "nowhere"
	if len(e.Looked) > 0 {
		looked = strings.Join(e.Looked, ", ")
	}
	advice := e.Advice
	if advice == "" {
		advice = fmt.Sprintf("set %s or %s, or pass --age-key-file, with the key of one of those recipients", EnvAgeKeyFile, EnvAgeKey)
	}
	return fmt.Sprintf("%s: no age identity for its recipients %s (looked in %s); %s", e.File, strings.Join(e.Recipients, ", "), looked, advice)
}

// dataKey opens the file's data key with the first identity that can.
func (k *Keys) dataKey(file string, m *Metadata) ([]byte, error) {
	if k != nil {
		// Identities whose recipient matches a stanza first; identities
		// without a known recipient are tried on every stanza.
		for _, pass := range []bool{true, false} {
			for _, st := range m.Age {
				for _, id := range k.ids {
					if pass != (id.Recipient == st.Recipient) || (!pass && id.Recipient != "") {
						continue
					}
					key, err := unwrapDataKey(st.Enc, id.Identity)
					if err == nil {
						return key, nil
					}
				}
			}
		}
	}
	e := &NoKeyError{File: file, Recipients: m.Recipients()}
	if k != nil {
		e.Looked, e.Advice = k.looked, k.advice
	}
	return nil, e
}

func unwrapDataKey(enc string, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), id)
	if err != nil {
		return nil, err
	}
	key, err := io.ReadAll(io.LimitReader(r, 64))
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("data key is %d bytes, want 32", len(key))
	}
	return key, nil
}

// ParseRecipient checks an age recipient (age1...).
func ParseRecipient(s string) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
		// Never echo it: it is a private key.
		return nil, errors.New("a private key (AGE-SECRET-KEY-...) was given as a recipient; give its public recipient (age1...), which 'kubectl gitops secret keygen' or 'age-keygen -y' prints, and keep the private key out of commands and .sops.yaml")
	case !strings.HasPrefix(s, "age1"):
		return nil, errors.New("a recipient is not an age recipient (age1...); only age keys are supported")
	}
	rs, err := age.ParseRecipients(strings.NewReader(s))
	if err != nil || len(rs) != 1 {
		return nil, fmt.Errorf("recipient %q is not a valid age recipient", s)
	}
	return rs[0], nil
}

// wrapDataKey encrypts the data key to one recipient, armored.
func wrapDataKey(dataKey []byte, recipient string) (AgeStanza, error) {
	r, err := ParseRecipient(recipient)
	if err != nil {
		return AgeStanza{}, err
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return AgeStanza{}, err
	}
	if _, err := w.Write(dataKey); err != nil {
		return AgeStanza{}, err
	}
	if err := w.Close(); err != nil {
		return AgeStanza{}, err
	}
	if err := aw.Close(); err != nil {
		return AgeStanza{}, err
	}
	return AgeStanza{Recipient: strings.TrimSpace(recipient), Enc: buf.String()}, nil
}

// SplitRecipients splits a comma- or whitespace-separated list, as
// .sops.yaml and --age take it, dropping duplicates, in order.
func SplitRecipients(lists ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, r := range strings.FieldsFunc(l, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r' }) {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// GenerateIdentity makes a new X25519 identity and returns the key file
// content (with the recipient in a comment, as age-keygen writes it) and
// the recipient.
func GenerateIdentity(created string) (keyFile []byte, recipient string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, "", err
	}
	recipient = id.Recipient().String()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n# public key: %s\n%s\n", created, recipient, id.String())
	return b.Bytes(), recipient, nil
}

func sortedUnique(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i, s := range out {
		if i == 0 || s != out[j-1] {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// Fingerprint identifies the identities (a hash of their text forms and
// recipients, never the keys themselves): renders decrypted with other keys
// are told apart by it. Empty for no identities.
func (k *Keys) Fingerprint() string {
	if k == nil || len(k.ids) == 0 {
		return ""
	}
	h := sha256.New()
	for _, id := range k.ids {
		if s, ok := id.Identity.(fmt.Stringer); ok {
			io.WriteString(h, s.String())
		}
		fmt.Fprintf(h, "\x00%s\x00", id.Recipient)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteFile writes every identity to a new key file of mode 0600, for a
// process that reads keys from a file (our own decrypt function run by
// kustomize). Identities without a text form are skipped.
func (k *Keys) WriteFile(path string) error {
	var b bytes.Buffer
	for _, id := range k.ids {
		if s, ok := id.Identity.(fmt.Stringer); ok {
			fmt.Fprintf(&b, "# from %s\n%s\n", id.Source, s.String())
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}
