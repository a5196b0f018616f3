package rpm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/version"
)

func TestEcosystem(t *testing.T) {
	tests := []struct {
		os   sbom.OS
		want string
	}{
		{sbom.OS{ID: "rhel", VersionID: "9.4"}, "Red Hat:enterprise_linux:9"},
		{sbom.OS{ID: "rhel", VersionID: "8"}, "Red Hat:enterprise_linux:8"},
		{sbom.OS{ID: "rhel"}, "Red Hat"},
		{sbom.OS{ID: "almalinux", VersionID: "9.3"}, "AlmaLinux:9"},
		{sbom.OS{ID: "almalinux"}, "AlmaLinux"},
		{sbom.OS{ID: "rocky", VersionID: "8.9"}, "Rocky Linux:8"},
		{sbom.OS{ID: "mageia", VersionID: "9"}, "Mageia:9"},
		{sbom.OS{ID: "openEuler", VersionID: "24.03", Name: "openEuler 24.03 (LTS-SP1)"}, "openEuler:24.03-LTS-SP1"},
		{sbom.OS{ID: "openEuler", VersionID: "24.03", Name: "openEuler 24.03 (LTS)"}, "openEuler:24.03-LTS"},
		{sbom.OS{ID: "openEuler", VersionID: "24.09", Name: "openEuler 24.09"}, "openEuler:24.09"},
		{sbom.OS{ID: "opensuse-leap", VersionID: "15.5"}, "openSUSE:Leap 15.5"},
		{sbom.OS{ID: "opensuse-leap"}, "openSUSE"},
		{sbom.OS{ID: "opensuse-tumbleweed", VersionID: "20240801"}, "openSUSE:Tumbleweed"},
		{sbom.OS{ID: "sles", VersionID: "15.5", Name: "SUSE Linux Enterprise Server 15 SP5"}, "SUSE:Linux Enterprise Server 15 SP5"},
		{sbom.OS{ID: "sle-micro", VersionID: "5.5", Name: "SUSE Linux Enterprise Micro 5.5"}, "SUSE:Linux Enterprise Micro 5.5"},
		{sbom.OS{ID: "sles", VersionID: "15.5"}, "SUSE"},
		{sbom.OS{ID: "centos", VersionID: "7"}, "Red Hat"},
		{sbom.OS{ID: "fedora", VersionID: "40"}, "Red Hat"},
		{sbom.OS{ID: "amzn", VersionID: "2"}, "Red Hat"},
		{sbom.OS{}, "Red Hat"},
	}
	for _, tt := range tests {
		got := ecosystem(tt.os)
		if got != tt.want {
			t.Errorf("ecosystem(%+v) = %q, want %q", tt.os, got, tt.want)
		}
		// Every ecosystem must have a comparator, and rpm's rules.
		if c, err := version.Compare(got, "1:1.0-1", "2.0-1"); err != nil || c != 1 {
			t.Errorf("version.Compare(%q, 1:1.0-1, 2.0-1) = %d, %v; want 1 (rpm rules)", got, c, err)
		}
	}
}

