package netpol

// Truth tables written by others, read from ../shared/corpora/netpol:
//
// cyclonus (github.com/mattfenwick/cyclonus):
//   - examples/cyclonus-output/analyze-probe.txt: the expected ingress,
//     egress and combined connectivity of networkpolicies/simple-example on
//     the pods of examples/probe.json, one block per probe (examples/run.sh
//     upstream: `analyze --mode probe --policy-path
//     ../networkpolicies/simple-example/ --probe-path ./probe.json`).
//   - examples/cyclonus-output/analyze-query-traffic.txt: allowed or not,
//     and which direction isolates, for each traffic of
//     examples/traffic.json under the same policies.
//   - examples/cyclonus-output/analyze-query-target.txt: which policies
//     select each pod of examples/targets.json, per direction.
//   - docs/test-runs.md: the "simple ipblock" test case, its policy and its
//     expected ingress, egress and combined tables over six protocol/port
//     pairs.
//
// network-policy-api (github.com/kubernetes-sigs/network-policy-api), the
// parts that are plain NetworkPolicy v1 with an expected verdict:
//   - cmd/policy-assistant/test/example-policies/networkpolicies: a copy of
//     cyclonus's example policies, checked against cyclonus's probe output
//     above (the same expectations, not independent ones).
//   - the walkthrough tables of cmd/policy-assistant/README.md and
//     examples/demos/walkthrough/README.md: the rows whose ingress verdict
//     is decided by a v1 policy ("[NPv1] Dropped (ns/name)"); the
//     AdminNetworkPolicy rows decide nothing about v1.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// asciiTable is a table as cyclonus prints it: a header row of column
// names (the first cell may span several lines) and data rows.
type asciiTable struct {
	corner []string // lines of the top-left cell
	cols   []string
	rows   [][]string // first cell is the row name
}

func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	parts := strings.Split(line, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// readTable reads a truth table from lines[i:] (starting at its first
// "+---" line) up to the first line that is not part of it; it returns the
// table and the index after it.
func readTable(lines []string, i int) (asciiTable, int) {
	var t asciiTable
	header := true
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || l[0] != '+' && l[0] != '|' {
			break
		}
		if l[0] == '+' {
			if len(t.cols) > 0 {
				header = false
			}
			continue
		}
		c := tableCells(l)
		switch {
		case header && len(t.cols) == 0:
			t.corner = append(t.corner, c[0])
			t.cols = c[1:]
		case header:
			if c[0] != "" {
				t.corner = append(t.corner, c[0])
			}
		default:
			t.rows = append(t.rows, c)
		}
	}
	return t, i
}

// mark reads a cell mark: "." allowed, "X" blocked; others (N, P, ?, !)
// say cyclonus did not predict the cell.
func mark(s string) (allowed, known bool) {
	switch s {
	case ".":
		return true, true
	case "X":
		return false, true
	}
	return false, false
}

