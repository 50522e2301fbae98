package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/peakrss"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// benchSecret is a Secret manifest with n stringData keys of 64 bytes.
func benchSecret(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\ntype: Opaque\nstringData:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  KEY_%05d: %s\n", i, strings.Repeat(fmt.Sprintf("%x", i%16), 64))
	}
	return []byte(b.String())
}

// BenchmarkDecrypt decrypts the same file with the library in process, the
// kubectl gitops binary and the real sops, side by side. Each process run
// reports its peak RSS.
func BenchmarkDecrypt(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		env := newBenchEnv(b)
		plain := benchSecret(n)
		enc, err := sops.Encrypt("bench.yaml", plain, sops.YAML, sops.EncryptOptions{Recipients: []string{env.recipient}, Rules: sops.Rules{EncryptedRegex: "^(data|stringData)$"}})
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(env.dir, "bench.yaml")
		if err := os.WriteFile(path, enc, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("keys=%d/library", n), func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				if _, err := sops.Decrypt("bench.yaml", enc, sops.YAML, env.keys); err != nil {
					b.Fatal(err)
				}
			}
		})
		gitops := env.gitops(b)
		b.Run(fmt.Sprintf("keys=%d/kubectl-gitops", n), func(b *testing.B) {
			env.runEach(b, gitops, "secret", "decrypt", path)
		})
		b.Run(fmt.Sprintf("keys=%d/sops", n), func(b *testing.B) {
			env.runEach(b, env.bin, "-d", path)
		})
	}
}

// BenchmarkEncrypt encrypts a plain Secret, side by side with sops -e.
func BenchmarkEncrypt(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		env := newBenchEnv(b)
		plain := benchSecret(n)
		path := filepath.Join(env.dir, "plain.yaml")
		if err := os.WriteFile(path, plain, 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("keys=%d/library", n), func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for i := 0; i < b.N; i++ {
				if _, err := sops.Encrypt("bench.yaml", plain, sops.YAML, sops.EncryptOptions{Recipients: []string{env.recipient}, Rules: sops.Rules{EncryptedRegex: "^(data|stringData)$"}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		gitops := env.gitops(b)
		b.Run(fmt.Sprintf("keys=%d/kubectl-gitops", n), func(b *testing.B) {
			env.runEach(b, gitops, "secret", "encrypt", "--age-recipient", env.recipient, path)
		})
		b.Run(fmt.Sprintf("keys=%d/sops", n), func(b *testing.B) {
			env.runEach(b, env.bin, "-e", "--age", env.recipient, "--encrypted-regex", "^(data|stringData)$", path)
		})
	}
}

// benchEnv is the interop tests' environment: a key, its recipient, sops.
type benchEnv struct{ *sopsEnv }

var benchBinary string

func newBenchEnv(b *testing.B) *benchEnv { return &benchEnv{newSopsEnv(b)} }

// gitops builds the kubectl-gitops binary once per run.
func (e *benchEnv) gitops(b *testing.B) string {
	if benchBinary == "" {
		dir, err := os.MkdirTemp("", "gitops-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchBinary = filepath.Join(dir, "kubectl-gitops")
		out, err := exec.Command("go", "build", "-o", benchBinary, "github.com/kubectl-gitops/kubectl-gitops/cmd/kubectl-gitops").CombinedOutput()
		if err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	return benchBinary
}

// runEach runs the command b.N times and reports its own peak RSS.
func (e *benchEnv) runEach(b *testing.B, bin string, args ...string) {
	l := peakrss.New(b)
	peakMB := 0.0
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SOPS_AGE_KEY_FILE="+e.keyFile, "XDG_CONFIG_HOME="+e.dir)
		cmd.Dir = e.dir
		peak := l.Wrap(cmd)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%.2000s", bin, err, out)
		}
		peakMB = max(peakMB, peak())
	}
	b.ReportMetric(peakMB, "peak-MB")
}
