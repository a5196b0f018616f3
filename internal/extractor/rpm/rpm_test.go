package rpm_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/rpm"
	"github.com/palisade-project/palisade/internal/sbom"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, rpm.New(), "testdata")
}

func TestTooLarge(t *testing.T) {
	in := &extractor.Input{Path: "var/lib/rpm/rpmdb.sqlite", Size: extractor.MaxFileSize + 1, Reader: strings.NewReader("")}
	if _, err := rpm.New().Extract(t.Context(), in); !errors.Is(err, extractor.ErrTooLarge) {
		t.Fatalf("Extract() error = %v, want ErrTooLarge", err)
	}
}

func TestRequired(t *testing.T) {
	for path, want := range map[string]bool{
		"var/lib/rpm/Packages":                  true,
		"var/lib/rpm/Packages.db":               true,
		"var/lib/rpm/rpmdb.sqlite":              true,
		"usr/lib/sysimage/rpm/rpmdb.sqlite":     true,
		"usr/lib/sysimage/rpm/Packages.db":      true,
		"usr/share/rpm/Packages":                true,
		"var/lib/rpm/rpmdb.sqlite-wal":          false,
		"var/lib/rpm/Index.db":                  false,
		"var/lib/rpm/Name":                      false,
		"var/lib/rpm/sub/Packages":              false,
		"usr/share/doc/var/lib/rpm/Packages":    false,
		"home/user/var/lib/rpm/rpmdb.sqlite":    false,
		"usr/lib/sysimage/rpm/Packages.db.save": false,
	} {
		if got := rpm.New().Required(path, 0o644, 10); got != want {
			t.Errorf("Required(%q) = %v, want %v", path, got, want)
		}
	}
	if rpm.New().Required("var/lib/rpm/Packages", os.ModeSymlink, 10) {
		t.Error("Required(symlink) = true, want false")
	}
}

// TestAgreesWithRPM compares what the extractor finds in each valid fixture
// with rpm's own listing of the same database, which make.sh recorded in
// testdata/rpm-qa (rpm -qa: NAME EPOCHNUM VERSION RELEASE ARCH SOURCERPM).
func TestAgreesWithRPM(t *testing.T) {
	cases, err := extractortest.Cases("testdata", "valid")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			want := rpmQA(t, filepath.Join("testdata", "rpm-qa", c+".txt"))
			res := extractortest.Extract(t, rpm.New(), filepath.Join("testdata", "valid", c))
			var got []string
			for _, p := range res.Packages {
				u, err := url.Parse(p.PURL)
				if err != nil {
					t.Fatalf("purl %q: %v", p.PURL, err)
				}
				got = append(got, strings.Join([]string{p.Name, p.Version, u.Query().Get("arch"), p.SourceName, p.SourceVersion}, " "))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("extractor and rpm -qa disagree (-rpm +extractor):\n%s", diff)
			}
		})
	}
}

// rpmQA reads an rpm -qa listing as the extractor should report it:
// without gpg-pubkey, versions as [EPOCH:]VERSION-RELEASE, sorted by name.
func rpmQA(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 6 {
			t.Fatalf("%s: %q: want 6 fields", path, sc.Text())
		}
		name, epoch, version, release, arch, srpm := fs[0], fs[1], fs[2], fs[3], fs[4], fs[5]
		if name == "gpg-pubkey" {
			continue
		}
		prefix := ""
		if epoch != "0" {
			prefix = epoch + ":"
		}
		// SOURCERPM is NAME-VERSION-RELEASE.src.rpm.
		srpm = strings.TrimSuffix(srpm, ".src.rpm")
		parts := strings.Split(srpm, "-")
		if len(parts) < 3 {
			t.Fatalf("%s: SOURCERPM %q", path, fs[5])
		}
		srcName := strings.Join(parts[:len(parts)-2], "-")
		srcVersion := strings.Join(parts[len(parts)-2:], "-")
		out = append(out, strings.Join([]string{name, prefix + version + "-" + release, arch, srcName, prefix + srcVersion}, " "))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no packages", path)
	}
	return out
}

// extract runs the extractor on b as the database at path, failing the test
// if it takes long: a corrupt database must end in an error, not a hang.
func extract(t testing.TB, path string, b []byte) ([]sbom.Package, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	pkgs, err := rpm.New().Extract(ctx, &extractor.Input{Path: path, Size: int64(len(b)), Reader: bytes.NewReader(b)})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Extract took %v", d)
	}
	for _, p := range pkgs {
		if p.Name == "" || p.Version == "" {
			t.Fatalf("package without a name or version: %+v", p)
		}
	}
	return pkgs, err
}

// databases are the valid fixtures' databases: SQLite, NDB, Berkeley DB
// with 4 KiB and with 16 KiB pages.
var databases = []string{
	"testdata/valid/rhel9/var/lib/rpm/rpmdb.sqlite",
	"testdata/valid/opensuse-leap/usr/lib/sysimage/rpm/Packages.db",
	"testdata/valid/rocky8/var/lib/rpm/Packages",
	"testdata/valid/no-os-release/usr/share/rpm/Packages",
}

