// Command compare prepares the inputs of hack/compare-osv-scanner.sh and
// compares the findings of `palisade scan` with those of OSV-Scanner on the
// same image and the same OSV records. It is a manual benchmark, its own Go
// module so that neither `go vet ./...` nor CI builds it.
//
//	compare images -rootfs debian12-minbase.tar -debian-osv DEBIAN.zip -out DIR
//	    DIR/<image>/layout (OCI layout) and DIR/<image>/docker.tar
//	    (docker-archive) for debian12, debian12-downgraded, gobinary and
//	    gobinary-old
//	compare vulndb -out DIR ZIP...
//	    DIR/osv-scalibr/<Ecosystem>/all.zip, the layout of OSV-Scanner's
//	    offline databases (--local-db-path DIR), holding every record that
//	    OSV-Scanner's own parser accepts, after moving non-standard top-level
//	    fields into database_specific
//	compare diff -palisade P.json -osv O.json
//	    the findings of both, matched per package by shared id or alias
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/osv-scalibr/semantic"
	osvpb "github.com/ossf/osv-schema/bindings/go/osvschema"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "images":
		err = cmdImages(os.Args[2:])
	case "vulndb":
		err = cmdVulnDB(os.Args[2:])
	case "diff":
		err = cmdDiff(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: compare images|vulndb|diff [flags]")
	os.Exit(2)
}

// ---------------------------------------------------------------- images

func cmdImages(args []string) error {
	fs := flag.NewFlagSet("images", flag.ExitOnError)
	rootfs := fs.String("rootfs", "", "debootstrap root filesystem tar (hack/build-test-images.sh)")
	out := fs.String("out", "", "output directory")
	vulndb := fs.String("debian-osv", "", "Debian OSV zip, to choose the downgraded versions")
	fs.Parse(args)
	if *rootfs == "" || *out == "" || *vulndb == "" {
		return errors.New("images: -rootfs, -debian-osv and -out are required")
	}
	base := fileLayer(*rootfs)

	if err := writeImage(*out, "debian12", "1000:1000", base); err != nil {
		return err
	}

	status, err := readTarFile(*rootfs, "var/lib/dpkg/status")
	if err != nil {
		return err
	}
	fixes, err := debianFixes(*vulndb)
	if err != nil {
		return err
	}
	older, changed := downgradeAll(status, fixes)
	fmt.Fprintf(os.Stderr, "debian12-downgraded: %d packages set just below the lowest fixed version of their source\n", changed)
	if err := writeImage(*out, "debian12-downgraded", "0", base, bytesLayer(tarOf("var/lib/dpkg/status", older, 0o644))); err != nil {
		return err
	}

	for _, g := range []struct{ name, gomod, main string }{
		{"gobinary", tinyGoMod, tinyMain},
		{"gobinary-old", oldGoMod, oldMain},
	} {
		bin, err := buildGoBinary(g.gomod, g.main)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		if err := writeImage(*out, g.name, "65532", bytesLayer(tarOf("app/bin", bin, 0o755))); err != nil {
			return err
		}
	}
	return nil
}

// writeImage writes an image of layers as DIR/NAME/layout and
// DIR/NAME/docker.tar, with the configuration the image tests use.
func writeImage(dir, imgName, user string, layers ...v1.Layer) error {
	cfg, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)},
		Config: v1.Config{
			User:       user,
			Entrypoint: []string{"/bin/sh"},
			Labels:     map[string]string{"org.opencontainers.image.title": "compare/" + imgName},
		},
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(cfg, layers...)
	if err != nil {
		return err
	}
	d := filepath.Join(dir, imgName)
	if err := os.RemoveAll(d); err != nil {
		return err
	}
	p, err := layout.Write(filepath.Join(d, "layout"), empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("%s: writing the layout: %w", imgName, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	// The docker-archive holds the layout's compressed layers as they are.
	stored, err := p.Image(digest)
	if err != nil {
		return err
	}
	tag, err := name.NewTag("compare/" + imgName + ":latest")
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(filepath.Join(d, "docker.tar"), tag, stored); err != nil {
		return fmt.Errorf("%s: writing the docker archive: %w", imgName, err)
	}
	fmt.Printf("%s %s\n", imgName, digest)
	return nil
}

func fileLayer(path string) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) },
		tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		panic(err)
	}
	return l
}

