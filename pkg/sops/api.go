package sops

// Decrypt parses an encrypted file and returns its plaintext, as `sops -d`
// prints it.
func Decrypt(name string, data []byte, format Format, keys *Keys) ([]byte, error) {
	f, err := Parse(name, data, format)
	if err != nil {
		return nil, err
	}
	if err := f.Decrypt(keys); err != nil {
		return nil, err
	}
	return f.Plaintext()
}

// Encrypt encrypts a plain file, as `sops -e` does.
func Encrypt(name string, plain []byte, format Format, opts EncryptOptions) ([]byte, error) {
	f, err := Parse(name, plain, format)
	if err != nil {
		return nil, err
	}
	if err := f.Encrypt(opts); err != nil {
		return nil, err
	}
	return f.Bytes()
}
