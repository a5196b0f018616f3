package answer

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/netpol"
)

// pathPorts is what a listed path leaves open: the unused ports, or the
// allowed ones when usage is unknown.
func pathPorts(p netpaths.Path) netpol.PortSet {
	if p.State == netpaths.StateUnknown {
		return p.Allowed
	}
	return p.Unused
}

// describePath is a listed path for people: "egress to every workload of
// namespace ops (3) on all, unused".
func describePath(p netpaths.Path) string {
	way := "to"
	if p.Direction == netpaths.Ingress {
		way = "from"
	}
	s := p.Direction + " " + way + " " + peerText(p.Peer) + " on " + pathPorts(p).String()
	switch p.State {
	case netpaths.StateUnused:
		s += ", unused"
	case netpaths.StatePartlyUsed:
		s += ", unused (" + p.Used.String() + " used)"
	}
	return s
}

// peerText is a path's peer for people: "anywhere else (internet)",
// "cluster nodes in anywhere else (host network: DaemonSet/monitoring/node-exporter)".
func peerText(p netpaths.Peer) string {
	s := p.String()
	if p.Internet {
		s += " (internet)"
	}
	if p.Nodes && p.HostNetworkCount > 0 {
		names := make([]string, 0, len(p.HostNetwork)+1)
		for _, w := range p.HostNetwork {
			names = append(names, w.String())
		}
		if more := p.HostNetworkCount - len(p.HostNetwork); more > 0 {
			names = append(names, fmt.Sprintf("%d more", more))
		}
		s += " (host network: " + strings.Join(names, ", ") + ")"
	}
	return s
}

// describeDenied is a denied flow for people.
func describeDenied(d netpaths.Denied) string {
	s := fmt.Sprintf("%s → %s %s/%d (%s)", d.From, d.To, d.Protocol, d.Port, plural(int(min(d.Count, 1<<31)), "time", "times"))
	if len(d.DeniedBy) > 0 {
		var ps []string
		for _, p := range d.Policies {
			ps = append(ps, p.String())
		}
		s += ", denied by " + strings.Join(d.DeniedBy, " and ")
		if len(ps) > 0 {
			s += " (" + strings.Join(ps, ", ") + ")"
		}
	}
	return s
}

func factorNames(fs []netpaths.Factor) string {
	if len(fs) == 0 {
		return "-"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name + " " + strconv.FormatFloat(f.Value, 'f', -1, 64)
	}
	return strings.Join(parts, " × ")
}

// writeUnusedPaths renders question 9: the used-but-denied flows first,
// then the ranked paths, then the workloads without any policy.
func writeUnusedPaths(w io.Writer, a *Answer[netpaths.Item]) {
	if len(a.Denied) > 0 {
		fmt.Fprintln(w, "USED BUT DENIED\tPORT\tCOUNT\tDENIED BY\tWHY")
		for _, d := range a.Denied {
			why := "-"
			if len(d.Reasons) > 0 {
				why = strings.Join(d.Reasons, "; ")
			}
			fmt.Fprintf(w, "%s → %s\t%s/%d\t%d\t%s\t%s\n", d.From, d.To, d.Protocol, d.Port, d.Count, dash(strings.Join(d.DeniedBy, "+")), why)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "WORKLOAD\tSCORE\tDIRECTION\tPEER\tSTATE\tPORTS\tFACTORS")
	for _, it := range a.Items {
		score := strconv.FormatFloat(it.Score, 'f', 1, 64)
		for _, p := range it.Paths {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Workload, score, p.Direction, peerText(p.Peer), p.State, pathPorts(p), factorNames(p.Factors))
		}
		if it.MorePaths > 0 {
			fmt.Fprintf(w, "%s\t%s\t\t… and %s\t\t\t\n", it.Workload, score, plural(it.MorePaths, "more path", "more paths"))
		}
	}
	unprotected, hostNet := splitHostNetwork(a.Unprotected)
	if len(unprotected) > 0 {
		fmt.Fprintln(w, "\nNO NETWORKPOLICY (everything allowed)\tALLOWED PATHS\tUSED PATHS\tDENIED FLOWS")
		for _, u := range unprotected {
			// No path at all is a cluster compared in part (an
			// unprotected workload reaches the outside at least).
			allowed, used := strconv.Itoa(u.AllowedPaths), strconv.Itoa(u.UsedPaths)
			if a.Usage == nil || !a.Usage.Known {
				used = "unknown"
			}
			if u.AllowedPaths == 0 {
				allowed, used = "-", "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", u.Workload, allowed, used, u.DeniedFlows)
		}
	}
	if len(hostNet) > 0 {
		fmt.Fprintln(w, "\nHOST NETWORK (NetworkPolicy does not apply; paths under cluster nodes)\tDENIED FLOWS")
		for _, u := range hostNet {
			fmt.Fprintf(w, "%s\t%d\n", u.Workload, u.DeniedFlows)
		}
	}
}

