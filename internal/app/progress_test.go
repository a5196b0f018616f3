package app

import (
	"bytes"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/imagefs"
)

func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "img")
	p.report(imagefs.Progress{Layer: 1, Layers: 2})
	p.done()
	if buf.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", buf.String())
	}

	// As on a terminal: one line, rewritten, cleared at the end.
	p = &progress{w: &buf, what: "evil\x1b]0;x\x07/img"}
	p.report(imagefs.Progress{Layer: 1, Layers: 2, CompressedBytes: 3 << 20, DecompressedBytes: 1 << 20})
	p.report(imagefs.Progress{Layer: 2, Layers: 2}) // throttled
	p.done()
	out := buf.String()
	if !strings.Contains(out, "layer 1/2, 1.0 MiB read (3.0 MiB compressed in all)") || strings.Contains(out, "layer 2/2") {
		t.Errorf("progress = %q", out)
	}
	if strings.Contains(out, "\x07") || strings.Contains(out, "\x1b]") {
		t.Errorf("control characters of the name reached the terminal: %q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("progress line not cleared: %q", out)
	}
}