var formats = []string{"sqlite", "ndb", "bdb-4k", "bdb-16k"}

// TestCorruptDatabases truncates each fixture database at many lengths and
// damages it at many offsets: every result must be an error or packages,
// quickly, and never a panic.
func TestCorruptDatabases(t *testing.T) {
	for i, db := range databases {
		orig, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(formats[i], func(t *testing.T) {
			errs := 0
			for i := 0; i <= 64; i++ {
				n := len(orig) * i / 64
				if i == 64 {
					n = len(orig) - 1
				}
				if _, err := extract(t, db, orig[:n]); err != nil {
					errs++
				} else if n > 0 {
					t.Errorf("truncated to %d of %d bytes: no error", n, len(orig))
				}
			}
			r := rand.New(rand.NewPCG(1, uint64(len(orig))))
			for range 300 {
				b := bytes.Clone(orig)
				for range 1 + r.IntN(4) {
					b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
				}
				if _, err := extract(t, db, b); err != nil {
					errs++
				}
			}
			t.Logf("%d of %d damaged copies gave an error", errs, 65+300)
		})
	}
}

// TestHostileDatabases are crafted the way an attacker would craft them:
// loops, lengths pointing past the file, and SQL that computes rows.
func TestHostileDatabases(t *testing.T) {
	read := func(t *testing.T, path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bdbPages := func(b []byte, typ byte, fn func(pg uint32, p []byte)) {
		ps := int(binary.LittleEndian.Uint32(b[20:]))
		for pg := 1; (pg+1)*ps <= len(b); pg++ {
			if p := b[pg*ps : (pg+1)*ps]; p[25] == typ {
				fn(uint32(pg), p)
			}
		}
	}
	tests := []struct {
		name, path string
		make       func(t *testing.T) []byte
		want       string
	}{
		{
			name: "bdb overflow page linked to itself",
			path: "var/lib/rpm/Packages",
			make: func(t *testing.T) []byte {
				b := read(t, databases[2])
				bdbPages(b, 7, func(pg uint32, p []byte) { binary.LittleEndian.PutUint32(p[16:], pg) })
				return b
			},
			want: "bdb: page",
		},
		{
			name: "bdb overflow item longer than the file",
			path: "var/lib/rpm/Packages",
			make: func(t *testing.T) []byte {
				b := read(t, databases[2])
				bdbPages(b, 13, func(_ uint32, p []byte) {
					n := int(binary.LittleEndian.Uint16(p[20:]))
					for i := 1; i < n; i += 2 {
						off := binary.LittleEndian.Uint16(p[26+2*i:])
						if p[off] == 3 {
							binary.LittleEndian.PutUint32(p[off+8:], 0xffffffff)
						}
					}
				})
				return b
			},
			want: "overflow item of 4294967295 bytes",
		},
		{
			name: "bdb hash page with more entries than fit",
			path: "var/lib/rpm/Packages",
			make: func(t *testing.T) []byte {
				b := read(t, databases[2])
				bdbPages(b, 13, func(_ uint32, p []byte) { binary.LittleEndian.PutUint16(p[20:], 0xfffe) })
				return b
			},
			want: "entries do not make key/value pairs",
		},
		{
			name: "bdb more pages than the file",
			path: "var/lib/rpm/Packages",
			make: func(t *testing.T) []byte {
				b := read(t, databases[2])
				binary.LittleEndian.PutUint32(b[32:], 0xffffffff)
				return b
			},
			want: "truncated",
		},
		{
			name: "ndb blob length past the file",
			path: "var/lib/rpm/Packages.db",
			make: func(t *testing.T) []byte {
				b := read(t, databases[1])
				for off := 32; off < 4096; off += 16 {
					if blk := binary.LittleEndian.Uint32(b[off+8:]); blk != 0 {
						binary.LittleEndian.PutUint32(b[blk*16+12:], 0xfffffff0)
					}
				}
				return b
			},
			want: "in 1",
		},
		{
			name: "ndb slot pages past the file",
			path: "var/lib/rpm/Packages.db",
			make: func(t *testing.T) []byte {
				b := read(t, databases[1])
				binary.LittleEndian.PutUint32(b[12:], 0xffffffff)
				return b
			},
			want: "slot pages do not fit",
		},
		{
			name: "sqlite Packages as an endless view",
			path: "var/lib/rpm/rpmdb.sqlite",
			make: func(t *testing.T) []byte {
				return sqliteDB(t, `CREATE VIEW Packages AS
					WITH RECURSIVE n(hnum) AS (SELECT 1 UNION ALL SELECT hnum + 1 FROM n)
					SELECT hnum, zeroblob(1000) AS blob FROM n`)
			},
			want: "no Packages table",
		},
		{
			name: "sqlite without a Packages table",
			path: "var/lib/rpm/rpmdb.sqlite",
			make: func(t *testing.T) []byte { return sqliteDB(t, "CREATE TABLE Other (x)") },
			want: "no Packages table",
		},
		{
			name: "sqlite blob that is not a header",
			path: "var/lib/rpm/rpmdb.sqlite",
			make: func(t *testing.T) []byte {
				return sqliteDB(t, `CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
					INSERT INTO Packages (blob) VALUES (x'0000ffff00000010' || zeroblob(56))`)
			},
			want: "sqlite: header 1: 65535 index entries and 16 data bytes overrun",
		},
		{
			name: "sqlite blob too short for a header",
			path: "var/lib/rpm/rpmdb.sqlite",
			make: func(t *testing.T) []byte {
				return sqliteDB(t, `CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
					INSERT INTO Packages (blob) VALUES (x'')`)
			},
			want: "sqlite: header 1: 0 bytes, too short for an rpm header",
		},
		{
			name: "sqlite blobs generated larger than the file",
			path: "var/lib/rpm/rpmdb.sqlite",
			make: func(t *testing.T) []byte {
				return sqliteDB(t, `CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, n INTEGER, blob BLOB AS (zeroblob(n)));
					INSERT INTO Packages (n) VALUES (100000000)`)
			},
			want: "sqlite: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := extract(t, tt.path, tt.make(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Extract() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestManyHeaders feeds SQLite databases of many small rows, which cost a
// reader that keeps every blob until the end far more memory than the file
// is large (870 MB allocated for 3.6 million 8-byte rows in 60 MB, before
// the blobs were decoded as they were read). Each must end in a clear
// error, having allocated no more than a small multiple of the file's
// size. (SQLite's own copy of the database lives outside the Go heap and
// is not counted.)
func TestManyHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds databases of several megabytes")
	}
	// The smallest header the extractor accepts: name "a", version and
	// release "1".
	var h []byte
	for _, v := range []uint32{3, 6, 1000, 6, 0, 1, 1001, 6, 2, 1, 1002, 6, 4, 1} {
		h = binary.BigEndian.AppendUint32(h, v)
	}
	h = append(h, "a\x001\x001\x00"...)
	const schema = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);"
	rows := func(n int, value string) string {
		return fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO Packages (blob) SELECT %s FROM n`, n, value)
	}
	for _, tt := range []struct {
		name, sql, want string
	}{
		{"200k 8-byte rows", schema + rows(200_000, "randomblob(8)"), "header 1: 8 bytes, too short for an rpm header"},
		{"200k empty rows", schema + rows(200_000, "x''"), "header 1: 0 bytes, too short for an rpm header"},
		{"150k minimal headers", schema + rows(150_000, "x'"+hex.EncodeToString(h)+"'"), "more than 100000 package headers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := sqliteDB(t, tt.sql)
			b[18], b[19] = 2, 2 // WAL mode, as rpm leaves its database
			in := &extractor.Input{Path: "var/lib/rpm/rpmdb.sqlite", Size: int64(len(b)), Reader: bytes.NewReader(b)}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			pkgs, err := rpm.New().Extract(t.Context(), in)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes of database: %d bytes allocated in %d allocations", len(b), alloc, after.Mallocs-before.Mallocs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Extract() = %d packages, error %v; want an error containing %q", len(pkgs), err, tt.want)
			}
			// The extractor's copy of the file, and what the headers the
			// file has room for (at most 100,000, of 56 bytes or more)
			// take once decoded, with room to spare.
			if limit := 3*uint64(len(b)) + 256*uint64(min(100_000, len(b)/56)); alloc > limit {
				t.Errorf("Extract() allocated %d bytes for a %d-byte database, over %d", alloc, len(b), limit)
			}
		})
	}
}

// sqliteDB returns the bytes of a new SQLite database made by sqlStmts.
func sqliteDB(t *testing.T, sqlStmts string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(sqlStmts); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCancelled(t *testing.T) {
	b, err := os.ReadFile(databases[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	in := &extractor.Input{Path: "var/lib/rpm/rpmdb.sqlite", Size: int64(len(b)), Reader: bytes.NewReader(b)}
	if _, err := rpm.New().Extract(ctx, in); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract() error = %v, want context.Canceled", err)
	}
}

// FuzzExtract feeds damaged databases of every format to the extractor;
// `go test` runs the fixture seeds, `go test -fuzz FuzzExtract` explores.
func FuzzExtract(f *testing.F) {
	for _, db := range databases {
		b, err := os.ReadFile(db)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := extract(t, "var/lib/rpm/Packages", b)
		if err != nil && len(pkgs) > 0 {
			t.Fatalf("Extract() returned %d packages and error %v", len(pkgs), err)
		}
	})
}
