// Package procfs reads what the node agent needs from a Linux /proc tree:
// processes (parent, executable, bounded and redacted arguments, real uid,
// start time, namespaces, and the container and pod they belong to,
// resolved from their cgroup), the TCP and UDP socket tables of a network
// namespace, and the socket inodes a process holds.
//
// The root is configurable: "/proc" on a host, "/host/proc" in a DaemonSet
// that mounts the host's /proc there (a procfs shows the processes of the
// pid namespace it was mounted in, so the host's; the cgroup paths are
// shown relative to the reader's cgroup namespace, "/../../kubepods...",
// which ParseCgroup reads), or a fake tree in tests (see procfstest).
// Reading the exe link and the descriptors of other users' processes
// needs CAP_SYS_PTRACE; without it those fields stay empty and counted.
//
// Everything read is treated as untrusted and bounded (Options). Processes
// come and go while /proc is read: a process that vanishes mid-read is
// skipped and counted, never an error; fields that cannot be read (no
// permission, kernel threads and zombies that have no executable) are left
// empty and counted in Stats. The package is silent: it neither logs nor
// keeps mutable global state, and an FS is safe for concurrent use.
//
// A polling agent uses a Scanner, which re-reads in full only the
// processes that are new or changed (about five times cheaper than
// Processes on a real /proc).
//
// Paths inside a process's mount namespace (Exe) are as the process sees
// them: /usr/sbin/nginx of a container is the file in its image, not on the
// host.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxProcesses       = 100_000
	DefaultMaxArgsBytes       = 4096
	DefaultMaxArgs            = 256
	DefaultMaxSocketsPerNetNS = 65_536
	DefaultMaxFDs             = 65_536
	DefaultRefresh            = 5 * time.Minute
)

// Fixed bounds on files whose size the kernel keeps small; anything beyond
// is ignored (and, for the cgroup file, reported as an unknown format when
// nothing recognisable came before).
const (
	// maxStatBytes bounds /proc/<pid>/stat (52 numbers and a 64-byte comm)
	// and /proc/<pid>/status, of which we read Uid, before Groups, and
	// NSpid, after Groups: lost (NSPID 0) for a process in hundreds of
	// supplementary groups.
	maxStatBytes    = 4096
	maxCgroupBytes  = 64 << 10
	maxProcStatSize = 4 << 20 // <root>/stat: the intr line grows with the number of IRQs
	maxSocketLine   = 512     // a tcp6 line is about 170 bytes
)

// userHZ is USER_HZ, the unit of /proc/<pid>/stat's starttime: 100 on every
// architecture Kubernetes runs on (sysconf(_SC_CLK_TCK)).
const userHZ = 100

// bootTimeTTL is how long the boot time read from <root>/stat is reused.
// The kernel derives btime from the wall clock, so it moves when the clock
// is stepped; re-reading it now and then follows such steps.
const bootTimeTTL = time.Minute

// ErrNoProcess is wrapped by the errors of per-process reads when the
// process does not exist (any more).
var ErrNoProcess = errors.New("no such process")

// ErrTruncated is wrapped by an error returned together with partial
// results when a bound of Options was reached.
var ErrTruncated = errors.New("bound reached, result truncated")

// Options bound what is read. Zero values mean the defaults.
type Options struct {
	// MaxProcesses bounds the processes one Processes call returns.
	MaxProcesses int
	// MaxArgsBytes bounds the bytes of /proc/<pid>/cmdline read; a last
	// argument cut by the bound is dropped (a cut secret could escape
	// redaction) and the process is marked ArgsTruncated.
	MaxArgsBytes int
	// MaxArgs bounds the number of arguments kept.
	MaxArgs int
	// MaxSocketsPerNetNS bounds the sockets read from the four tables of
	// one network namespace, together.
	MaxSocketsPerNetNS int
	// MaxFDs bounds the file descriptors of one process examined by
	// SocketInodes.
	MaxFDs int
	// Refresh is how long a Scanner reuses what it read of a process that
	// did not change (see Scanner); the default is DefaultRefresh.
	Refresh time.Duration
	// Redact are patterns of secrets inside one argument. For each match,
	// the text of the pattern's first capturing group (or, without groups,
	// the whole match) becomes "<redacted>". Nil means DefaultRedact();
	// an empty, non-nil slice redacts nothing.
	Redact []*regexp.Regexp
	// RedactNext are patterns of a whole argument whose following argument
	// is a secret ("--token", then the token): the following argument
	// becomes "<redacted>". Nil means DefaultRedactNext(); an empty,
	// non-nil slice redacts nothing.
	RedactNext []*regexp.Regexp
}

