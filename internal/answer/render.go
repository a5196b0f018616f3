package answer

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
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
	case Privileged:
		v, err = decode[privilege.Item](data)
	case Exposed:
		v, err = decode[exposure.Item](data)
	case Owners:
		v, err = decode[ownership.Item](data)
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
