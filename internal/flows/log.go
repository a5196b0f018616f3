package flows

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/model"
)

// LogFlow is one flow of a flow log (docs/flows.md), validated but not
// yet resolved against an inventory.
type LogFlow struct {
	// Line is where the flow starts in the log (1-based).
	Line int
	// Cluster is the cluster the flow was seen in; empty means the
	// cluster the log is imported for.
	Cluster string
	// Start and End bound when it was seen (End is Start for one flow).
	Start, End time.Time
	// Src and Dst are the addresses; each is invalid when the workload at
	// that end is named instead.
	Src, Dst netip.Addr
	// SrcWorkload and DstWorkload name the workloads at the ends; they
	// take precedence over the addresses.
	SrcWorkload, DstWorkload WorkloadName
	Port                     uint16
	Protocol                 string
	Count                    uint64
}

// WorkloadName is a workload named in a flow log: NAMESPACE/NAME, or
// NAMESPACE/KIND/NAME when the name alone is ambiguous. The zero value
// names nothing.
type WorkloadName struct {
	Namespace string
	Kind      model.Kind // empty when not given
	Name      string
}

// IsZero reports whether n names nothing.
func (n WorkloadName) IsZero() bool { return n.Name == "" }

func (n WorkloadName) String() string {
	if n.Kind != "" {
		return n.Namespace + "/" + string(n.Kind) + "/" + n.Name
	}
	return n.Namespace + "/" + n.Name
}

// maxNameLen bounds a namespace and a name (Kubernetes allows 253).
const maxNameLen = 253

// ParseWorkloadName parses NAMESPACE/NAME or NAMESPACE/KIND/NAME; the
// kind is any workload kind in any case (deployment, Deployment) or Pod.
func ParseWorkloadName(s string) (WorkloadName, error) {
	parts := strings.Split(s, "/")
	var n WorkloadName
	switch len(parts) {
	case 2:
		n = WorkloadName{Namespace: parts[0], Name: parts[1]}
	case 3:
		n = WorkloadName{Namespace: parts[0], Name: parts[2]}
		for _, k := range model.WorkloadKinds {
			if strings.EqualFold(string(k), parts[1]) {
				n.Kind = k
			}
		}
		if n.Kind == "" {
			return WorkloadName{}, fmt.Errorf("%q: kind %q is not a workload kind (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod, …)", clip(s), clip(parts[1]))
		}
	default:
		return WorkloadName{}, fmt.Errorf("%q: want NAMESPACE/NAME or NAMESPACE/KIND/NAME", clip(s))
	}
	if n.Namespace == "" || n.Name == "" || len(n.Namespace) > maxNameLen || len(n.Name) > maxNameLen {
		return WorkloadName{}, fmt.Errorf("%q: namespace and name must be 1 to %d characters", clip(s), maxNameLen)
	}
	return n, nil
}

// Limits bound what ReadLog reads. Zero fields take the defaults.
type Limits struct {
	// MaxLineBytes bounds one line (JSON Lines) or one element (array).
	MaxLineBytes int
	// MaxLines bounds the lines (or elements) read.
	MaxLines int
	// MaxBytes bounds the log as read.
	MaxBytes int64
	// MaxErrors bounds the malformed lines reported; one more stops the
	// reading with ErrTooManyErrors.
	MaxErrors int
	// Now is the time flows may not lie more than a day after (default
	// time.Now).
	Now func() time.Time
}

// Defaults of Limits.
const (
	DefaultMaxLineBytes = 16 << 10
	DefaultMaxLines     = 10_000_000
	DefaultMaxBytes     = 2 << 30
	DefaultMaxErrors    = 1000
)