func TestNamespace(t *testing.T) {
	for id, want := range map[string]string{
		"rhel": "redhat", "sles": "suse", "opensuse-leap": "opensuse", "rocky": "rocky",
		"almalinux": "almalinux", "openEuler": "openeuler", "": "",
	} {
		if got := namespace(id); got != want {
			t.Errorf("namespace(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestSource(t *testing.T) {
	tests := []struct{ srpm, name, version string }{
		{"openssl-3.0.7-27.el9.src.rpm", "openssl", "3.0.7-27.el9"},
		{"python-setuptools-53.0.0-12.el9.src.rpm", "python-setuptools", "53.0.0-12.el9"},
		{"kernel-5.14.0-427.13.1.el9_4.nosrc.rpm", "kernel", "5.14.0-427.13.1.el9_4"},
		{"", "", ""},
		{"(none)", "", ""},
		{"openssl.src.rpm", "", ""},
		{"3.0.7-27.src.rpm", "", ""},
		{"-3.0.7-27.src.rpm", "", ""},
		{"openssl-3.0.7-.src.rpm", "", ""},
		{"openssl--27.src.rpm", "", ""},
	}
	for _, tt := range tests {
		name, version := source(tt.srpm)
		if name != tt.name || version != tt.version {
			t.Errorf("source(%q) = %q, %q; want %q, %q", tt.srpm, name, version, tt.name, tt.version)
		}
	}
}

func TestEVR(t *testing.T) {
	for _, tt := range []struct {
		epoch     uint32
		v, r, out string
	}{
		{0, "1.0", "1.el9", "1.0-1.el9"},
		{2, "3.1.4", "5", "2:3.1.4-5"},
		{1, "2.0-3", "", "1:2.0-3"},
	} {
		if got := evr(tt.epoch, tt.v, tt.r); got != tt.out {
			t.Errorf("evr(%d, %q, %q) = %q, want %q", tt.epoch, tt.v, tt.r, got, tt.out)
		}
	}
}

// blob builds a header blob from entries of (tag, type, value); string
// values are stored NUL-terminated, uint32 values as INT32.
func blob(entries ...any) []byte {
	var index, data []byte
	for i := 0; i < len(entries); i += 3 {
		tag, typ := entries[i].(int), entries[i+1].(int)
		off := len(data)
		switch v := entries[i+2].(type) {
		case string:
			data = append(append(data, v...), 0)
		case uint32:
			data = binary.BigEndian.AppendUint32(data, v)
		}
		index = binary.BigEndian.AppendUint32(index, uint32(tag))
		index = binary.BigEndian.AppendUint32(index, uint32(typ))
		index = binary.BigEndian.AppendUint32(index, uint32(off))
		index = binary.BigEndian.AppendUint32(index, 1)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(index)/16))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(append(b, index...), data...)
}

func TestParseHeader(t *testing.T) {
	good := blob(tagName, typeString, "curl", tagVersion, typeString, "7.76.1", tagRelease, typeString, "29.el9_4",
		tagEpoch, typeInt32, uint32(1), tagArch, typeString, "x86_64", tagSourceRPM, typeString, "curl-7.76.1-29.el9_4.src.rpm")
	h, err := parseHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	want := header{name: "curl", version: "7.76.1", release: "29.el9_4", arch: "x86_64", sourceRPM: "curl-7.76.1-29.el9_4.src.rpm", epoch: 1}
	if h != want {
		t.Errorf("parseHeader() = %+v, want %+v", h, want)
	}

	unterminated := blob(tagName, typeString, "curl", tagVersion, typeString, "1", tagRelease, typeString, "1")
	unterminated = unterminated[:len(unterminated)-1]
	binary.BigEndian.PutUint32(unterminated[4:], binary.BigEndian.Uint32(unterminated[4:])-1)
	for name, tt := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":           {nil, "shorter than"},
		"no entries":      {make([]byte, 8), "implausible"},
		"overrun":         {good[:len(good)-1], "overrun"},
		"offset past end": {patch(good, 8+8, 1<<20), "outside"},
		"epoch as string": {blob(tagName, typeString, "a", tagVersion, typeString, "1", tagRelease, typeString, "1", tagEpoch, typeString, "1"), "epoch"},
		"name as integer": {blob(tagName, typeInt32, uint32(7), tagVersion, typeString, "1", tagRelease, typeString, "1"), "want a string"},
		"unterminated":    {unterminated, "runs past"},
		"no version":      {blob(tagName, typeString, "a", tagRelease, typeString, "1"), "without a name, version or release"},
	} {
		if _, err := parseHeader(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: parseHeader() error = %v, want one containing %q", name, err, tt.want)
		}
	}
}

// patch returns a copy of b with the big-endian uint32 at off set to v.
func patch(b []byte, off int, v uint32) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[off:], v)
	return c
}

// TestCollectorBounds checks the bounds every database format goes through:
// the number of headers, their minimum size and the byte budget.
func TestCollectorBounds(t *testing.T) {
	h := blob(tagName, typeString, "a", tagVersion, typeString, "1", tagRelease, typeString, "1")
	c := &collector{ctx: t.Context(), left: 1 << 30}
	for i := range maxHeaders {
		if err := c.add(h); err != nil {
			t.Fatalf("header %d: %v", i+1, err)
		}
	}
	if err := c.add(h); err == nil || !strings.Contains(err.Error(), "more than 100000 package headers") {
		t.Errorf("header %d: error %v, want one about too many headers", maxHeaders+1, err)
	}
	n := 0
	for _, chunk := range c.headers.chunks {
		n += len(chunk)
	}
	if n != maxHeaders || c.headers.n != maxHeaders {
		t.Errorf("collected %d headers (n = %d), want %d", n, c.headers.n, maxHeaders)
	}

	for _, size := range []int{0, 1, 8, minHeader - 1} {
		c := &collector{ctx: t.Context(), left: 1 << 20}
		if err := c.add(make([]byte, size)); err == nil || !strings.Contains(err.Error(), "too short for an rpm header") {
			t.Errorf("%d-byte blob: error %v, want one about its size", size, err)
		}
	}

	c = &collector{ctx: t.Context(), left: 2*len(h) + minHeader - 1}
	for range 2 {
		if err := c.add(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add(h); err == nil || !strings.Contains(err.Error(), "more than the database's size") {
		t.Errorf("third header over the budget: error %v", err)
	}
}
