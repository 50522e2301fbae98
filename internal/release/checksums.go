package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// ChecksumsFile is the name of the checksum list next to the archives.
const ChecksumsFile = "checksums.txt"

// Artifact is one file of a release.
type Artifact struct {
	// Name is the file's base name, such as kubectl-gitops_v0.1.0_linux_amd64.tar.gz.
	Name string
	// Path is where it was written.
	Path string
	// SHA256 is its lowercase hex SHA-256.
	SHA256 string
	// Size is its length in bytes.
	Size int64
}

// FileSHA256 returns the lowercase hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FormatChecksums renders the checksum list in the form `sha256sum -c`
// reads: one "<lowercase sha256>  <name>" line per artifact, sorted by name.
func FormatChecksums(arts []Artifact) []byte {
	sorted := slices.Clone(arts)
	slices.SortFunc(sorted, func(a, b Artifact) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	for _, a := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", a.SHA256, a.Name)
	}
	return b.Bytes()
}

var checksumLine = regexp.MustCompile(`^([0-9a-f]{64})  ([^/\\\s]+)$`)

// ParseChecksums reads a checksum list written by FormatChecksums into a map
// from file name to sha256.
func ParseChecksums(r io.Reader) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		m := checksumLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("line %d %q: want \"<lowercase sha256>  <file name>\"", n, sc.Text())
		}
		sums[m[2]] = m[1]
	}
	return sums, sc.Err()
}
