package app

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/safetext"
)

// progress shows how far a scan got on one terminal line, at most five
// times a second, and only when w is a terminal: CI logs stay clean.
type progress struct {
	w     io.Writer
	what  string
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{w: w, what: what}
}

// report is an imagefs.Options.Progress.
func (p *progress) report(pr imagefs.Progress) {
	if p.w == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.shown = true
	// \r and erase-line keep it on one line; the name is the user's own
	// argument, but control characters are dropped all the same.
	fmt.Fprintf(p.w, "\r\x1b[Kscanning %s: layer %d/%d, %s read (%s compressed in all)", safetext.OneLine(p.what), pr.Layer, pr.Layers, mib(pr.DecompressedBytes), mib(pr.CompressedBytes))
}

// done clears the progress line.
func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
