package rpm

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// An rpm header, as every database format stores it, is big-endian:
//
//	uint32 il, dl          number of index entries, bytes of data
//	il × {int32 tag, uint32 type, int32 offset, uint32 count}
//	dl bytes of data       the entries' values, at their offsets
//
// (the header of a package file adds an 8-byte magic in front; databases
// store it without).

// Tags read from headers.
const (
	tagName      = 1000
	tagVersion   = 1001
	tagRelease   = 1002
	tagEpoch     = 1003
	tagArch      = 1022
	tagSourceRPM = 1044
)

// Types of header values read.
const (
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// Bounds rpm itself enforces on a header (HEADER_TAGS_MAX, HEADER_DATA_MAX).
const (
	maxEntries = 0xffff
	maxData    = 256 << 20
)

// header holds the tags of one package that the extractor reports.
type header struct {
	name, version, release, arch, sourceRPM string
	epoch                                   uint32
}

// parseHeader decodes the tags the extractor needs from one header blob.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < 8 {
		return h, fmt.Errorf("%d bytes, shorter than a header's 8-byte preamble", len(b))
	}
	il, dl := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxEntries || dl > maxData {
		return h, fmt.Errorf("implausible header: %d index entries, %d data bytes", il, dl)
	}
	end := 8 + 16*uint64(il) + uint64(dl)
	if end > uint64(len(b)) {
		return h, fmt.Errorf("%d index entries and %d data bytes overrun the header's %d bytes", il, dl, len(b))
	}
	index, data := b[8:8+16*il], b[8+16*il:end]
	var seen [tagSourceRPM - tagName + 1]bool // tags read, by tag - tagName
	for i := uint32(0); i < il; i++ {
		e := index[16*i:]
		tag, typ := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
		off, count := binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		var dst *string
		switch tag {
		case tagName:
			dst = &h.name
		case tagVersion:
			dst = &h.version
		case tagRelease:
			dst = &h.release
		case tagArch:
			dst = &h.arch
		case tagSourceRPM:
			dst = &h.sourceRPM
		case tagEpoch:
		default:
			continue
		}
		if seen[tag-tagName] {
			continue // the first occurrence is the package's own
		}
		seen[tag-tagName] = true
		if uint64(off) >= uint64(len(data)) || count == 0 {
			return h, fmt.Errorf("tag %d: offset %d, count %d outside its %d data bytes", tag, off, count, len(data))
		}
		if tag == tagEpoch {
			if typ != typeInt32 || uint64(off)+4 > uint64(len(data)) {
				return h, fmt.Errorf("tag %d (epoch): type %d at offset %d, want a 32-bit integer within %d data bytes", tag, typ, off, len(data))
			}
			h.epoch = binary.BigEndian.Uint32(data[off:])
			continue
		}
		if typ != typeString && typ != typeStringArray && typ != typeI18NString {
			return h, fmt.Errorf("tag %d: type %d, want a string", tag, typ)
		}
		s := data[off:]
		n := bytes.IndexByte(s, 0)
		if n < 0 {
			return h, fmt.Errorf("tag %d: string at offset %d runs past the data", tag, off)
		}
		*dst = string(s[:n])
	}
	if h.name == "" || h.version == "" || h.release == "" {
		return h, fmt.Errorf("header without a name, version or release (name %q, version %q, release %q)", truncate(h.name), truncate(h.version), truncate(h.release))
	}
	return h, nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