func bytesLayer(data []byte) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		panic(err)
	}
	return l
}

func tarOf(name string, body []byte, mode int64) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		panic(err)
	}
	tw.Write(body)
	tw.Close()
	return buf.Bytes()
}

func readTarFile(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s: no %s", path, name)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return io.ReadAll(tr)
		}
	}
}

// The program of test/images/gobinary_test.go, linked against
// golang.org/x/text v0.3.5.
const (
	tinyGoMod = "module example.com/tiny\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.5\n"
	tinyMain  = `package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("LANG"))
	fmt.Println(tags, err)
}
`
)

// A program linked against more old modules: pseudo-versions (x/net,
// x/crypto), a +incompatible module (jwt-go v3), a major-version suffix
// (jwt/v4) and gopkg.in.
const (
	oldGoMod = `module example.com/old

go 1.22

require (
	github.com/dgrijalva/jwt-go v3.2.0+incompatible
	github.com/golang-jwt/jwt/v4 v4.4.1
	github.com/gorilla/websocket v1.4.0
	golang.org/x/crypto v0.0.0-20200622213623-75b288015ac9
	golang.org/x/net v0.0.0-20210226172049-e18ecbb05110
	golang.org/x/text v0.3.5
	gopkg.in/yaml.v2 v2.2.7
)
`
	oldMain = `package main

import (
	"fmt"
	"os"
	"strings"

	jwt3 "github.com/dgrijalva/jwt-go"
	jwt4 "github.com/golang-jwt/jwt/v4"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/ssh"
	"golang.org/x/net/html"
	"golang.org/x/text/language"
	"gopkg.in/yaml.v2"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("LANG"))
	fmt.Println(tags, err)
	doc, err := html.Parse(strings.NewReader("<p>hi</p>"))
	fmt.Println(doc != nil, err)
	var m map[string]any
	fmt.Println(yaml.Unmarshal([]byte("a: 1"), &m), m)
	_, err = ssh.ParsePublicKey(nil)
	fmt.Println(err)
	fmt.Println(websocket.IsWebSocketUpgrade(nil))
	_, err = jwt3.Parse("x", nil)
	fmt.Println(err)
	_, err = jwt4.Parse("x", nil)
	fmt.Println(err)
}
`
)

