package answer

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
	"github.com/palisade-project/palisade/internal/processes"
	"github.com/palisade-project/palisade/internal/risk"
	"github.com/palisade-project/palisade/internal/safetext"
	"github.com/palisade-project/palisade/internal/scanage"
	"github.com/palisade-project/palisade/internal/vulnerable"
)

// Decode parses the JSON form of an answer to question, as the server sends
// it, into the same *Answer[T] that Ask returns.
func Decode(question string, data []byte) (any, error) {
	var (
		v   any
		err error
	)
	switch question {
	case ImageSources:
		v, err = decode[imagetrust.Item](data)
	case ScanAge:
		v, err = decode[scanage.Item](data)
	case Vulnerable:
		v, err = decode[vulnerable.Item](data)
	case Production:
		v, err = decode[risk.ProductionItem](data)
	case Priorities:
		v, err = decode[risk.Assessment](data)
	case Processes:
		v, err = decode[processes.Item](data)
	case Privileged:
		v, err = decode[privilege.Item](data)
	case Exposed:
		v, err = decode[exposure.Item](data)
	case Owners:
		v, err = decode[ownership.Item](data)
	case UnusedPaths:
		v, err = decode[netpaths.Item](data)
	default:
		_, err = Lookup(question)
	}
	return v, err
}

func decode[T any](data []byte) (*Answer[T], error) {
	var a Answer[T]
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decoding answer: %w", err)
	}
	return &a, nil
}