// splitHostNetwork separates the workloads of the host network, which no
// NetworkPolicy can select, from the other unprotected workloads.
func splitHostNetwork(us []netpaths.Unprotected) (unprotected, hostNet []netpaths.Unprotected) {
	for _, u := range us {
		if u.HostNetwork {
			hostNet = append(hostNet, u)
		} else {
			unprotected = append(unprotected, u)
		}
	}
	return unprotected, hostNet
}

// writeReachability renders a reachability answer.
func writeReachability(w io.Writer, r *Reachability) error {
	verdict := "no"
	switch {
	case r.Allowed:
		verdict = "yes"
	case r.Partial:
		verdict = "partly"
	}
	fmt.Fprintf(w, "allowed: %s\n%s → %s %s/%d\n", verdict, r.From, r.To, r.Protocol, r.Port)
	side := func(s netpol.Side, end string) {
		fmt.Fprintf(w, "  %-8s %s: %s\n", strings.ToLower(s.Direction), end, s.Reason)
	}
	side(r.Egress, "of the source")
	side(r.Ingress, "of the destination")
	for _, p := range r.Parts {
		fmt.Fprintf(w, "  part %s: allowed %s\n", p.Region, yesNo(p.Allowed))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// DecodeReachability parses the JSON form of a reachability answer, as the
// server sends it.
func DecodeReachability(data []byte) (*Reachability, error) {
	var r Reachability
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding the reachability answer: %w", err)
	}
	if r.Question != Reachable {
		return nil, fmt.Errorf("decoding the reachability answer: question %q, want %q", r.Question, Reachable)
	}
	return &r, nil
}

// unusedPaths briefs question 9: used-but-denied flows first (they may be
// an attack), then the workloads whose unused paths widen the attack
// surface most, then the workloads without any policy. Workloads of the
// host network are counted, not named: no policy can select them, and
// question 6 covers their privilege.
func (b *briefer) unusedPaths(s *Section, a *Answer[netpaths.Item]) {
	sum := a.Summary
	known := a.Usage != nil && a.Usage.Known
	denied, unprotected, paths := sum["deniedFlows"], sum["unprotected"], sum["paths"]
	var parts []string
	if known {
		parts = append(parts, fmt.Sprintf("%s: %d used, %d unused (%s confidence)", plural(paths, "allowed path", "allowed paths"), sum["usedPaths"], sum["unusedPaths"], a.Usage.Confidence))
	} else {
		parts = append(parts, plural(paths, "allowed path", "allowed paths")+", usage unknown (no node agent reports flows, no flow log is imported)")
	}
	if n := sum["partialClusters"]; n > 0 {
		parts = append(parts, fmt.Sprintf("paths not compared in %s too large to compare at once (ask per namespace)", plural(n, "cluster", "clusters")))
	}
	if unprotected > 0 {
		parts = append(parts, plural(unprotected, "workload", "workloads")+" without any NetworkPolicy")
	}
	if n := sum["hostNetwork"]; n > 0 {
		parts = append(parts, plural(n, "workload", "workloads")+" in the host network (NetworkPolicy does not apply)")
	}
	if denied > 0 {
		parts = append([]string{plural(denied, "used flow", "used flows") + " DENIED by the policies"}, parts...)
	}
	s.Status = strings.Join(parts, "; ")
	switch {
	case denied > 0 || unprotected > 0 || (known && (sum["unusedPaths"] > 0 || sum["partlyUsedPaths"] > 0)):
		s.State = StateAttention
	case (!known && sum["workloads"] > 0) || sum["partialClusters"] > 0:
		s.State = StateUnknown
	case paths == 0:
		s.State = StateClear
		s.Status = "no allowed paths"
	case !known:
		s.State = StateUnknown
	default:
		s.State = StateClear
	}
	var lines []string
	for _, d := range a.Denied {
		lines = append(lines, "USED BUT DENIED: "+describeDenied(d))
	}
	for _, it := range a.Items {
		if len(it.Paths) == 0 {
			continue
		}
		line := fmt.Sprintf("%s, score %s: %s", b.ref(it.Workload), strconv.FormatFloat(it.Score, 'f', 1, 64), describePath(it.Paths[0]))
		if n := len(it.Paths) - 1 + it.MorePaths; n > 0 {
			line += fmt.Sprintf(" (and %s)", plural(n, "more path", "more paths"))
		}
		lines = append(lines, line)
	}
	if us, _ := splitHostNetwork(a.Unprotected); len(us) > 0 {
		var names []string
		for i, u := range us {
			if i == 3 {
				names = append(names, fmt.Sprintf("and %d more", len(us)-i))
				break
			}
			names = append(names, b.ref(u.Workload))
		}
		lines = append(lines, "no NetworkPolicy, everything allowed: "+strings.Join(names, ", "))
	}
	for i, l := range lines {
		if i == maxHighlights {
			s.Highlights = append(s.Highlights, "… more in the full answer")
			break
		}
		s.Highlights = append(s.Highlights, l)
	}
}