// buildGoBinary builds a one-file program with the local Go toolchain
// (-trimpath, so that the image is the same from run to run); its modules
// come from the Go module proxy.
func buildGoBinary(gomod, mainGo string) ([]byte, error) {
	mod, err := os.MkdirTemp("", "compare-gobinary")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(mod)
	for n, body := range map[string]string{"go.mod": gomod, "main.go": mainGo} {
		if err := os.WriteFile(filepath.Join(mod, n), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	bin := filepath.Join(mod, "prog")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = mod
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return os.ReadFile(bin)
}

// debianFixes maps each source package to every fixed version in the
// Debian records of zip.
func debianFixes(zipPath string) (map[string][]string, error) {
	recs, err := readZip(zipPath)
	if err != nil {
		return nil, err
	}
	fixes := map[string][]string{}
	for _, r := range recs {
		var rec struct {
			Affected []struct {
				Package struct{ Name, Ecosystem string }
				Ranges  []struct {
					Events []struct{ Fixed string }
				}
			}
		}
		if err := json.Unmarshal(r.data, &rec); err != nil {
			continue
		}
		for _, a := range rec.Affected {
			if !strings.HasPrefix(a.Package.Ecosystem, "Debian") {
				continue
			}
			for _, rg := range a.Ranges {
				for _, e := range rg.Events {
					if e.Fixed != "" {
						fixes[a.Package.Name] = append(fixes[a.Package.Name], e.Fixed)
					}
				}
			}
		}
	}
	return fixes, nil
}

// downgradeAll rewrites the dpkg status so that every package whose source
// has fixed versions in the records is installed just below the lowest of
// them (X+deb12uK becomes X+deb12u(K-1), X+deb12u1 becomes X, the bookworm
// release version; any other lowest fix is installed as it is), as an
// image built from an older bookworm point release would be. The binary
// version keeps what Debian adds to the source version: a binary epoch the
// source lacks (bsdutils 1:… from util-linux …) and a binNMU suffix (+bN).
func downgradeAll(status []byte, fixes map[string][]string) ([]byte, int) {
	stanzas := strings.Split(string(status), "\n\n")
	changed := 0
	for i, stanza := range stanzas {
		f := fields(stanza)
		if f["Package"] == "" {
			continue
		}
		src, srcVer := f["Package"], f["Version"]
		if s := f["Source"]; s != "" {
			n, v, ok := strings.Cut(s, " ")
			src = n
			if ok {
				srcVer = strings.Trim(v, "()")
			}
		}
		vs := fixes[src]
		if len(vs) == 0 {
			continue
		}
		low := belowFix(slices.MinFunc(vs, compareDebian))
		if compareDebian(low, srcVer) >= 0 {
			continue // already at or below the lowest fix
		}
		bin := low
		binVer := f["Version"]
		if strings.Contains(binVer, ":") && !strings.Contains(low, ":") && !strings.Contains(srcVer, ":") {
			bin = binVer[:strings.Index(binVer, ":")+1] + bin
		}
		if j := strings.LastIndex(binVer, "+b"); j > 0 && !strings.Contains(srcVer, "+b") && isDigits(binVer[j+2:]) {
			bin += binVer[j:]
		}
		var lines []string
		for line := range strings.SplitSeq(stanza, "\n") {
			switch {
			case strings.HasPrefix(line, "Version: "):
				line = "Version: " + bin
			case strings.HasPrefix(line, "Source: "):
				continue
			}
			lines = append(lines, line)
		}
		if src != f["Package"] || bin != low {
			lines = slices.Insert(lines, 1, "Source: "+src+" ("+low+")")
		}
		stanzas[i] = strings.Join(lines, "\n")
		changed++
	}
	return []byte(strings.Join(stanzas, "\n\n")), changed
}

// belowFix is the stable update before fix when fix ends in +deb12uK.
func belowFix(fix string) string {
	i := strings.LastIndex(fix, "+deb12u")
	if i < 0 || !isDigits(fix[i+len("+deb12u"):]) {
		return fix
	}
	k, _ := strconv.Atoi(fix[i+len("+deb12u"):])
	if k <= 1 {
		return fix[:i]
	}
	return fix[:i] + "+deb12u" + strconv.Itoa(k-1)
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func fields(stanza string) map[string]string {
	m := map[string]string{}
	for line := range strings.SplitSeq(stanza, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, " ") {
			m[k] = v
		}
	}
	return m
}

func compareDebian(a, b string) int {
	va, err := semantic.Parse(a, "Debian")
	if err != nil {
		panic(err)
	}
	c, err := va.CompareStr(b)
	if err != nil {
		panic(err)
	}
	return c
}

// ---------------------------------------------------------------- vulndb

// topLevel is the set of fields OSV-Scanner's parser (protojson into
// osvschema.Vulnerability) knows at the top level of a record.
var topLevel = func() map[string]bool {
	m := map[string]bool{}
	fields := (&osvpb.Vulnerability{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		m[string(fields.Get(i).Name())] = true
		m[fields.Get(i).JSONName()] = true
	}
	return m
}()

type zipEntry struct {
	name string
	data []byte
}

func readZip(path string) ([]zipEntry, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var out []zipEntry
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, zipEntry{f.Name, data})
	}
	return out, nil
}

func cmdVulnDB(args []string) error {
	fs := flag.NewFlagSet("vulndb", flag.ExitOnError)
	out := fs.String("out", "", "output directory (OSV-Scanner's --local-db-path)")
	fs.Parse(args)
	if *out == "" || fs.NArg() == 0 {
		return errors.New("vulndb: -out DIR ZIP... required")
	}
	byEco := map[string][]zipEntry{}
	fmt.Printf("%-34s %7s %9s %10s %8s %9s %7s\n", "input", "records", "as-is ok", "normalised", "rejected", "withdrawn", "unfixed")
	for _, path := range fs.Args() {
		recs, err := readZip(path)
		if err != nil {
			return err
		}
		var asIs, normalised, rejected, withdrawn, unfixed int
		moved := map[string]int{}
		for _, r := range recs {
			data := r.data
			if err := protojson.Unmarshal(data, &osvpb.Vulnerability{}); err != nil {
				fixed, keys, nerr := normalise(data)
				if nerr != nil {
					rejected++
					fmt.Fprintf(os.Stderr, "  %s: %s: rejected by OSV-Scanner's parser (%v), left out for both tools\n", filepath.Base(path), r.name, err)
					continue
				}
				if err := protojson.Unmarshal(fixed, &osvpb.Vulnerability{}); err != nil {
					rejected++
					fmt.Fprintf(os.Stderr, "  %s: %s: rejected even after normalising (%v), left out for both tools\n", filepath.Base(path), r.name, err)
					continue
				}
				for _, k := range keys {
					moved[k]++
				}
				data = fixed
				normalised++
			} else {
				asIs++
			}
			var rec struct {
				Withdrawn string
				Affected  []struct {
					Package struct{ Ecosystem string }
					Ranges  []struct {
						Events []map[string]string
					}
				}
			}
			if err := json.Unmarshal(data, &rec); err != nil {
				return fmt.Errorf("%s: %s: %w", path, r.name, err)
			}
			if rec.Withdrawn != "" {
				withdrawn++
			}
			hasFix := false
			ecos := map[string]bool{}
			for _, a := range rec.Affected {
				eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
				ecos[eco] = true
				for _, rg := range a.Ranges {
					for _, e := range rg.Events {
						if e["fixed"] != "" {
							hasFix = true
						}
					}
				}
			}
			if !hasFix {
				unfixed++
			}
			for eco := range ecos {
				byEco[eco] = append(byEco[eco], zipEntry{r.name, data})
			}
		}
		fmt.Printf("%-34s %7d %9d %10d %8d %9d %7d\n", filepath.Base(path), len(recs), asIs, normalised, rejected, withdrawn, unfixed)
		for k, n := range moved {
			fmt.Printf("  %d records: non-standard top-level field %q moved into database_specific (OSV-Scanner skips such records silently)\n", n, k)
		}
	}
	for eco, recs := range byEco {
		dir := filepath.Join(*out, "osv-scalibr", eco)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "all.zip"))
		if err != nil {
			return err
		}
		zw := zip.NewWriter(f)
		slices.SortFunc(recs, func(a, b zipEntry) int { return cmp.Compare(a.name, b.name) })
		for _, r := range recs {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: r.name, Method: zip.Deflate, Modified: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)})
			if err != nil {
				return err
			}
			w.Write(r.data)
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Printf("%s: %d records\n", filepath.Join(dir, "all.zip"), len(recs))
	}
	return nil
}

