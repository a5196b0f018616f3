package imagefs

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/sbom"
)

// TestWalkLayers checks which files are visible after applying layers
// top-down: every regular file is handed to an extractor that wants all.
func TestWalkLayers(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent // bottom first
		want   map[string]string
	}{
		{
			name: "first seen wins",
			layers: [][]ent{
				{file("a", "1"), file("b", "1")},
				{file("a", "2")},
				{file("a", "3"), file("c", "3")},
			},
			want: map[string]string{"a": "3", "b": "1", "c": "3"},
		},
		{
			name: "whiteouts and opaque directories across three layers",
			layers: [][]ent{
				{dir("a"), file("a/1", "1"), file("a/2", "1"), file("b/1", "1"), file("b/2", "1"),
					file("c/1", "1"), file("d/x", "1"), file("f", "1"), file("g/h", "1"), file("e", "1")},
				{file("a/.wh.1", ""), file("b/.wh..wh..opq", ""), file("b/3", "2"), file(".wh.c", ""),
					file("f", "2"), file("g", "2"), file(".wh.e", ""), file("e", "2")},
				{file("a/1", "3"), file("b/.wh.3", ""), file("d/.wh..wh..opq", ""), file("d/y", "3"), file("f", "3")},
			},
			want: map[string]string{"a/1": "3", "a/2": "1", "d/y": "3", "f": "3", "g": "2", "e": "2"},
		},
		{
			name: "a whiteout does not hide files of its own layer",
			layers: [][]ent{
				{file("x/1", "1")},
				{file("x/2", "2"), file("x/.wh..wh..opq", ""), file(".wh.y", ""), file("y", "2")},
			},
			want: map[string]string{"x/2": "2", "y": "2"},
		},
		{
			name: "a later entry of the same layer wins",
			layers: [][]ent{
				{file("a", "1"), file("a", "2")},
			},
			want: map[string]string{"a": "2"},
		},
		{
			name: "names are normalised",
			layers: [][]ent{
				{file("./etc/a", "1"), file("/etc/b", "1"), file("etc//c/../c", "1")},
				{file("etc/a", "2"), file("./etc/.wh.b", "")},
			},
			want: map[string]string{"etc/a": "2", "etc/c": "1"},
		},
		{
			name: "root opaque hides everything below",
			layers: [][]ent{
				{file("a", "1"), file("b/c", "1")},
				{file(".wh..wh..opq", ""), file("d", "2")},
			},
			want: map[string]string{"d": "2"},
		},
		{
			name: "a symlink replacing a directory hides its lower contents",
			layers: [][]ent{
				{file("lib/x", "1")},
				{symlink("lib", "usr/lib")},
			},
			want: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, l := range tt.layers {
				layers = append(layers, layerOf(t, l...))
			}
			fx := newFake("fake/all", wantAll)
			res, err := Walk(t.Context(), imageOf(t, layers...), []extractor.Extractor{fx}, Options{})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if diff := cmp.Diff(tt.want, fx.got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if res.Stats.Layers != len(layers) {
				t.Errorf("Stats.Layers = %d, want %d", res.Stats.Layers, len(layers))
			}
			var size int64
			for _, v := range tt.want {
				size += int64(len(v))
			}
			if res.Stats.BufferedBytes != size {
				t.Errorf("Stats.BufferedBytes = %d, want %d", res.Stats.BufferedBytes, size)
			}
		})
	}
}

