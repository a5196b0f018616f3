package gobinary_test

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/gobinary"
	"github.com/palisade-project/palisade/internal/sbom"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, gobinary.New(), "testdata")
}

func TestStdlibVersion(t *testing.T) {
	for in, want := range map[string]string{
		"go1.21.3":                "v1.21.3",
		"go1.20":                  "v1.20.0",
		"go1.22rc1":               "v1.22.0-rc.1",
		"go1.9beta2":              "v1.9.0-beta.2",
		"go1.21.3 X:boringcrypto": "v1.21.3",
		"devel go1.23-abcdef":     "",
		"":                        "",
	} {
		if got := gobinary.StdlibVersion(in); got != want {
			t.Errorf("StdlibVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// extract runs the extractor on the file at path as the scanner would.
func extract(t *testing.T, path string) []sbom.Package {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e := gobinary.New()
	if !e.Required("app", 0o755, int64(len(b))) {
		t.Fatal("Required() = false for an executable")
	}
	pkgs, err := e.Extract(t.Context(), &extractor.Input{Path: "app", Mode: 0o755, Size: int64(len(b)), Reader: bytes.NewReader(b)})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func find(pkgs []sbom.Package, name string) (sbom.Package, bool) {
	i := slices.IndexFunc(pkgs, func(p sbom.Package) bool { return p.Name == name })
	if i < 0 {
		return sbom.Package{}, false
	}
	return pkgs[i], true
}

// TestSelf reads the test binary itself: hermetic, no network.
func TestSelf(t *testing.T) {
	pkgs := extract(t, os.Args[0])
	std, ok := find(pkgs, "stdlib")
	if want := gobinary.StdlibVersion(runtime.Version()); !ok || std.Version != want {
		t.Errorf("stdlib = %+v, want version %s", std, want)
	}
	if std.Ecosystem != sbom.EcosystemGo || std.PURL != "pkg:golang/stdlib@"+std.Version {
		t.Errorf("stdlib = %+v, want a Go package with its purl", std)
	}
	// Test binaries record no dependencies, and the main module is (devel).
	if len(pkgs) != 1 {
		t.Errorf("got %d packages, want only stdlib: %+v", len(pkgs), pkgs)
	}
}

// TestBuiltBinary builds a program against an old golang.org/x/text, as
// vulnerable images contain, through the module proxy.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/vulnapp\n\ngo 1.21\n\nrequire golang.org/x/text v0.3.5\n")
	write("main.go", "package main\n\nimport \"golang.org/x/text/language\"\n\nfunc main() { println(language.English.String()) }\n")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	run := func(args ...string) {
		cmd := exec.CommandContext(t.Context(), goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("CI") != "true" {
				t.Skipf("go %v failed (no module proxy?): %v\n%s", args, err, out)
			}
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	run("mod", "tidy")
	run("build", "-o", "app", ".")
	pkgs := extract(t, filepath.Join(dir, "app"))
	text, ok := find(pkgs, "golang.org/x/text")
	if !ok || text.Version != "v0.3.5" || text.PURL != "pkg:golang/golang.org/x/text@v0.3.5" {
		t.Errorf("golang.org/x/text = %+v, want v0.3.5", text)
	}
	if _, ok := find(pkgs, "example.com/vulnapp"); ok {
		t.Errorf("main module with a (devel) version reported")
	}
	if std, _ := find(pkgs, "stdlib"); std.Version != gobinary.StdlibVersion(runtime.Version()) {
		t.Errorf("stdlib = %+v, want %s", std, runtime.Version())
	}
}

// TestWriteSyntheticFixture regenerates, with -update, the small ELF file in
// testdata/valid/synthetic: a PT_LOAD segment holding only Go build
// information (with a replaced and a locally replaced module), so the
// fixture tests stay hermetic without committing a real binary.
func TestWriteSyntheticFixture(t *testing.T) {
	path := filepath.Join("testdata", "valid", "synthetic", "usr", "local", "bin", "app")
	bi := &debug.BuildInfo{
		GoVersion: "go1.21.3",
		Path:      "example.com/app",
		Main:      debug.Module{Path: "example.com/app", Version: "v1.2.3"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/text", Version: "v0.3.5", Sum: "h1:i6eZZ+zk0SOf0xgBpEpPD18qWcJda6q1sxs3S0kzV6Q="},
			{Path: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110",
				Replace: &debug.Module{Path: "example.com/fork/net", Version: "v0.1.0"}},
			{Path: "example.com/local", Version: "v0.0.0", Replace: &debug.Module{Path: "../local"}},
		},
	}
	got := synthetic(bi.GoVersion, bi.String())
	if *extractortest.Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is stale: run go test -update", path)
	}
	read, err := buildinfo.Read(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("synthetic binary unreadable: %v", err)
	}
	if read.Main.Version != "v1.2.3" || len(read.Deps) != 3 {
		t.Errorf("synthetic build info = %v", read)
	}
}

// synthetic returns a minimal ELF64 executable whose only writable PT_LOAD
// segment holds a Go 1.18+ build information blob.
func synthetic(goVersion, modinfo string) []byte {
	const vaddr, off = 0x10000, 128
	var blob []byte
	blob = append(blob, "\xff Go buildinf:"...)
	blob = append(blob, 8, 0x2) // pointer size, inline strings
	blob = append(blob, make([]byte, 16)...)
	sentinel := bytes.Repeat([]byte{0xaa}, 16)
	mod := append(append(append([]byte{}, sentinel...), modinfo...), sentinel...)
	blob = binary.AppendUvarint(blob, uint64(len(goVersion)))
	blob = append(blob, goVersion...)
	blob = binary.AppendUvarint(blob, uint64(len(mod)))
	blob = append(blob, mod...)

	le := binary.LittleEndian
	var b []byte
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1, 0)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2)  // ET_EXEC
	b = le.AppendUint16(b, 62) // EM_X86_64
	b = le.AppendUint32(b, 1)
	b = le.AppendUint64(b, 0)  // entry
	b = le.AppendUint64(b, 64) // phoff
	b = le.AppendUint64(b, 0)  // shoff
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 64) // ehsize
	b = le.AppendUint16(b, 56) // phentsize
	b = le.AppendUint16(b, 1)  // phnum
	b = le.AppendUint16(b, 64) // shentsize
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 1) // PT_LOAD
	b = le.AppendUint32(b, 6) // PF_R|PF_W
	b = le.AppendUint64(b, off)
	b = le.AppendUint64(b, vaddr)
	b = le.AppendUint64(b, vaddr)
	b = le.AppendUint64(b, uint64(len(blob)))
	b = le.AppendUint64(b, uint64(len(blob)))
	b = le.AppendUint64(b, 16)
	b = append(b, make([]byte, off-len(b))...)
	return append(b, blob...)
}