func (l Limits) withDefaults() Limits {
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	if l.MaxLines <= 0 {
		l.MaxLines = DefaultMaxLines
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxErrors <= 0 {
		l.MaxErrors = DefaultMaxErrors
	}
	if l.Now == nil {
		l.Now = time.Now
	}
	return l
}

// Errors that stop reading a log.
var (
	ErrTooManyLines  = errors.New("too many lines in the flow log")
	ErrTooLarge      = errors.New("flow log too large")
	ErrTooManyErrors = errors.New("too many malformed lines in the flow log")
	ErrSyntax        = errors.New("flow log is not JSON Lines nor a JSON array")
)

// LineError is a malformed line, skipped.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// Bounds of a flow's fields.
const (
	// MaxLogCount bounds the count of one line.
	MaxLogCount = 1 << 40
	// maxFuture is how far after now a flow may lie (clocks differ).
	maxFuture = 24 * time.Hour
)

// oldest is the earliest time a flow may carry: earlier ones come from
// clocks that were not set.
var oldest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ReadLog reads a flow log: JSON Lines, or one JSON array of the same
// objects. Malformed lines are skipped and returned as LineErrors, in
// order; reading stops with an error (and no flows) when the log breaks a
// limit, has more than MaxErrors malformed lines, or cannot be read.
func ReadLog(r io.Reader, lim Limits) ([]LogFlow, []LineError, error) {
	var out []LogFlow
	errs, err := ScanLog(r, lim, func(f LogFlow) error {
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, errs, err
	}
	return out, errs, nil
}

// ScanLog reads a flow log as ReadLog does, calling fn with each valid
// flow in order instead of keeping them; an error from fn stops it and is
// returned.
func ScanLog(r io.Reader, lim Limits, fn func(LogFlow) error) ([]LineError, error) {
	lim = lim.withDefaults()
	s := &scanner{lim: lim, now: lim.Now().UTC(), fn: fn}
	counted := &countingReader{r: r, max: lim.MaxBytes}
	br := bufio.NewReaderSize(counted, 64<<10)
	err := s.run(br)
	if counted.over {
		err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, lim.MaxBytes)
	}
	return s.errs, err
}

type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		// One byte more tells an input of exactly max bytes from a
		// larger one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.over = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.max-c.n {
		p = p[:c.max-c.n]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type scanner struct {
	lim   Limits
	now   time.Time
	fn    func(LogFlow) error
	errs  []LineError
	lines int
}

func (s *scanner) run(br *bufio.Reader) error {
	// The first byte that is not blank tells the form.
	for {
		b, err := br.Peek(1)
		if err == io.EOF {
			return nil // empty
		}
		if err != nil {
			return err
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' {
			_, _ = br.ReadByte()
			continue
		}
		if b[0] == '[' {
			return s.array(br)
		}
		return s.jsonLines(br)
	}
}

// jsonLines reads one flow per line; blank lines and lines starting with
// # are skipped.
func (s *scanner) jsonLines(br *bufio.Reader) error {
	var line []byte
	n := 0
	for {
		line = line[:0]
		oversize := false
		for {
			chunk, err := br.ReadSlice('\n')
			if !oversize {
				if len(line)+len(chunk) > s.lim.MaxLineBytes+1 { // +1: the newline
					oversize = true
				} else {
					line = append(line, chunk...)
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(chunk) == 0 && len(line) == 0 && !oversize {
					return nil
				}
				break
			}
			if err != nil {
				return err
			}
			break
		}
		n++
		if oversize {
			if err := s.bad(n, fmt.Sprintf("longer than %d bytes", s.lim.MaxLineBytes)); err != nil {
				return err
			}
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := s.flow(n, line); err != nil {
			return err
		}
	}
}

// array reads one JSON array of flows: each element is cut out (tracking
// strings and nesting) and decoded alone, so that a malformed element is
// skipped like a malformed line and lines are counted.
func (s *scanner) array(br *bufio.Reader) error {
	_, _ = br.ReadByte() // [
	line := 1
	var elem []byte
	for {
		// Between elements: blanks, then an element, "]" or ",".
		start, b, err := s.skipBlank(br, &line)
		if err == io.EOF {
			return fmt.Errorf("%w: the array is not closed with ]", ErrSyntax)
		}
		if err != nil {
			return err
		}
		switch b {
		case ']':
			_, b, err := s.skipBlank(br, &line)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: %q after the closing ] on line %d", ErrSyntax, b, line)
		case ',':
			continue
		}
		_ = br.UnreadByte()
		elem = elem[:0]
		oversize := false
		depth, inString, escaped := 0, false, false
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				return fmt.Errorf("%w: the element starting on line %d is not closed", ErrSyntax, start)
			}
			if err != nil {
				return err
			}
			if !inString && depth == 0 && (b == ',' || b == ']') {
				_ = br.UnreadByte()
				break
			}
			if len(elem) < s.lim.MaxLineBytes {
				elem = append(elem, b)
			} else {
				oversize = true
			}
			switch {
			case b == '\n':
				line++
			case inString && escaped:
				escaped = false
			case inString && b == '\\':
				escaped = true
			case b == '"':
				inString = !inString
			case !inString && (b == '{' || b == '['):
				depth++
			case !inString && (b == '}' || b == ']'):
				depth--
			}
		}
		if oversize {
			if err := s.bad(start, fmt.Sprintf("element longer than %d bytes", s.lim.MaxLineBytes)); err != nil {
				return err
			}
			continue
		}
		if err := s.flow(start, bytes.TrimSpace(elem)); err != nil {
			return err
		}
	}
}

// skipBlank reads up to the next byte that is not blank and returns it
// with the line it is on.
func (s *scanner) skipBlank(br *bufio.Reader, line *int) (int, byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return *line, 0, err
		}
		switch b {
		case '\n':
			*line++
		case ' ', '\t', '\r':
		default:
			return *line, b, nil
		}
	}
}

// bad records a malformed line, and fails once there are too many.
func (s *scanner) bad(line int, msg string) error {
	if err := s.count(); err != nil {
		return err
	}
	if len(s.errs) >= s.lim.MaxErrors {
		return fmt.Errorf("%w: more than %d (the last on line %d); is it a flow log in the format of docs/flows.md?", ErrTooManyErrors, s.lim.MaxErrors, line)
	}
	s.errs = append(s.errs, LineError{Line: line, Message: msg})
	return nil
}

