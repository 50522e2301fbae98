package sops

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MetadataKey is the top-level key of the metadata block.
const MetadataKey = "sops"

// DefaultUnencryptedSuffix applies when a file names no rule.
const DefaultUnencryptedSuffix = "_unencrypted"

// formatVersion is the sops version we write; what we write is what sops
// 3.13 writes for age.
const formatVersion = "3.13.2"

// Rules choose which values are encrypted. At most one is set.
type Rules struct {
	UnencryptedSuffix       string
	EncryptedSuffix         string
	UnencryptedRegex        string
	EncryptedRegex          string
	UnencryptedCommentRegex string
	EncryptedCommentRegex   string
	// MACOnlyEncrypted makes the MAC cover only encrypted values, so
	// tools may change the others (labels, names) without breaking it.
	MACOnlyEncrypted bool
}

func (r Rules) count() int {
	n := 0
	for _, s := range []string{r.UnencryptedSuffix, r.EncryptedSuffix, r.UnencryptedRegex, r.EncryptedRegex, r.UnencryptedCommentRegex, r.EncryptedCommentRegex} {
		if s != "" {
			n++
		}
	}
	return n
}

// Validate checks that at most one rule is set and its regex compiles.
func (r Rules) Validate() error {
	if r.count() > 1 {
		return errors.New("use only one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex and unencrypted_comment_regex")
	}
	for name, re := range map[string]string{"encrypted_regex": r.EncryptedRegex, "unencrypted_regex": r.UnencryptedRegex, "encrypted_comment_regex": r.EncryptedCommentRegex, "unencrypted_comment_regex": r.UnencryptedCommentRegex} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("%s %q: %w", name, re, err)
		}
	}
	return nil
}

// withDefault returns r, with sops' default unencrypted suffix when no rule
// is set.
func (r Rules) withDefault() Rules {
	if r.count() == 0 {
		r.UnencryptedSuffix = DefaultUnencryptedSuffix
	}
	return r
}

// AgeStanza is the data key encrypted to one age recipient.
type AgeStanza struct {
	Recipient string
	// Enc is the armored age file holding the data key.
	Enc string
}

// Metadata is the `sops` block of a file.
type Metadata struct {
	Rules
	Age          []AgeStanza
	LastModified time.Time
	// MAC is the encrypted MAC, ENC[...].
	MAC     string
	Version string
	// OtherKeys lists the kinds of non-age keys the file also holds (pgp,
	// kms, ...), whose stanzas are kept as they are.
	OtherKeys []string
	// KeyGroups is set when the data key is split into key groups.
	KeyGroups       bool
	ShamirThreshold int

	other map[string]any
}

// Recipients lists the age recipients of the file.
func (m *Metadata) Recipients() []string {
	out := make([]string, 0, len(m.Age))
	for _, a := range m.Age {
		out = append(out, a.Recipient)
	}
	return out
}

var otherKeyKinds = []string{"pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"}

func toGo(v any) any {
	switch v := v.(type) {
	case Branch:
		m := map[string]any{}
		for _, it := range v {
			if k, ok := it.Key.(string); ok {
				m[k] = toGo(it.Value)
			}
		}
		return m
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if _, ok := e.(Comment); !ok {
				out = append(out, toGo(e))
			}
		}
		return out
	}
	return v
}

func fromGo(v any) any {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b := make(Branch, 0, len(keys))
		for _, k := range keys {
			b = append(b, Item{Key: k, Value: fromGo(v[k])})
		}
		return b
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = fromGo(e)
		}
		return out
	}
	return v
}

func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		return v.Format(time.RFC3339)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func isEmptyList(v any) bool {
	l, ok := v.([]any)
	return v == nil || (ok && len(l) == 0)
}

