package sops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// ConfigFileName is sops' configuration file.
const ConfigFileName = ".sops.yaml"

// creationRule is one entry of creation_rules; the key kinds other than
// age are read only to refuse them by name.
type creationRule struct {
	PathRegex               string `yaml:"path_regex"`
	Age                     any    `yaml:"age"`
	PGP                     any    `yaml:"pgp"`
	KMS                     any    `yaml:"kms"`
	GCPKMS                  any    `yaml:"gcp_kms"`
	AzureKeyVault           any    `yaml:"azure_keyvault"`
	Vault                   any    `yaml:"hc_vault_transit_uri"`
	HCKMS                   any    `yaml:"hckms"`
	KeyGroups               []any  `yaml:"key_groups"`
	ShamirThreshold         int    `yaml:"shamir_threshold"`
	UnencryptedSuffix       string `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool   `yaml:"mac_only_encrypted"`
}

type configFile struct {
	CreationRules []creationRule `yaml:"creation_rules"`
}

// FindConfig looks for .sops.yaml in dir and its parents; "" if none.
func FindConfig(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ConfigFileName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

func stringList(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return SplitRecipients(v), nil
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("list entry %v is not a string", e)
			}
			out = append(out, SplitRecipients(s)...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%v is neither a string nor a list", v)
}

// RuleForFile returns the recipients and rules of the first creation rule
// of the config at configPath that matches file (its path relative to the
// config's directory, as sops matches it).
func RuleForFile(configPath, file string) (EncryptOptions, error) {
	var opts EncryptOptions
	data, err := os.ReadFile(configPath)
	if err != nil {
		return opts, err
	}
	var cfg configFile
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return opts, fmt.Errorf("%s: %w", configPath, err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return opts, err
	}
	dir, err := filepath.Abs(filepath.Dir(configPath))
	if err != nil {
		return opts, err
	}
	rel := strings.TrimPrefix(abs, dir+string(filepath.Separator))
	for i, r := range cfg.CreationRules {
		if r.PathRegex != "" {
			re, err := regexp.Compile(r.PathRegex)
			if err != nil {
				return opts, fmt.Errorf("%s: creation_rules[%d].path_regex: %w", configPath, i, err)
			}
			if !re.MatchString(rel) {
				continue
			}
		}
		where := fmt.Sprintf("%s: creation_rules[%d]", configPath, i)
		if len(r.KeyGroups) > 0 || r.ShamirThreshold > 0 {
			return opts, errors.New(where + " uses key_groups; kubectl-gitops encrypts for age recipients without key groups")
		}
		var others []string
		for name, v := range map[string]any{"pgp": r.PGP, "kms": r.KMS, "gcp_kms": r.GCPKMS, "azure_keyvault": r.AzureKeyVault, "hc_vault_transit_uri": r.Vault, "hckms": r.HCKMS} {
			if l, _ := stringList(v); len(l) > 0 {
				others = append(others, name)
			}
		}
		if len(others) > 0 {
			return opts, fmt.Errorf("%s also names %s keys; kubectl-gitops encrypts only for age recipients (use sops for those files)", where, strings.Join(sortedUnique(others), ", "))
		}
		recipients, err := stringList(r.Age)
		if err != nil {
			return opts, fmt.Errorf("%s.age: %w", where, err)
		}
		if len(recipients) == 0 {
			return opts, errors.New(where + " has no age recipients")
		}
		opts.Recipients = recipients
		opts.Rules = Rules{
			UnencryptedSuffix: r.UnencryptedSuffix, EncryptedSuffix: r.EncryptedSuffix,
			UnencryptedRegex: r.UnencryptedRegex, EncryptedRegex: r.EncryptedRegex,
			UnencryptedCommentRegex: r.UnencryptedCommentRegex, EncryptedCommentRegex: r.EncryptedCommentRegex,
			MACOnlyEncrypted: r.MACOnlyEncrypted,
		}
		if err := opts.Rules.Validate(); err != nil {
			return opts, fmt.Errorf("%s: %w", where, err)
		}
		return opts, nil
	}
	return opts, fmt.Errorf("%s: no creation rule matches %s; add one, or pass --age-recipient", configPath, rel)
}