func (o Options) withDefaults() Options {
	if o.MaxProcesses <= 0 {
		o.MaxProcesses = DefaultMaxProcesses
	}
	if o.MaxArgsBytes <= 0 {
		o.MaxArgsBytes = DefaultMaxArgsBytes
	}
	if o.MaxArgs <= 0 {
		o.MaxArgs = DefaultMaxArgs
	}
	if o.MaxSocketsPerNetNS <= 0 {
		o.MaxSocketsPerNetNS = DefaultMaxSocketsPerNetNS
	}
	if o.MaxFDs <= 0 {
		o.MaxFDs = DefaultMaxFDs
	}
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Redact == nil {
		o.Redact = DefaultRedact()
	}
	if o.RedactNext == nil {
		o.RedactNext = DefaultRedactNext()
	}
	return o
}

// FS reads one /proc tree.
type FS struct {
	root string
	opts Options
	red  redactor

	mu        sync.Mutex
	btime     int64 // seconds since the epoch; 0 when unknown
	btimeRead time.Time

	scratch sync.Pool // of *scratch, for Process and Cgroup
}

// New returns an FS reading the /proc tree at root ("/proc" when empty).
// Nothing is read until a method is called.
func New(root string, opts Options) *FS {
	if root == "" {
		root = "/proc"
	}
	opts = opts.withDefaults()
	return &FS{root: filepath.Clean(root), opts: opts, red: newRedactor(opts.Redact, opts.RedactNext)}
}

// Root is the /proc tree FS reads.
func (fs *FS) Root() string { return fs.root }

// pidPath is <root>/<pid>/<name>.
func (fs *FS) pidPath(pid int, name string) string {
	return fs.root + "/" + strconv.Itoa(pid) + "/" + name
}

// bootTime returns the boot time from <root>/stat's btime line, cached for
// bootTimeTTL.
func (fs *FS) bootTime() (int64, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.btime != 0 && time.Since(fs.btimeRead) < bootTimeTTL {
		return fs.btime, nil
	}
	bt, err := readBootTime(fs.root + "/stat")
	if err != nil {
		return 0, err
	}
	fs.btime, fs.btimeRead = bt, time.Now()
	return bt, nil
}

func readBootTime(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("reading boot time: %w", err)
	}
	defer f.Close()
	lr := newLineReader(io.LimitReader(f, maxProcStatSize), 256)
	for {
		line, err := lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("reading boot time: no btime line in %s", path)
			}
			return 0, fmt.Errorf("reading boot time: %w", err)
		}
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			bt, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil || bt <= 0 {
				return 0, fmt.Errorf("reading boot time: bad btime line %q", line)
			}
			return bt, nil
		}
	}
}

// gone reports whether err says the process does not exist (any more):
// its directory is missing, or it exited after a file was opened.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// lineReader yields the lines of r without their newline; a line longer
// than the buffer is skipped and reported through long.
type lineReader struct {
	buf        []byte
	r          io.Reader
	start, end int
	eof        bool
	long       int // lines skipped for being too long
}

func newLineReader(r io.Reader, maxLine int) *lineReader {
	return &lineReader{r: r, buf: make([]byte, maxLine)}
}

// next returns the next line, valid until the following call, or io.EOF.
func (lr *lineReader) next() ([]byte, error) {
	skipping := false
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+i]
			lr.start += i + 1
			if skipping {
				skipping = false
				lr.long++
				continue
			}
			return line, nil
		}
		if lr.eof {
			if lr.start < lr.end && !skipping {
				line := lr.buf[lr.start:lr.end]
				lr.start = lr.end
				return line, nil
			}
			if skipping {
				lr.long++
			}
			lr.start = lr.end
			return nil, io.EOF
		}
		if lr.start == 0 && lr.end == len(lr.buf) {
			// The line does not fit: drop what we have and skip to its end.
			skipping = true
			lr.end = 0
		}
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, err
			}
			lr.eof = true
		} else if n == 0 {
			lr.eof = true
		}
	}
}

// nsInode parses a namespace link target such as "net:[4026531992]" (or a
// socket's, "socket:[770574]").
func nsInode[T string | []byte](target T) (uint64, bool) {
	open := -1
	for i := 0; i < len(target); i++ {
		if target[i] == '[' {
			open = i
			break
		}
	}
	if open < 0 || len(target) < open+3 || target[len(target)-1] != ']' {
		return 0, false
	}
	var v uint64
	for i := open + 1; i < len(target)-1; i++ {
		c := target[i]
		if c < '0' || c > '9' || v > (1<<64-1-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v != 0
}