// parseMetadata reads a metadata block.
func parseMetadata(b Branch) (*Metadata, error) {
	m := &Metadata{other: map[string]any{}}
	raw, _ := toGo(b).(map[string]any)
	for k, v := range raw {
		s := scalarString(v)
		switch k {
		case "age":
			list, ok := v.([]any)
			if !ok && v != nil {
				return nil, errors.New("sops.age is not a list")
			}
			for i, e := range list {
				entry, ok := e.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("sops.age[%d] is not a mapping", i)
				}
				st := AgeStanza{Recipient: scalarString(entry["recipient"]), Enc: scalarString(entry["enc"])}
				if st.Recipient == "" || st.Enc == "" {
					return nil, fmt.Errorf("sops.age[%d] needs recipient and enc", i)
				}
				m.Age = append(m.Age, st)
			}
		case "lastmodified":
			if t, ok := v.(time.Time); ok {
				m.LastModified = t
				continue
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return nil, fmt.Errorf("sops.lastmodified %q is not an RFC 3339 time", s)
			}
			m.LastModified = t
		case "mac":
			m.MAC = s
		case "version":
			m.Version = s
		case "unencrypted_suffix":
			m.UnencryptedSuffix = s
		case "encrypted_suffix":
			m.EncryptedSuffix = s
		case "unencrypted_regex":
			m.UnencryptedRegex = s
		case "encrypted_regex":
			m.EncryptedRegex = s
		case "unencrypted_comment_regex":
			m.UnencryptedCommentRegex = s
		case "encrypted_comment_regex":
			m.EncryptedCommentRegex = s
		case "mac_only_encrypted":
			on, err := strconv.ParseBool(s)
			if err != nil && s != "" {
				return nil, fmt.Errorf("sops.mac_only_encrypted %q is not a boolean", s)
			}
			m.MACOnlyEncrypted = on
		case "shamir_threshold":
			n, _ := strconv.Atoi(s)
			m.ShamirThreshold = n
			m.other[k] = v
		case "key_groups":
			if !isEmptyList(v) {
				m.KeyGroups = true
			}
			m.other[k] = v
		default:
			m.other[k] = v
		}
	}
	for _, kind := range otherKeyKinds {
		if v, ok := m.other[kind]; ok && !isEmptyList(v) {
			m.OtherKeys = append(m.OtherKeys, kind)
		}
	}
	if m.MAC == "" {
		return nil, errors.New("sops metadata has no mac")
	}
	if m.LastModified.IsZero() {
		return nil, errors.New("sops metadata has no lastmodified")
	}
	if err := m.Rules.Validate(); err != nil {
		return nil, fmt.Errorf("sops metadata: %w", err)
	}
	return m, nil
}

// branch is the metadata block as sops writes it: keys sorted, empty
// fields left out.
func (m *Metadata) branch() Branch {
	out := map[string]any{}
	for k, v := range m.other {
		out[k] = v
	}
	if len(m.Age) > 0 {
		list := make([]any, 0, len(m.Age))
		for _, a := range m.Age {
			list = append(list, map[string]any{"recipient": a.Recipient, "enc": a.Enc})
		}
		out["age"] = list
	} else {
		delete(out, "age")
	}
	out["lastmodified"] = m.LastModified.UTC().Format(time.RFC3339)
	out["mac"] = m.MAC
	out["version"] = m.Version
	for k, v := range map[string]string{
		"unencrypted_suffix": m.UnencryptedSuffix, "encrypted_suffix": m.EncryptedSuffix,
		"unencrypted_regex": m.UnencryptedRegex, "encrypted_regex": m.EncryptedRegex,
		"unencrypted_comment_regex": m.UnencryptedCommentRegex, "encrypted_comment_regex": m.EncryptedCommentRegex,
	} {
		if v != "" {
			out[k] = v
		} else {
			delete(out, k)
		}
	}
	if m.MACOnlyEncrypted {
		out["mac_only_encrypted"] = true
	}
	return fromGo(out).(Branch)
}

// shouldEncrypt says whether the value at path (with the comments above
// it) is encrypted under the rules, as sops decides.
func (r Rules) shouldEncrypt(path []string, comments [][]string, isComment bool, re *compiledRules) bool {
	encrypted := true
	if r.UnencryptedSuffix != "" {
		for _, p := range path {
			if strings.HasSuffix(p, r.UnencryptedSuffix) {
				encrypted = false
				break
			}
		}
	}
	if r.EncryptedSuffix != "" {
		encrypted = false
		for _, p := range path {
			if strings.HasSuffix(p, r.EncryptedSuffix) {
				encrypted = true
				break
			}
		}
	}
	if re.unencrypted != nil {
		for _, p := range path {
			if re.unencrypted.MatchString(p) {
				encrypted = false
				break
			}
		}
	}
	if re.encrypted != nil {
		encrypted = false
		for _, p := range path {
			if re.encrypted.MatchString(p) {
				encrypted = true
				break
			}
		}
	}
	if re.unencryptedComment != nil {
	outU:
		for _, level := range comments {
			for _, c := range level {
				if re.unencryptedComment.MatchString(c) {
					encrypted = false
					break outU
				}
			}
		}
	}
	if re.encryptedComment != nil {
		encrypted = false
		last := len(comments) - 1
	outE:
		for i, level := range comments {
			for j, c := range level {
				// The comment that switches encryption on is not itself
				// encrypted.
				if isComment && i == last && j == len(level)-1 {
					continue
				}
				if re.encryptedComment.MatchString(c) {
					encrypted = true
					break outE
				}
			}
		}
	}
	return encrypted
}

type compiledRules struct {
	encrypted, unencrypted, encryptedComment, unencryptedComment *regexp.Regexp
}

func (r Rules) compile() (*compiledRules, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c := &compiledRules{}
	for _, p := range []struct {
		src string
		dst **regexp.Regexp
	}{{r.EncryptedRegex, &c.encrypted}, {r.UnencryptedRegex, &c.unencrypted}, {r.EncryptedCommentRegex, &c.encryptedComment}, {r.UnencryptedCommentRegex, &c.unencryptedComment}} {
		if p.src != "" {
			*p.dst = regexp.MustCompile(p.src)
		}
	}
	return c, nil
}
