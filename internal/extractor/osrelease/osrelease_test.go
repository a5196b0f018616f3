package osrelease_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/extractor/extractortest"
	"github.com/palisade-project/palisade/internal/extractor/osrelease"
	"github.com/palisade-project/palisade/internal/sbom"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, osrelease.New(), "testdata")
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     sbom.OS
		wantErr  string
	}{
		{name: "quoted", in: "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
			want: sbom.OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"}},
		{name: "single quotes and escapes", in: "ID='alpine'\nVERSION_ID=3.20.3\nPRETTY_NAME=\"A \\\"b\\\"\"\n",
			want: sbom.OS{ID: "alpine", VersionID: "3.20.3", Name: `A "b"`}},
		{name: "name fallback and default id", in: "# c\n\nNAME=Foo\n", want: sbom.OS{ID: "linux", Name: "Foo"}},
		{name: "no equals", in: "ID=debian\ngarbage line\n", wantErr: "line 2"},
		{name: "unterminated", in: "ID=\"debian\n", wantErr: "unterminated quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := osrelease.Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, err := osrelease.Parse(strings.NewReader(strings.Repeat("#", osrelease.MaxSize+1)))
	if !errors.Is(err, extractor.ErrTooLarge) {
		t.Fatalf("Parse() error = %v, want ErrTooLarge", err)
	}
}
