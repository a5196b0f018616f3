package java_test

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/java"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, java.New(), "testdata")
}

type entry struct{ name, content string }

// jar builds a deterministic zip archive.
func jar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		f, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteFixtures regenerates, with -update, the archives under testdata
// and fails when they are stale.
func TestWriteFixtures(t *testing.T) {
	log4j := jar(t,
		entry{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nImplementation-Title: Apache Log4j Core\r\nImplementation-Version: 2.14.1\r\n\r\n"},
		entry{"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", "#Created by Apache Maven 3.6.3\nversion=2.14.1\ngroupId=org.apache.logging.log4j\nartifactId=log4j-core\n"},
		entry{"org/apache/logging/log4j/core/Logger.class", "\xca\xfe\xba\xbe"},
	)
	manifestOnly := jar(t,
		entry{"META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: commons-tool\nImplementation-Vendor-Id: org.example\nImplementation-Version: 1.0.\n 2\n\nName: other/\nImplementation-Version: 9\n"},
	)
	deep := jar(t, entry{"META-INF/maven/org.deep/never/pom.properties", "groupId=org.deep\nartifactId=never\nversion=1\n"})
	inner := jar(t,
		entry{"META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties", "groupId=com.fasterxml.jackson.core\nartifactId=jackson-databind\nversion=2.9.10.1\n"},
		entry{"lib/deep.jar", string(deep)},
	)
	war := jar(t,
		entry{"META-INF/maven/com.example/shop/pom.properties", "groupId=com.example\nartifactId=shop\nversion=3.1.0\n"},
		entry{"WEB-INF/lib/jackson-databind-2.9.10.1.jar", string(inner)},
	)
	files := map[string][]byte{
		"valid/log4j/opt/app/lib/log4j-core-2.14.1.jar": log4j,
		"valid/manifest-only/opt/tool/commons-tool.jar": manifestOnly,
		"valid/war/usr/local/tomcat/webapps/shop.war":   war,
		"invalid/not-a-zip/opt/app/broken.jar":          []byte("PK\x03\x04 truncated archive"),
		"empty/no-metadata/opt/app/classes-only.jar":    jar(t, entry{"a/B.class", "\xca\xfe\xba\xbe"}),
	}
	for name, want := range files {
		p := filepath.Join("testdata", filepath.FromSlash(name))
		if *extractortest.Update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test -update", p)
		}
	}
}
