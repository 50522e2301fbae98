// Package sops reads and writes files in the SOPS format for age recipients,
// so that what `sops` encrypts we decrypt and what we encrypt `sops`
// decrypts.
//
// A file is parsed into a tree that keeps key order and comments (the order
// matters: the MAC is a SHA-512 over the values in document order). Values
// are sealed with AES-256-GCM under a random 32-byte data key, with the
// value's key path ("data:password:") as additional data; the data key is
// encrypted to each age recipient and stored, armored, in the `sops`
// metadata block. YAML (multi-document), JSON, dotenv and binary files are
// supported, as are sops' encrypted_regex, unencrypted_regex,
// encrypted_suffix, unencrypted_suffix, the comment regexes and
// mac_only_encrypted.
//
//	keys, _ := sops.LoadKeys(sops.KeySources{})
//	plain, err := sops.Decrypt("secret.enc.yaml", data, sops.FormatForPath("secret.enc.yaml"), keys)
//
// Files whose data key is only held by other kinds of key (PGP, cloud KMS,
// Vault) or split into key groups are refused, never half-decrypted.
package sops