func (s *scanner) count() error {
	s.lines++
	if s.lines > s.lim.MaxLines {
		return fmt.Errorf("%w: more than %d flows", ErrTooManyLines, s.lim.MaxLines)
	}
	return nil
}

func (s *scanner) flow(line int, b []byte) error {
	f, err := parseFlow(b, s.now)
	if err != nil {
		return s.bad(line, err.Error())
	}
	if err := s.count(); err != nil {
		return err
	}
	f.Line = line
	return s.fn(f)
}

// logLine is a flow as written; pointers tell absent fields.
type logLine struct {
	Time        *string  `json:"time"`
	EndTime     *string  `json:"endTime"`
	Cluster     string   `json:"cluster"`
	Src         *string  `json:"src"`
	Dst         *string  `json:"dst"`
	SrcWorkload *string  `json:"srcWorkload"`
	DstWorkload *string  `json:"dstWorkload"`
	DstPort     *int64   `json:"dstPort"`
	Protocol    *string  `json:"protocol"`
	Count       *float64 `json:"count"`
}

func parseFlow(b []byte, now time.Time) (LogFlow, error) {
	if len(b) == 0 || b[0] != '{' {
		return LogFlow{}, errors.New("not a JSON object")
	}
	if !utf8.Valid(b) {
		return LogFlow{}, errors.New("not valid UTF-8")
	}
	var l logLine
	if err := json.Unmarshal(b, &l); err != nil {
		return LogFlow{}, jsonError(err)
	}
	var f LogFlow
	if len(l.Cluster) > maxNameLen {
		return f, fmt.Errorf("cluster longer than %d characters", maxNameLen)
	}
	f.Cluster = l.Cluster
	var err error
	if l.Time == nil {
		return f, errors.New("time is missing (RFC 3339, e.g. 2026-11-25T10:00:00Z)")
	}
	if f.Start, err = parseTime("time", *l.Time, now); err != nil {
		return f, err
	}
	f.End = f.Start
	if l.EndTime != nil {
		if f.End, err = parseTime("endTime", *l.EndTime, now); err != nil {
			return f, err
		}
		if f.End.Before(f.Start) {
			return f, errors.New("endTime is before time")
		}
	}
	if f.Src, f.SrcWorkload, err = parseEnd("src", l.Src, l.SrcWorkload); err != nil {
		return f, err
	}
	if f.Dst, f.DstWorkload, err = parseEnd("dst", l.Dst, l.DstWorkload); err != nil {
		return f, err
	}
	if l.DstPort == nil {
		return f, errors.New("dstPort is missing")
	}
	if *l.DstPort < 1 || *l.DstPort > 65535 {
		return f, fmt.Errorf("dstPort %d: want 1 to 65535", *l.DstPort)
	}
	f.Port = uint16(*l.DstPort)
	f.Protocol = TCP
	if l.Protocol != nil {
		p, ok := ParseProtocol(*l.Protocol)
		if !ok {
			return f, fmt.Errorf("protocol %q: want TCP, UDP or SCTP", clip(*l.Protocol))
		}
		f.Protocol = p
	}
	f.Count = 1
	if l.Count != nil {
		c := *l.Count
		if c != float64(int64(c)) || c < 1 || c > MaxLogCount {
			return f, fmt.Errorf("count %v: want a whole number from 1 to %d", c, int64(MaxLogCount))
		}
		f.Count = uint64(c)
	}
	return f, nil
}

func parseTime(field, s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want RFC 3339, e.g. 2026-11-25T10:00:00Z", field, clip(s))
	}
	t = t.UTC()
	switch {
	case t.Before(oldest):
		return time.Time{}, fmt.Errorf("%s %s is before 2000: a clock that was not set?", field, s)
	case t.After(now.Add(maxFuture)):
		return time.Time{}, fmt.Errorf("%s %s is more than a day in the future", field, s)
	}
	return t, nil
}

// parseEnd reads one end of a flow: an address, a workload name, or both
// (the name decides).
func parseEnd(field string, addr, workload *string) (netip.Addr, WorkloadName, error) {
	var a netip.Addr
	var n WorkloadName
	if addr == nil && workload == nil {
		return a, n, fmt.Errorf("%s or %sWorkload is missing", field, field)
	}
	if workload != nil {
		var err error
		if n, err = ParseWorkloadName(*workload); err != nil {
			return a, n, fmt.Errorf("%sWorkload %v", field, err)
		}
	}
	if addr != nil {
		p, err := netip.ParseAddr(*addr)
		if err != nil || p.Zone() != "" {
			return a, n, fmt.Errorf("%s %q is not an IP address", field, clip(*addr))
		}
		a = p.Unmap()
	}
	return a, n, nil
}

// jsonError shortens encoding/json's messages to what a person fixes.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "string"
		switch te.Type.Kind() {
		case reflect.Float64, reflect.Int64:
			want = "number"
		}
		if want == "number" && strings.HasPrefix(te.Value, "number") {
			return fmt.Errorf("%s: %s is not a whole number in range", te.Field, clip(te.Value))
		}
		return fmt.Errorf("%s: want a %s, not a JSON %s", te.Field, want, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// clip shortens what is quoted back from the input.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