// normalise moves top-level fields unknown to the OSV schema into
// database_specific, keeping their values.
func normalise(data []byte) ([]byte, []string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, err
	}
	ds := map[string]json.RawMessage{}
	if raw, ok := m["database_specific"]; ok {
		if err := json.Unmarshal(raw, &ds); err != nil {
			return nil, nil, err
		}
	}
	var keys []string
	for k, v := range m {
		if !topLevel[k] {
			ds[k] = v
			delete(m, k)
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil, errors.New("no non-standard top-level field")
	}
	raw, err := json.Marshal(ds)
	if err != nil {
		return nil, nil, err
	}
	m["database_specific"] = raw
	out, err := json.MarshalIndent(m, "", " ")
	return out, keys, err
}

// ---------------------------------------------------------------- diff

// finding is one flaw in one package as one tool reports it.
type finding struct {
	pkg     string // binary package name (Go: module path or stdlib)
	version string // version shown by the tool
	ids     []string
	fixed   string
}

type palisadeReport struct {
	Packages []struct {
		Name, Version, Ecosystem, SourceName, SourceVersion string
	}
	Vulnerabilities []struct {
		ID, Package, Ecosystem, SourcePackage, InstalledVersion, FixedVersion string
		Aliases                                                               []string
	}
}

type osvReport struct {
	Results []struct {
		Packages []struct {
			Package struct {
				Name, Version, Ecosystem string
				OSPackageName            string `json:"os_package_name"`
			}
			Vulnerabilities []struct {
				ID       string
				Aliases  []string
				Affected []struct {
					Package struct{ Name, Ecosystem string }
					Ranges  []struct {
						Events []map[string]string
					}
				}
			}
			Groups []struct {
				IDs     []string
				Aliases []string
			}
		}
	}
}

