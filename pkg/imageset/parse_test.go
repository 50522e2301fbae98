package imageset

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		arg  string
		want Image
	}{
		{"nginx:1.25", Image{Name: "nginx", NewTag: "1.25"}},
		{"nginx@" + digestA, Image{Name: "nginx", Digest: digestA}},
		{"nginx:1.25@" + digestA, Image{Name: "nginx", NewTag: "1.25", Digest: digestA}},
		{"nginx=mirror.example/nginx", Image{Name: "nginx", NewName: "mirror.example/nginx"}},
		{"nginx=mirror.example/nginx:1.25", Image{Name: "nginx", NewName: "mirror.example/nginx", NewTag: "1.25"}},
		{"nginx=mirror.example/nginx@" + digestA, Image{Name: "nginx", NewName: "mirror.example/nginx", Digest: digestA}},
		{"nginx=mirror.example/nginx:1.25@" + digestA, Image{Name: "nginx", NewName: "mirror.example/nginx", NewTag: "1.25", Digest: digestA}},
		// A registry port is not a tag: separators count from the first "/".
		{"localhost:5000/app:1.2", Image{Name: "localhost:5000/app", NewTag: "1.2"}},
		{"localhost:5000/app@" + digestA, Image{Name: "localhost:5000/app", Digest: digestA}},
		{"app=localhost:5000/app", Image{Name: "app", NewName: "localhost:5000/app"}},
		{"app=localhost:5000/team/app:1.2", Image{Name: "app", NewName: "localhost:5000/team/app", NewTag: "1.2"}},
		// Without a "/", a port is a tag.
		{"localhost:5000", Image{Name: "localhost", NewTag: "5000"}},
		// The "@" comes first: all after it is the digest.
		{"nginx@sha256:abc:def", Image{Name: "nginx", Digest: "sha256:abc:def"}},
		{"a:1:2", Image{Name: "a", NewTag: "1:2"}},
		// "*" keeps a part of the existing entry.
		{"nginx:*", Image{Name: "nginx", NewTag: "*"}},
		{"nginx=*:1.26", Image{Name: "nginx", NewName: "*", NewTag: "1.26"}},
		{"nginx@*", Image{Name: "nginx", Digest: "*"}},
		// Odd forms kustomize accepts.
		{"nginx:", Image{Name: "nginx"}},
		{"nginx@", Image{Name: "nginx"}},
		{"nginx=", Image{Name: "nginx"}},
		{"=nginx:1.25", Image{Name: "nginx", NewTag: "1.25"}},
		{":1.25", Image{NewTag: "1.25"}},
		{"=", Image{}},
		{"a=b=c:1", Image{Name: "a", NewName: "b=c", NewTag: "1"}},
		{"nginx:1.25 beta", Image{Name: "nginx", NewTag: "1.25 beta"}},
		{"nginx=mirror.example/nginx", Image{Name: "nginx", NewName: "mirror.example/nginx"}},
		{"nginx=web", Image{Name: "nginx", NewName: "web"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.arg)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.arg, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.arg, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"nginx", `image "nginx": no new name, tag or digest; want NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]`},
		{"localhost:5000/app", `image "localhost:5000/app": no new name, tag or digest; want NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]`},
		{"nginx:1.25/rc", `image "nginx:1.25/rc": no new name, tag or digest; want NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]`},
		{"", `image "": no new name, tag or digest; want NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.arg)
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want %q", tt.arg, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error:\n got %s\nwant %s", tt.arg, err, tt.want)
		}
	}
}

// TestImageStringParses checks that String writes a form Parse reads back
// to the same image.
func TestImageStringParses(t *testing.T) {
	tests := []struct {
		im   Image
		want string
	}{
		{Image{Name: "nginx", NewTag: "1.25"}, "nginx:1.25"},
		{Image{Name: "nginx", Digest: digestA}, "nginx@" + digestA},
		{Image{Name: "nginx", NewTag: "1.25", Digest: digestA}, "nginx:1.25@" + digestA},
		{Image{Name: "nginx", NewName: "mirror.example/nginx"}, "nginx=mirror.example/nginx"},
		{Image{Name: "nginx", NewName: "mirror.example/nginx", NewTag: "1.25", Digest: digestA}, "nginx=mirror.example/nginx:1.25@" + digestA},
		{Image{Name: "localhost:5000/app", NewTag: "1.2"}, "localhost:5000/app:1.2"},
		{Image{Name: "nginx", NewName: "*", NewTag: "*"}, "nginx=*:*"},
		{Image{Name: "nginx"}, "nginx:"},
	}
	for _, tt := range tests {
		if got := tt.im.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.im, got, tt.want)
		}
		back, err := Parse(tt.want)
		if err != nil || back != tt.im {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.want, back, err, tt.im)
		}
	}
}