// probeResources is examples/probe.json.
type probeResources struct {
	Probes []struct {
		Protocol string
		Port     json.RawMessage
	}
	Resources struct {
		Namespaces map[string]map[string]string
		Pods       []struct {
			Namespace, Name, IP string
			Labels              map[string]string
			Containers          []struct {
				Name, PortName, Protocol string
				Port                     int32
			}
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// barePod returns a running pod for a synthetic world.
func barePod(ns, name string, labels map[string]string, ip string, ports []model.ContainerPort) *model.Workload {
	w := &model.Workload{
		Meta: model.Meta{Cluster: model.DefaultCluster, Namespace: ns, Name: name},
		Kind: model.KindPod,
		Template: model.PodTemplate{
			Labels:     labels,
			Containers: []model.Container{{Name: "main", Type: model.ContainerRegular, Ports: ports}},
		},
	}
	if ip != "" {
		w.Status = &model.PodStatus{Phase: "Running", PodIP: ip, PodIPs: []string{ip}}
	}
	return w
}

func namespaceObj(name string, labels map[string]string) *model.Namespace {
	return &model.Namespace{Meta: model.Meta{Cluster: model.DefaultCluster, Name: name, Labels: labels}}
}

// probeWorld adds the namespaces and pods of a probe.json to snap.
func probeWorld(snap *model.Snapshot, res probeResources) {
	for _, ns := range sortedKeys(res.Resources.Namespaces) {
		snap.Add(namespaceObj(ns, res.Resources.Namespaces[ns]))
	}
	for _, p := range res.Resources.Pods {
		var ports []model.ContainerPort
		for _, c := range p.Containers {
			ports = append(ports, model.ContainerPort{Name: c.PortName, ContainerPort: c.Port, Protocol: strings.ToUpper(c.Protocol)})
		}
		snap.Add(barePod(p.Namespace, p.Name, p.Labels, p.IP, ports))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// podOf reads "x/a" (a probe pod) as a workload endpoint.
func podOf(t *testing.T, s string) Endpoint {
	ns, name, ok := strings.Cut(strings.ToLower(s), "/")
	if !ok {
		t.Fatalf("bad pod %q in truth table", s)
	}
	return WorkloadEndpoint(podRef(ns, name))
}

// checkProbeTables checks one probe's ingress, egress and combined tables;
// it returns the cells checked and skipped.
func checkProbeTables(t *testing.T, e *Engine, tables [3]asciiTable, proto string, port int32, named string) (checked, skipped int) {
	t.Helper()
	for _, row := range tables[0].rows {
		from := podOf(t, row[0])
		for j, col := range tables[0].cols {
			to := podOf(t, col)
			p := port
			if named != "" {
				n, err := e.NamedPort(to, named, proto)
				if err != nil {
					skipped += 3
					continue
				}
				p = n
			}
			v, err := e.Query(Connection{From: from, To: to, Port: p, Protocol: proto})
			if err != nil {
				t.Fatal(err)
			}
			got := [3]bool{v.Ingress.Allowed, v.Egress.Allowed, v.Allowed}
			for k, name := range []string{"ingress", "egress", "combined"} {
				r := tables[k].rows[slices.IndexFunc(tables[k].rows, func(r []string) bool { return r[0] == row[0] })]
				want, known := mark(r[j+1])
				if !known {
					skipped++
					continue
				}
				checked++
				if got[k] != want {
					t.Errorf("%s → %s %s/%d %s: got allowed=%v, cyclonus %v (egress: %s; ingress: %s)", row[0], col, proto, p, name, got[k], want, v.Egress.Reason, v.Ingress.Reason)
				}
			}
		}
	}
	return checked, skipped
}

// readProbeOutput reads the Ingress/Egress/Combined tables of a cyclonus
// probe output, three per probe.
func readProbeOutput(t *testing.T, path string) [][3]asciiTable {
	lines := readLines(t, path)
	var tables []asciiTable
	for i := 0; i < len(lines); i++ {
		switch strings.TrimSpace(lines[i]) {
		case "Ingress:", "Egress:", "Combined:":
			tb, next := readTable(lines, i+1)
			tables = append(tables, tb)
			i = next - 1
		}
	}
	if len(tables)%3 != 0 {
		t.Fatalf("%s: %d tables, not a multiple of 3", path, len(tables))
	}
	var out [][3]asciiTable
	for i := 0; i < len(tables); i += 3 {
		out = append(out, [3]asciiTable{tables[i], tables[i+1], tables[i+2]})
	}
	return out
}

func runCyclonusProbe(t *testing.T, policyDir string) {
	cy := corpusPath(t, "cyclonus")
	var res probeResources
	readJSON(t, filepath.Join(cy, "examples/probe.json"), &res)
	snap := loadPaths(t, policyDir)
	probeWorld(snap, res)
	e := newEngine(t, snap)
	if p := e.Problems(); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	blocks := readProbeOutput(t, filepath.Join(cy, "examples/cyclonus-output/analyze-probe.txt"))
	total, skippedAll := 0, 0
	for i, b := range blocks {
		if i >= len(res.Probes) {
			// The recorded output has one block more than probe.json has
			// probes; it must be empty.
			if len(b[0].rows)+len(b[1].rows)+len(b[2].rows) > 0 {
				t.Errorf("probe block %d has cells but probe.json has %d probes", i+1, len(res.Probes))
			}
			continue
		}
		pr := res.Probes[i]
		var port int32
		var named string
		if err := json.Unmarshal(pr.Port, &port); err != nil {
			if err := json.Unmarshal(pr.Port, &named); err != nil {
				t.Fatalf("probe %d: port %s", i, pr.Port)
			}
		}
		checked, skipped := checkProbeTables(t, e, b, strings.ToUpper(pr.Protocol), port, named)
		t.Logf("probe %s/%s: %d cells checked, %d not predicted by cyclonus", pr.Protocol, pr.Port, checked, skipped)
		total += checked
		skippedAll += skipped
	}
	if total == 0 {
		t.Fatal("no cell checked")
	}
	// Cyclonus marks a probe to a port no container serves N (invalid
	// port/protocol) or ? instead of a prediction.
	t.Logf("%d cells checked, %d skipped", total, skippedAll)
}

func TestCyclonusProbe(t *testing.T) {
	runCyclonusProbe(t, corpusPath(t, "cyclonus/networkpolicies/simple-example"))
}

func TestNetworkPolicyAPIExamplePoliciesProbe(t *testing.T) {
	runCyclonusProbe(t, corpusPath(t, "network-policy-api/cmd/policy-assistant/test/example-policies/networkpolicies/simple-example"))
}

// trafficPeer is one end of a cyclonus traffic.
type trafficPeer struct {
	IP       string
	Internal *struct {
		PodLabels, NamespaceLabels map[string]string
		Namespace                  string
	}
}

type traffic struct {
	Source, Destination trafficPeer
	Protocol            string
	ResolvedPort        int32
	ResolvedPortName    string
}

// verdictTable is cyclonus's "Is traffic allowed?" table: per direction
// the actions of the targets selecting the pod, and the verdict.
type verdictTable struct {
	actions map[string][]string
	allowed bool
}

func readVerdicts(t *testing.T, path string) []verdictTable {
	lines := readLines(t, path)
	var out []verdictTable
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "Is traffic allowed?" {
			continue
		}
		v := verdictTable{actions: map[string][]string{}}
		dir, seen := "", false
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			l := strings.TrimSpace(lines[i])
			if l[0] != '|' {
				continue
			}
			c := tableCells(l)
			switch {
			case c[0] == "IS ALLOWED?":
				v.allowed, seen = c[1] == "TRUE", true
			case c[0] == "TYPE":
			case c[0] == Ingress || c[0] == Egress:
				dir = c[0]
				fallthrough
			case c[1] != "":
				if dir == "" {
					t.Fatalf("%s:%d: an action before a direction", path, i+1)
				}
				v.actions[dir] = append(v.actions[dir], c[1])
			}
		}
		if !seen {
			t.Fatalf("%s: a verdict table without IS ALLOWED?", path)
		}
		out = append(out, v)
	}
	return out
}

func TestCyclonusQueryTraffic(t *testing.T) {
	cy := corpusPath(t, "cyclonus")
	var traffics []traffic
	readJSON(t, filepath.Join(cy, "examples/traffic.json"), &traffics)
	verdicts := readVerdicts(t, filepath.Join(cy, "examples/cyclonus-output/analyze-query-traffic.txt"))
	if len(verdicts) != len(traffics) {
		t.Fatalf("%d verdicts for %d traffics", len(verdicts), len(traffics))
	}
	for i, tr := range traffics {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			snap := loadPaths(t, filepath.Join(cy, "networkpolicies/simple-example"))
			end := func(p trafficPeer, name string, ports []model.ContainerPort) Endpoint {
				if p.Internal == nil {
					return addr(p.IP + "/32")
				}
				if !slices.ContainsFunc(snap.Namespaces, func(n *model.Namespace) bool { return n.Name == p.Internal.Namespace }) {
					snap.Add(namespaceObj(p.Internal.Namespace, p.Internal.NamespaceLabels))
				}
				snap.Add(barePod(p.Internal.Namespace, name, p.Internal.PodLabels, p.IP, ports))
				return WorkloadEndpoint(podRef(p.Internal.Namespace, name))
			}
			proto := strings.ToUpper(tr.Protocol)
			from := end(tr.Source, "source", nil)
			to := end(tr.Destination, "destination", []model.ContainerPort{{Name: tr.ResolvedPortName, ContainerPort: tr.ResolvedPort, Protocol: proto}})
			e := newEngine(t, snap)
			v, err := e.Query(Connection{From: from, To: to, Port: tr.ResolvedPort, Protocol: proto})
			if err != nil {
				t.Fatal(err)
			}
			want := verdicts[i]
			if v.Allowed != want.allowed {
				t.Errorf("%s → %s: allowed %v, cyclonus %v", from, to, v.Allowed, want.allowed)
			}
			for _, side := range []Side{v.Ingress, v.Egress} {
				actions, isolated := want.actions[side.Direction]
				if side.Isolated != isolated {
					t.Errorf("%s: isolated %v, cyclonus lists targets %v", side.Direction, side.Isolated, actions)
				}
				if isolated && side.Allowed != slices.Contains(actions, "Allow") {
					t.Errorf("%s: allowed %v, cyclonus actions %v (%s)", side.Direction, side.Allowed, actions, side.Reason)
				}
			}
		})
	}
	t.Logf("%d traffics checked", len(traffics))
}

var labelsMapRE = regexp.MustCompile(`^pod in ns (\S+) with labels map\[(.*)\]:$`)

func TestCyclonusQueryTarget(t *testing.T) {
	cy := corpusPath(t, "cyclonus")
	var targets []struct {
		Namespace string
		Labels    map[string]string
	}
	readJSON(t, filepath.Join(cy, "examples/targets.json"), &targets)
	// Per pod of the output: the policies of its "Combined rules" table,
	// per direction.
	type expected struct {
		ns     string
		labels map[string]string
		pols   map[string][]string
	}
	var want []expected
	lines := readLines(t, filepath.Join(cy, "examples/cyclonus-output/analyze-query-target.txt"))
	for i := 0; i < len(lines); i++ {
		m := labelsMapRE.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m != nil {
			ex := expected{ns: m[1], labels: map[string]string{}, pols: map[string][]string{}}
			for _, kv := range strings.Fields(m[2]) {
				k, v, _ := strings.Cut(kv, ":")
				ex.labels[k] = v
			}
			want = append(want, ex)
			continue
		}
		if strings.TrimSpace(lines[i]) != "Combined rules:" || len(want) == 0 {
			continue
		}
		tb, next := readTable(lines, i+1)
		dir := ""
		for _, r := range tb.rows {
			if r[0] != "" {
				dir = r[0]
			}
			if strings.Contains(r[2], "/") {
				want[len(want)-1].pols[dir] = append(want[len(want)-1].pols[dir], r[2])
			}
		}
		i = next - 1
	}
	if len(want) != len(targets) {
		t.Fatalf("%d pods in the output, %d in targets.json", len(want), len(targets))
	}
	snap := loadPaths(t, filepath.Join(cy, "networkpolicies/simple-example"))
	for i, tg := range targets {
		if tg.Namespace != want[i].ns || fmt.Sprint(tg.Labels) != fmt.Sprint(want[i].labels) {
			t.Fatalf("target %d is %s %v, output has %s %v", i, tg.Namespace, tg.Labels, want[i].ns, want[i].labels)
		}
		snap.Add(barePod(tg.Namespace, fmt.Sprintf("target-%d", i), tg.Labels, "", nil))
	}
	e := newEngine(t, snap)
	for i, tg := range targets {
		iso, err := e.Isolation(podRef(tg.Namespace, fmt.Sprintf("target-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		for dir, got := range map[string][]PolicyRef{Ingress: iso.Ingress, Egress: iso.Egress} {
			var names []string
			for _, p := range got {
				names = append(names, p.String())
			}
			w := slices.Sorted(slices.Values(want[i].pols[dir]))
			if !slices.Equal(names, w) {
				t.Errorf("pod %v in %s, %s: selected by %v, cyclonus %v", tg.Labels, tg.Namespace, dir, names, w)
			}
		}
	}
	t.Logf("%d pods × 2 directions checked", len(targets))
}

func TestCyclonusTestRunsSimpleIPBlock(t *testing.T) {
	cy := corpusPath(t, "cyclonus")
	lines := readLines(t, filepath.Join(cy, "docs/test-runs.md"))
	// The policy: the YAML after "Network policy:", up to "Discrepancy
	// found".
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "Network policy:" })
	if start < 0 {
		t.Fatal("no policy in docs/test-runs.md")
	}
	var doc []string
	i := start + 1
	for ; i < len(lines) && !strings.HasPrefix(lines[i], "Discrepancy found"); i++ {
		doc = append(doc, lines[i])
	}
	snap := loadYAML(t, strings.Join(doc, "\n"))
	if len(snap.NetworkPolicies) != 1 {
		t.Fatalf("read %d policies from docs/test-runs.md", len(snap.NetworkPolicies))
	}
	// The expected tables that follow.
	var tables [3]asciiTable
	for k, title := range []string{"Expected ingress:", "Expected egress:", "Expected combined:"} {
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != title; i++ {
		}
		if i == len(lines) {
			t.Fatalf("no %q table", title)
		}
		tables[k], i = readTable(lines, i+1)
	}
	type pp struct {
		proto string
		port  int32
	}
	var probes []pp
	for _, c := range tables[0].corner {
		var p pp
		if _, err := fmt.Sscanf(strings.Replace(c, "/", " ", 1), "%s %d", &p.proto, &p.port); err != nil {
			t.Fatalf("protocol/port %q: %v", c, err)
		}
		probes = append(probes, p)
	}

	// The pods: x, y, z × a, b, c labelled ns=… and pod=… (the page's
	// "Namespaces, pods, services, and containers"), each serving every
	// protocol/port of the table. The page does not give the IPs of the
	// run whose expectations it shows; those expectations let every pod in
	// through the 192.168.1.0/24 ipBlock, as the IPs of cyclonus's own
	// examples/probe.json are, so the pods take those IPs.
	var res probeResources
	readJSON(t, filepath.Join(cy, "examples/probe.json"), &res)
	ips := map[string]string{}
	for _, p := range res.Resources.Pods {
		ips[p.Namespace+"/"+p.Name] = p.IP
	}
	var ports []model.ContainerPort
	for _, p := range probes {
		ports = append(ports, model.ContainerPort{Name: fmt.Sprintf("serve-%d-%s", p.port, strings.ToLower(p.proto)), ContainerPort: p.port, Protocol: p.proto})
	}
	for _, ns := range []string{"x", "y", "z"} {
		snap.Add(namespaceObj(ns, map[string]string{"ns": ns}))
		for _, pod := range []string{"a", "b", "c"} {
			snap.Add(barePod(ns, pod, map[string]string{"pod": pod}, ips[ns+"/"+pod], ports))
		}
	}
	e := newEngine(t, snap)
	if p := e.Problems(); len(p) > 0 {
		t.Fatalf("problems: %v", p)
	}
	checked := 0
	for _, row := range tables[0].rows {
		for j, col := range tables[0].cols {
			for k := range 3 {
				r := tables[k].rows[slices.IndexFunc(tables[k].rows, func(r []string) bool { return r[0] == row[0] })]
				marks := strings.Fields(r[j+1])
				if len(marks) != len(probes) {
					t.Fatalf("%s → %s: %d marks for %d probes", row[0], col, len(marks), len(probes))
				}
				for n, p := range probes {
					want, known := mark(marks[n])
					if !known {
						continue
					}
					v, err := e.Query(Connection{From: podOf(t, row[0]), To: podOf(t, col), Port: p.port, Protocol: p.proto})
					if err != nil {
						t.Fatal(err)
					}
					got := [3]bool{v.Ingress.Allowed, v.Egress.Allowed, v.Allowed}[k]
					checked++
					if got != want {
						t.Errorf("%s → %s %s/%d %s: got %v, cyclonus %v", row[0], col, p.proto, p.port, []string{"ingress", "egress", "combined"}[k], got, want)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no cell checked")
	}
	t.Logf("%d cells checked", checked)
}

// walkTrafficRE and walkNPv1RE read a row of policy-assistant's verdict walkthrough.
var (
	walkTrafficRE = regexp.MustCompile(`^(\S+) -> (\S+):(\d+) \((\w+)\)$`)
	walkNPv1RE    = regexp.MustCompile(`\[NPv1\] (\w+) \(([^)]+)\)`)
)

func TestNetworkPolicyAPIWalkthrough(t *testing.T) {
	npa := corpusPath(t, "network-policy-api")
	demo := filepath.Join(npa, "cmd/policy-assistant/examples/demos/walkthrough")
	type row struct {
		file, traffic, verb, policy, egress string
	}
	var rows []row
	for _, f := range []string{filepath.Join(npa, "cmd/policy-assistant/README.md"), filepath.Join(demo, "README.md")} {
		lines := readLines(t, f)
		egress := ""
		for _, l := range lines {
			c := tableCells(l)
			switch {
			case strings.HasPrefix(strings.TrimSpace(l), "+"):
				continue // a rule inside the table: merged cells go on
			case !strings.HasPrefix(strings.TrimSpace(l), "|") || len(c) != 4:
				egress = "" // out of a table
				continue
			}
			if c[3] != "" {
				egress = c[3]
			}
			m := walkNPv1RE.FindStringSubmatch(c[2])
			if m == nil {
				continue
			}
			rows = append(rows, row{file: filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f), traffic: c[0], verb: m[1], policy: m[2], egress: egress})
		}
	}
	if len(rows) == 0 {
		t.Fatal("no NetworkPolicy v1 verdict in the walkthrough tables")
	}
	for _, r := range rows {
		t.Run(r.traffic, func(t *testing.T) {
			// The demo's Deployment a and Pod b, and its policies: the
			// loader keeps the NetworkPolicy and ignores the admin kinds.
			snap := loadPaths(t, filepath.Join(demo, "demo-deployment-a.yaml"), filepath.Join(demo, "demo-pod-b.yaml"), filepath.Join(demo, "policies"))
			if len(snap.NetworkPolicies) != 1 {
				t.Fatalf("%d NetworkPolicies in the walkthrough", len(snap.NetworkPolicies))
			}
			m := walkTrafficRE.FindStringSubmatch(r.traffic)
			if m == nil {
				t.Fatalf("traffic %q", r.traffic)
			}
			fake := 0
			end := func(s string) string {
				// "ns/kind/name" is a workload of the demo; "ns/[k=v]" a
				// pod with those labels.
				ns, rest, _ := strings.Cut(s, "/")
				if l, ok := strings.CutPrefix(rest, "["); ok {
					labels := map[string]string{}
					for _, kv := range strings.Split(strings.TrimSuffix(l, "]"), ",") {
						k, v, _ := strings.Cut(kv, "=")
						labels[k] = v
					}
					fake++
					name := fmt.Sprintf("fake-%d", fake)
					snap.Add(barePod(ns, name, labels, "", nil))
					return ns + "/pod/" + name
				}
				return s
			}
			src, dst := end(m[1]), end(m[2])
			e := newEngine(t, snap)
			from, err := e.ParseEndpoint(src)
			if err != nil {
				t.Fatal(err)
			}
			to, err := e.ParseEndpoint(dst)
			if err != nil {
				t.Fatal(err)
			}
			var port int32
			fmt.Sscan(m[3], &port)
			v, err := e.Query(Connection{From: from, To: to, Port: port, Protocol: m[4]})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(v.Ingress.Policies, func(p PolicyRef) bool { return p.String() == r.policy }) {
				t.Errorf("%s: ingress policies %v, policy-assistant names %s", r.file, v.Ingress.Policies, r.policy)
			}
			switch r.verb {
			case "Dropped":
				if v.Ingress.Allowed || v.Allowed {
					t.Errorf("%s: allowed (%s), policy-assistant: dropped by %s", r.file, v.Ingress.Reason, r.policy)
				}
			case "Allowed":
				if !v.Ingress.Allowed {
					t.Errorf("%s: denied (%s), policy-assistant: allowed by %s", r.file, v.Ingress.Reason, r.policy)
				}
			default:
				t.Fatalf("unknown verdict %q", r.verb)
			}
			if r.egress == "no policies targeting egress" && v.Egress.Isolated {
				t.Errorf("%s: egress isolated by %v, policy-assistant: no policies targeting egress", r.file, v.Egress.Policies)
			}
		})
	}
	t.Logf("%d walkthrough rows decided by NetworkPolicy v1 checked", len(rows))
}

// TestCorpusPoliciesRead reads every NetworkPolicy of both corpora: all
// are valid, so none may be reported as a problem.
func TestCorpusPoliciesRead(t *testing.T) {
	n := 0
	for _, dir := range []string{"cyclonus/networkpolicies", "network-policy-api"} {
		// The YAML files that hold a NetworkPolicy (others are probes,
		// traffic, admin policies, or conformance templates that are not
		// YAML before rendering).
		var files []string
		err := filepath.WalkDir(corpusPath(t, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && regexp.MustCompile(`(?m)^\s*kind: NetworkPolicy\s*$`).Match(b) {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		snap := loadPaths(t, files...)
		e := newEngine(t, snap)
		if p := e.Problems(); len(p) > 0 {
			t.Errorf("%s: problems %v", dir, p)
		}
		n += len(snap.NetworkPolicies)
	}
	t.Logf("%d NetworkPolicies read", n)
}
