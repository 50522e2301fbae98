package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	epoch = time.Unix(1700000000, 0)
	files = []File{
		{Name: "kubectl-gitops", Mode: 0o755, Data: []byte("\x7fELF binary")},
		{Name: "README.md", Mode: 0o644, Data: []byte("# kubectl-gitops\n")},
		{Name: "LICENSE", Mode: 0o644, Data: []byte("Apache License\n")},
	}
	// The same files, listed in another order, with other type bits and a
	// time zone on the timestamp: none of it may reach the archive.
	shuffled = []File{
		{Name: "LICENSE", Mode: 0o644, Data: []byte("Apache License\n")},
		{Name: "kubectl-gitops", Mode: 0o755 | fs.ModeSetuid, Data: []byte("\x7fELF binary")},
		{Name: "README.md", Mode: 0o644, Data: []byte("# kubectl-gitops\n")},
	}
	elsewhere = epoch.In(time.FixedZone("UTC-7", -7*3600)).Add(400 * time.Millisecond)
)

type entry struct {
	Name  string
	Mode  fs.FileMode
	Time  time.Time
	Owner string
	Data  string
}

var wantEntries = []entry{
	{"LICENSE", 0o644, epoch.UTC(), "0:0::", "Apache License\n"},
	{"README.md", 0o644, epoch.UTC(), "0:0::", "# kubectl-gitops\n"},
	{"kubectl-gitops", 0o755, epoch.UTC(), "0:0::", "\x7fELF binary"},
}

func write(t *testing.T, p Platform, files []File, mtime time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteArchive(&b, p, files, mtime); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTarGzIsReproducible(t *testing.T) {
	linux := Platform{"linux", "amd64"}
	a := write(t, linux, files, epoch)
	if b := write(t, linux, shuffled, elsewhere); !bytes.Equal(a, b) {
		t.Error("the same files in another order, mode bits or time zone gave different bytes")
	}
	if c := write(t, linux, files, epoch.Add(time.Second)); bytes.Equal(a, c) {
		t.Error("another timestamp gave the same bytes; the time is not recorded")
	}

	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() || gz.Comment != "" || gz.OS != 255 {
		t.Errorf("gzip header name %q, mtime %v, comment %q, OS %d; want none, zero, none, 255", gz.Name, gz.ModTime, gz.Comment, gz.OS)
	}
	var got []entry
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Typeflag != tar.TypeReg || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: type %c, format %v; want a regular USTAR entry", h.Name, h.Typeflag, h.Format)
		}
		got = append(got, entry{h.Name, fs.FileMode(h.Mode), h.ModTime.UTC(),
			fmt.Sprintf("%d:%d:%s:%s", h.Uid, h.Gid, h.Uname, h.Gname), string(data)})
	}
	if diff := cmp.Diff(wantEntries, got); diff != "" {
		t.Errorf("tar entries (-want +got):\n%s", diff)
	}
}

func TestZipIsReproducible(t *testing.T) {
	windows := Platform{"windows", "arm64"}
	a := write(t, windows, files, epoch)
	if b := write(t, windows, shuffled, elsewhere); !bytes.Equal(a, b) {
		t.Error("the same files in another order, mode bits or time zone gave different bytes")
	}
	if c := write(t, windows, files, epoch.Add(2*time.Second)); bytes.Equal(a, c) {
		t.Error("another timestamp gave the same bytes; the time is not recorded")
	}
	zr, err := zip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if f.Method != zip.Deflate {
			t.Errorf("%s: method %d, want deflate", f.Name, f.Method)
		}
		got = append(got, entry{f.Name, f.Mode(), f.Modified.UTC(), "0:0::", string(data)})
	}
	if diff := cmp.Diff(wantEntries, got); diff != "" {
		t.Errorf("zip entries (-want +got):\n%s", diff)
	}
}

func TestArchiveRejectsBadEntries(t *testing.T) {
	for _, tc := range []struct {
		files []File
		want  string
	}{
		{[]File{{Name: "a"}, {Name: "a"}}, `archive entry "a" appears twice`},
		{[]File{{Name: "/etc/passwd"}}, `archive entry "/etc/passwd": want a relative slash-separated path`},
		{[]File{{Name: "../up"}}, `archive entry "../up": want a relative slash-separated path`},
		{[]File{{Name: `bin\x.exe`}}, `archive entry "bin\\x.exe": want a relative slash-separated path`},
		{[]File{{Name: ""}}, `archive entry "": want a relative slash-separated path`},
	} {
		for _, p := range []Platform{{"linux", "amd64"}, {"windows", "amd64"}} {
			err := WriteArchive(io.Discard, p, tc.files, epoch)
			if err == nil || err.Error() != tc.want {
				t.Errorf("%s %v: error %v, want %q", p, tc.files, err, tc.want)
			}
		}
	}
}