// WriteTable renders an answer for people. Names and details come from
// cluster objects that anyone able to create a pod controls, so control
// characters are replaced before they reach a terminal.
func WriteTable(w io.Writer, a any) error {
	w = printable{w}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var notes []string
	var summary map[string]int
	switch a := a.(type) {
	case *Answer[imagetrust.Item]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tREGISTRY\tVERDICT\tPINNED")
		for _, it := range a.Items {
			img := it.Image
			if it.Error != "" {
				img += " (" + it.Error + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Workload, it.Container, img, it.Registry, it.Verdict, yesNo(it.Pinned))
		}
	case *Answer[privilege.Item]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tCHECK\tSEVERITY\tDETAIL")
		for _, it := range a.Items {
			for _, f := range it.Findings {
				c := f.Container
				if c == "" {
					c = "(pod)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Workload, c, f.Check, f.Severity, f.Detail)
			}
		}
	case *Answer[exposure.Item]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tLEVEL\tVIA\tPORTS\tHOSTS")
		for _, it := range a.Items {
			for _, v := range it.Via {
				via := v.Kind + " " + v.Name
				if v.Type != "" {
					via += " (" + v.Type + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Workload, v.Level, via, strings.Join(v.Ports, ","), strings.Join(v.Hosts, ","))
			}
		}
		if len(a.Unmatched) > 0 {
			fmt.Fprintln(tw, "\nREACHES NOTHING\tDETAIL")
			for _, u := range a.Unmatched {
				fmt.Fprintf(tw, "%s %s/%s\t%s\n", u.Kind, u.Namespace, u.Name, u.Detail)
			}
		}
	case *Answer[ownership.Item]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tOWNER\tSOURCE")
		for _, it := range a.Items {
			owner, src := "-", "unowned"
			if it.Owner != nil {
				owner, src = *it.Owner, it.Source
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", it.Workload, owner, src)
		}
	case *Answer[scanage.Item]:
		notes, summary = a.Notes, a.Summary
		now := a.GeneratedAt
		fmt.Fprintln(tw, "DIGEST\tIMAGE\tSTATE\tSCANNED\tMATCH\tFINDINGS\tWORKLOADS\tERROR")
		for _, it := range a.Items {
			scanned := "never"
			if !it.ScannedAt.IsZero() {
				scanned = ago(now.Sub(it.ScannedAt))
			}
			img := "-"
			if len(it.Images) > 0 {
				img = strings.Join(it.Images, ",")
			}
			errText := "-"
			if it.LastError != "" {
				errText = fmt.Sprintf("%d failures, retry %s: %s", it.Failures, it.NextAttempt.Format(time.RFC3339), it.LastError)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", shortDigest(it.Digest), img, it.State, scanned, it.MatchState, it.Findings, len(it.Workloads), errText)
		}
	case *Answer[vulnerable.Item]:
		notes, summary = a.Notes, a.Summary
		if a.Filter.CVE != "" {
			fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tDIGEST\tID\tPACKAGE\tINSTALLED\tFIXED\tSEVERITY")
			for _, it := range a.Items {
				for _, v := range it.Vulnerabilities {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Workload, it.Container, shortDigest(it.Digest), v.ID, v.Package, v.InstalledVersion, dash(v.FixedVersion), v.Severity)
				}
			}
			break
		}
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tIMAGE\tCRITICAL\tHIGH\tMEDIUM\tLOW\tUNKNOWN\tFIXABLE\tWORST")
		for _, it := range a.Items {
			worst := "-"
			if len(it.Vulnerabilities) > 0 {
				w := it.Vulnerabilities[0]
				for _, v := range it.Vulnerabilities[1:] {
					if vulnerable.Rank(v.Severity) > vulnerable.Rank(w.Severity) || (vulnerable.Rank(v.Severity) == vulnerable.Rank(w.Severity) && v.Score > w.Score) {
						w = v
					}
				}
				worst = w.ID + " in " + w.Package + " " + w.InstalledVersion
				if w.FixedVersion != "" {
					worst += " (fixed in " + w.FixedVersion + ")"
				}
			}
			c := it.Counts
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", it.Workload, it.Container, it.Image, c["critical"], c["high"], c["medium"], c["low"], c[vulnerable.Unknown], it.Fixable, worst)
		}
	case *Answer[risk.ProductionItem]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tUNDER ATTACK?\tKEV\tCRITICAL\tHIGH\tMEDIUM\tLOW\tFIXABLE\tWHY PRODUCTION\tFIRST TO FIX")
		for _, it := range a.Items {
			first := "-"
			if len(it.Vulnerabilities) > 0 {
				first = describeVuln(it.Vulnerabilities[0])
			}
			attack := "-"
			if len(it.RuntimeEvidence) > 0 {
				attack = "possibly: " + it.RuntimeEvidence[0]
			}
			c := it.Counts
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", it.Workload, attack, it.KnownExploited, c["critical"], c["high"], c["medium"], c["low"], it.Fixable, it.Environment.Reason, first)
		}
	case *Answer[risk.Assessment]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "RANK\tWORKLOAD\tSCORE\tFACTORS\tFIRST TO FIX")
		for _, it := range a.Items {
			first := "-"
			if len(it.Vulnerabilities) > 0 {
				first = describeVuln(it.Vulnerabilities[0])
			}
			var fs []string
			for _, f := range it.Factors {
				if f.Name == risk.FactorVulnerabilities || f.Value != 1 {
					fs = append(fs, f.Name+" "+strconv.FormatFloat(f.Value, 'f', -1, 64))
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.Rank, it.Workload, strconv.FormatFloat(it.Score, 'f', 1, 64), strings.Join(fs, " × "), first)
		}
	case *Answer[processes.Item]:
		notes, summary = a.Notes, a.Summary
		fmt.Fprintln(tw, "WORKLOAD\tCONTAINER\tPOD\tEXE\tRUNNING\tBASELINE\tSUSPICIOUS")
		for _, it := range a.Items {
			for _, p := range it.Processes {
				var sus []string
				for _, s := range p.Suspicious {
					sus = append(sus, s.Severity+": "+s.Title)
				}
				// Paths come from container filesystems: one line each.
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Workload, it.Container, p.Pod, safetext.OneLine(p.Exe), yesNo(p.Running), dash(p.Baseline), dash(strings.Join(sus, "; ")))
			}
		}
	case *Answer[netpaths.Item]:
		notes, summary = a.Notes, a.Summary
		writeUnusedPaths(tw, a)
	case *Reachability:
		return writeReachability(w, a)
	default:
		return fmt.Errorf("no table form for %T", a)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(summary) > 0 {
		keys := make([]string, 0, len(summary))
		for k := range summary {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, summary[k])
		}
		fmt.Fprintf(w, "\nsummary: %s\n", strings.Join(parts, " "))
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// describeVuln is one vulnerability in a table cell.
func describeVuln(v risk.Vulnerability) string {
	s := v.ID + " in " + v.Package + " " + v.InstalledVersion
	if v.FixedVersion != "" {
		s += " (fixed in " + v.FixedVersion + ")"
	}
	if v.KnownExploited != nil {
		s += " KNOWN EXPLOITED"
	}
	return s
}

// WriteExplanation prints how one workload's score is made: each factor,
// its value and evidence, and the product.
func WriteExplanation(w io.Writer, a risk.Assessment) error {
	w = printable{w}
	fmt.Fprintf(w, "%s: rank %d, score %s\n", a.Workload, a.Rank, strconv.FormatFloat(a.Score, 'f', -1, 64))
	for _, f := range a.Factors {
		fmt.Fprintf(w, "\n  %-16s × %s\n", f.Name, strconv.FormatFloat(f.Value, 'f', -1, 64))
		for _, e := range f.Evidence {
			fmt.Fprintf(w, "      %s\n", e)
		}
	}
	_, err := fmt.Fprintf(w, "\n  %s\n", a.Formula())
	return err
}

// ago renders an age for people: "45s ago", "3h ago", "2d ago".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// shortDigest shortens "sha256:0123…" to its first 12 hex digits.
func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable replaces C0 control characters other than tab and newline, and
// DEL, with '?', so terminal escape sequences in object names are inert.
type printable struct{ w io.Writer }

func (p printable) Write(b []byte) (int, error) {
	clean := b
	for i, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
			if &clean[0] == &b[0] {
				clean = append([]byte(nil), b...)
			}
			clean[i] = '?'
		}
	}
	if _, err := p.w.Write(clean); err != nil {
		return 0, err
	}
	return len(b), nil
}