func cmdDiff(args []string) error {
	fs := flag.NewFlagSet("diff", flag.ExitOnError)
	pPath := fs.String("palisade", "", "palisade scan -o json output")
	oPath := fs.String("osv", "", "osv-scanner --format json output")
	label := fs.String("label", "", "image name for the summary line")
	fs.Parse(args)
	var pr palisadeReport
	var or osvReport
	if err := readJSON(*pPath, &pr); err != nil {
		return err
	}
	if err := readJSON(*oPath, &or); err != nil {
		return err
	}
	binVer := map[string]string{}
	for _, p := range pr.Packages {
		binVer[p.Name] = p.Version
	}
	var pf, of []finding
	for _, v := range pr.Vulnerabilities {
		ids := sortedIDs(append([]string{v.ID}, v.Aliases...))
		pf = append(pf, finding{pkg: v.Package, version: v.InstalledVersion, ids: ids, fixed: v.FixedVersion})
	}
	for _, r := range or.Results {
		for _, p := range r.Packages {
			recs := map[string]int{}
			for i, v := range p.Vulnerabilities {
				recs[v.ID] = i
			}
			for _, g := range p.Groups {
				ids := sortedIDs(append(slices.Clone(g.IDs), g.Aliases...))
				// The smallest fixed version above the installed one over
				// the group's records (OSV-Scanner's own "next fix" is
				// that of the group's first record only).
				fixed := ""
				for _, id := range g.IDs {
					i, ok := recs[id]
					if !ok {
						continue
					}
					for _, a := range p.Vulnerabilities[i].Affected {
						for _, rg := range a.Ranges {
							for _, e := range rg.Events {
								if fv := e["fixed"]; fv != "" && a.Package.Name == p.Package.Name && sameEcosystem(a.Package.Ecosystem, p.Package.Ecosystem) &&
									lessVersion(p.Package.Ecosystem, p.Package.Version, fv) &&
									(fixed == "" || lessVersion(p.Package.Ecosystem, fv, fixed)) {
									fixed = fv
								}
							}
						}
					}
				}
				// Debian packages are named by their source package, with
				// the installed binary package in os_package_name.
				of = append(of, finding{pkg: cmp.Or(p.Package.OSPackageName, p.Package.Name), version: p.Package.Version, ids: ids, fixed: fixed})
			}
		}
	}
	sortF := func(fs []finding) {
		slices.SortFunc(fs, func(a, b finding) int { return cmp.Or(cmp.Compare(a.pkg, b.pkg), slices.Compare(a.ids, b.ids)) })
	}
	sortF(pf)
	sortF(of)

	// Match findings of the same package sharing any id.
	usedO := make([]bool, len(of))
	var both, onlyP []finding
	var idDiffs []string
	for _, p := range pf {
		j := slices.IndexFunc(of, func(o finding) bool {
			return o.pkg == p.pkg && slices.ContainsFunc(o.ids, func(id string) bool { return slices.Contains(p.ids, id) })
		})
		if j < 0 {
			onlyP = append(onlyP, p)
			continue
		}
		both = append(both, p)
		// Every OSV-Scanner group sharing an id with p is the same flaw.
		var oids []string
		for k := range of {
			if of[k].pkg == p.pkg && slices.ContainsFunc(of[k].ids, func(id string) bool { return slices.Contains(p.ids, id) }) {
				usedO[k] = true
				oids = append(oids, of[k].ids...)
			}
		}
		oids = sortedIDs(oids)
		if !slices.Equal(oids, p.ids) || of[j].fixed != p.fixed {
			idDiffs = append(idDiffs, fmt.Sprintf("  %s %s: palisade %v fixed %q; osv-scanner %v fixed %q", p.pkg, p.version, p.ids, p.fixed, oids, of[j].fixed))
		}
	}
	var onlyO []finding
	for k, o := range of {
		if !usedO[k] {
			onlyO = append(onlyO, o)
		}
	}
	// Packages: binary name and version; Go versions without the "v".
	pkgSet := func(name, ver, eco string) string {
		if strings.HasPrefix(eco, "Go") {
			ver = strings.TrimPrefix(ver, "v")
		}
		return name + "@" + ver
	}
	var pPkgs, oPkgs []string
	for _, p := range pr.Packages {
		pPkgs = append(pPkgs, pkgSet(p.Name, p.Version, p.Ecosystem))
	}
	for _, r := range or.Results {
		for _, p := range r.Packages {
			oPkgs = append(oPkgs, pkgSet(cmp.Or(p.Package.OSPackageName, p.Package.Name), p.Package.Version, p.Package.Ecosystem))
		}
	}
	var pkgDiffs []string
	for _, p := range pPkgs {
		if !slices.Contains(oPkgs, p) {
			pkgDiffs = append(pkgDiffs, "  package only in palisade's list: "+p)
		}
	}
	for _, p := range oPkgs {
		if !slices.Contains(pPkgs, p) {
			pkgDiffs = append(pkgDiffs, "  package only in osv-scanner's list: "+p)
		}
	}
	slices.Sort(pkgDiffs)
	fmt.Printf("%s: packages palisade %d, osv-scanner %d; findings palisade %d, osv-scanner %d; both %d, only palisade %d, only osv-scanner %d\n",
		*label, len(pPkgs), len(oPkgs), len(pf), len(of), len(both), len(onlyP), len(onlyO))
	for _, d := range pkgDiffs {
		fmt.Println(d)
	}
	for _, f := range both {
		fmt.Printf("  both          %-22s %-26s %s fixed %s\n", f.pkg, f.version, strings.Join(f.ids, ","), f.fixed)
	}
	for _, f := range onlyP {
		fmt.Printf("  only palisade %-22s %-26s %s fixed %s (binary version %s)\n", f.pkg, f.version, strings.Join(f.ids, ","), f.fixed, binVer[f.pkg])
	}
	for _, f := range onlyO {
		fmt.Printf("  only osv      %-22s %-26s %s fixed %s\n", f.pkg, f.version, strings.Join(f.ids, ","), f.fixed)
	}
	if len(idDiffs) > 0 {
		fmt.Println("  found by both, with different ids or fixed versions:")
		for _, d := range idDiffs {
			fmt.Println(d)
		}
	}
	return nil
}

func sameEcosystem(a, b string) bool {
	a, _, _ = strings.Cut(a, ":")
	b, _, _ = strings.Cut(b, ":")
	return a == b
}

func lessVersion(eco, a, b string) bool {
	va, err := semantic.Parse(a, strings.SplitN(eco, ":", 2)[0])
	if err != nil {
		return a < b
	}
	c, err := va.CompareStr(b)
	return err == nil && c < 0
}

func sortedIDs(ids []string) []string {
	ids = slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == "" })
	slices.Sort(ids)
	return slices.Compact(ids)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