func TestWalkOSRelease(t *testing.T) {
	debian := "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
	alpine := "ID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME='Alpine Linux v3.20'\n"
	deb := sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}
	alp := sbom.OS{ID: "alpine", VersionID: "3.20.1", Name: "Alpine Linux v3.20"}
	tests := []struct {
		name   string
		layers [][]ent
		want   sbom.OS
	}{
		{"usr/lib only", [][]ent{{file("usr/lib/os-release", debian)}}, deb},
		{"etc wins over usr/lib", [][]ent{{file("usr/lib/os-release", debian), file("etc/os-release", alpine)}}, alp},
		{"etc in a lower layer still wins", [][]ent{{file("etc/os-release", alpine)}, {file("usr/lib/os-release", debian)}}, alp},
		{"etc symlink falls back to usr/lib", [][]ent{{file("usr/lib/os-release", debian), symlink("etc/os-release", "../usr/lib/os-release")}}, deb},
		{"upper layer replaces", [][]ent{{file("etc/os-release", debian)}, {file("etc/os-release", alpine)}}, alp},
		{"whited out", [][]ent{{file("etc/os-release", alpine), file("usr/lib/os-release", debian)}, {file("etc/.wh.os-release", "")}}, deb},
		{"none", [][]ent{{file("etc/hostname", "x")}}, sbom.OS{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []v1.Layer
			for _, l := range tt.layers {
				// Every layer also has a file for the extractor, so Input.OS is checked.
				layers = append(layers, layerOf(t, append(l, file("var/lib/pkg", "p"))...))
			}
			fx := newFake("fake/pkg", wantPaths("var/lib/pkg"))
			res, err := Walk(t.Context(), imageOf(t, layers...), []extractor.Extractor{fx}, Options{})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if diff := cmp.Diff(tt.want, res.OS); diff != "" {
				t.Errorf("Result.OS (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, fx.oses["var/lib/pkg"]); diff != "" {
				t.Errorf("Input.OS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWalkRequired(t *testing.T) {
	img := imageOf(t,
		layerOf(t, dir("var/lib/dpkg"), file("var/lib/dpkg/status", "dpkg"), file("usr/bin/app", "ELF"),
			file("usr/share/doc/readme", "doc"), symlink("usr/bin/link", "app"), file("etc/os-release", "ID=debian\n")),
		layerOf(t, ent{name: "usr/bin/tool", body: "ELF2", mode: 0o755}, file("app/package-lock.json", "npm")),
	)
	var calls []string
	exec := newFake("fake/exec", func(p string, m fs.FileMode, size int64) bool {
		calls = append(calls, p)
		return m.IsRegular() && m&0o111 != 0 && size > 0
	})
	dpkg := newFake("fake/dpkg", wantPaths("var/lib/dpkg/status"))
	both := newFake("fake/both", wantPaths("var/lib/dpkg/status", "app/package-lock.json", "usr/bin/link", "var/lib/dpkg"))
	res, err := Walk(t.Context(), img, []extractor.Extractor{exec, dpkg, both}, Options{})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"usr/bin/tool": "ELF2"}, exec.got); diff != "" {
		t.Errorf("exec got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"var/lib/dpkg/status": "dpkg"}, dpkg.got); diff != "" {
		t.Errorf("dpkg got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"var/lib/dpkg/status": "dpkg", "app/package-lock.json": "npm"}, both.got); diff != "" {
		t.Errorf("both got (-want +got):\n%s", diff)
	}
	// Required is asked about regular files only.
	for _, p := range calls {
		if p == "var/lib/dpkg" || p == "usr/bin/link" {
			t.Errorf("Required called for non-regular %s", p)
		}
	}
	if len(res.Packages) != 4 {
		t.Errorf("got %d packages, want 4: %+v", len(res.Packages), res.Packages)
	}
	for _, p := range res.Packages {
		if p.Extractor == "" || len(p.Locations) != 1 {
			t.Errorf("package %+v lacks extractor or location", p)
		}
	}
	// Buffered once although two extractors wanted it: 4 + 4 + 3 + os-release.
	if want := int64(4 + 4 + 3 + len("ID=debian\n")); res.Stats.BufferedBytes != want {
		t.Errorf("BufferedBytes = %d, want %d", res.Stats.BufferedBytes, want)
	}
}

func TestWalkConfig(t *testing.T) {
	img := imageOf(t, layerOf(t, file("a", "1")))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.Config.User = "65532:65532"
	cf.Config.Entrypoint = []string{"/app"}
	cf.Config.Cmd = []string{"--serve"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://example.com/app"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Walk(t.Context(), img, nil, Options{})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	want := sbom.ImageConfig{
		User: "65532:65532", Entrypoint: []string{"/app"}, Cmd: []string{"--serve"},
		Labels:  map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
		Created: created,
	}
	if diff := cmp.Diff(want, res.Config); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
}

func TestWalkFileErrors(t *testing.T) {
	img := imageOf(t, layerOf(t,
		file("bad", "x"), file("panics", "x"), file("good", "ok"),
		file("big", strings.Repeat("b", 2048)), file("more1", strings.Repeat("m", 600)), file("more2", strings.Repeat("m", 600)),
	))
	fx := newFake("fake/all", wantAll)
	fx.fail, fx.panicOn = "bad", "panics"
	res, err := Walk(t.Context(), img, []extractor.Extractor{fx}, Options{MaxFileSize: 1024, MaxBufferedBytes: 1000})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	byPath := map[string]error{}
	for _, e := range res.Errors {
		byPath[e.Path] = e
	}
	if err := byPath["bad"]; err == nil || !strings.Contains(err.Error(), "fake/all") {
		t.Errorf("bad: error %v, want the extractor's failure", err)
	}
	if err := byPath["panics"]; !errors.Is(err, errPanic) {
		t.Errorf("panics: error %v, want errPanic", err)
	}
	if err := byPath["big"]; !errors.Is(err, extractor.ErrTooLarge) {
		t.Errorf("big: error %v, want ErrTooLarge", err)
	}
	if err := byPath["more2"]; !errors.Is(err, ErrLimit) {
		t.Errorf("more2: error %v, want ErrLimit (buffer budget)", err)
	}
	if _, ok := fx.got["good"]; !ok {
		t.Errorf("good was not extracted after other files failed")
	}
	if res.Stats.BufferedBytes > 1000 {
		t.Errorf("BufferedBytes = %d, over the budget of 1000", res.Stats.BufferedBytes)
	}
}

func TestWalkHardLinks(t *testing.T) {
	img := imageOf(t, layerOf(t,
		file("usr/bin/python3.12", "PY"), hardlink("usr/bin/python3", "usr/bin/python3.12"),
		hardlink("./usr/bin/py", "/usr/bin/python3"), // a link to a link
		hardlink("loop/a", "loop/b"), hardlink("loop/b", "loop/a"), hardlink("loop/c", "loop/c"),
		hardlink("esc", "../../etc/shadow"),
	))
	fx := newFake("fake/links", wantPaths("usr/bin/python3", "usr/bin/py", "loop/a", "loop/b", "loop/c", "esc"))
	res, err := Walk(t.Context(), img, []extractor.Extractor{fx}, Options{})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"usr/bin/python3": "PY", "usr/bin/py": "PY"}, fx.got); diff != "" {
		t.Errorf("got (-want +got):\n%s", diff)
	}
	var loopErrs int
	for _, e := range res.Errors {
		if strings.HasPrefix(e.Path, "loop/") {
			loopErrs++
		}
	}
	if loopErrs != 3 {
		t.Errorf("got %d loop errors, want 3: %v", loopErrs, res.Errors)
	}
	if res.Stats.Unsafe != 1 {
		t.Errorf("Stats.Unsafe = %d, want 1 (the escaping link)", res.Stats.Unsafe)
	}
	if res.Stats.BufferedBytes != 2 {
		t.Errorf("BufferedBytes = %d, want 2: link content is shared", res.Stats.BufferedBytes)
	}
}

// Progress is reported at each layer, top first, and within big layers.
func TestWalkReportsProgress(t *testing.T) {
	big := strings.Repeat("x", 3*ProgressBytes)
	img := imageOf(t, layerOf(t, file("etc/os-release", "ID=debian\n")), layerOf(t, file("big.bin", big)))
	var got []Progress
	_, err := Walk(t.Context(), img, nil, Options{Progress: func(p Progress) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 3 {
		t.Fatalf("progress reported %d times, want the two layer starts and reads within the big layer: %+v", len(got), got)
	}
	if got[0].Layer != 1 || got[0].Layers != 2 || got[0].DecompressedBytes != 0 || got[0].CompressedBytes == 0 {
		t.Errorf("first report = %+v", got[0])
	}
	last := got[len(got)-1]
	if last.Layer != 2 {
		t.Errorf("last report = %+v, want layer 2", last)
	}
	for i := 1; i < len(got); i++ {
		if got[i].DecompressedBytes < got[i-1].DecompressedBytes || got[i].Layer < got[i-1].Layer {
			t.Errorf("report %d goes backwards: %+v after %+v", i, got[i], got[i-1])
		}
	}
}
