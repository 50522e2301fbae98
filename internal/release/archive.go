package release

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// File is one entry of an archive. Only its name, mode and bytes go into the
// archive; owner and time are fixed by the writer.
type File struct {
	// Name is the entry's path inside the archive, slash-separated, relative.
	Name string
	// Mode holds the permission bits: 0o755 for the binary, 0o644 otherwise.
	Mode fs.FileMode
	// Data is the content.
	Data []byte
}

// WriteTarGz writes files as a gzip-compressed tar, reproducibly: entries
// sorted by name, owner 0:0 without names, every time set to mtime, the gzip
// header without name or time.
func WriteTarGz(w io.Writer, files []File, mtime time.Time) error {
	sorted, err := sortedFiles(files)
	if err != nil {
		return err
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	// A zero Header: no file name, MTIME 0, OS "unknown" (255).
	tw := tar.NewWriter(gz)
	for _, f := range sorted {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     f.Name,
			Mode:     int64(f.Mode.Perm()),
			Size:     int64(len(f.Data)),
			ModTime:  mtime.Truncate(time.Second),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", f.Name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return fmt.Errorf("tar %s: %w", f.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// WriteZip writes files as a zip archive, reproducibly: entries sorted by
// name, deflated, Unix modes, every time set to mtime (in UTC).
func WriteZip(w io.Writer, files []File, mtime time.Time) error {
	sorted, err := sortedFiles(files)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestCompression)
	})
	for _, f := range sorted {
		hdr := &zip.FileHeader{
			Name:     f.Name,
			Method:   zip.Deflate,
			Modified: mtime.UTC().Truncate(time.Second),
		}
		hdr.SetMode(f.Mode.Perm())
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("zip %s: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return fmt.Errorf("zip %s: %w", f.Name, err)
		}
	}
	return zw.Close()
}

// WriteArchive writes the archive for p: zip on Windows, tar.gz elsewhere.
func WriteArchive(w io.Writer, p Platform, files []File, mtime time.Time) error {
	if p.OS == "windows" {
		return WriteZip(w, files, mtime)
	}
	return WriteTarGz(w, files, mtime)
}

func sortedFiles(files []File) ([]File, error) {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for i, f := range sorted {
		if f.Name == "" || strings.HasPrefix(f.Name, "/") || strings.Contains(f.Name, "..") || strings.Contains(f.Name, `\`) {
			return nil, fmt.Errorf("archive entry %q: want a relative slash-separated path", f.Name)
		}
		if i > 0 && sorted[i-1].Name == f.Name {
			return nil, fmt.Errorf("archive entry %q appears twice", f.Name)
		}
	}
	return sorted, nil
}
