package netpaths

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
)

var (
	prometheus   = ref(model.KindPod, "monitoring", "prometheus")
	nodeExporter = ref(model.KindDaemonSet, "monitoring", "node-exporter")
)

// The lines of the paths of prometheus and of the unprotected workloads
// (brief) in hostnet.yaml.
const (
	// prometheus may scrape TCP/9100 anywhere and TCP/10250 on
	// node-2 (an ipBlock of node-2's address alone).
	otherThanNodes = "  egress anywhere else other than cluster nodes unused [TCP/9100] 10.00 internet×10"
	web            = "  egress Pod/shop/web unused [TCP/9100] 3.00 cross-namespace×3"
	nodes          = "  egress cluster nodes in anywhere else unused [TCP/9100] 3.00 nodes×3"
	node2          = "  egress cluster nodes in 10.0.0.12/32 unused [TCP/9100, TCP/10250] 6.00 nodes×3 sensitive-ports×2"
	node2Kubelet   = "  egress cluster nodes in 10.0.0.12/32 partly-used [TCP/10250] 6.00 nodes×3 sensitive-ports×2"
	exporter       = "unprotected DaemonSet/monitoring/node-exporter allowed=0 used=0 denied=0 hostNetwork"
	// web runs on node-2: its paths to and from the cluster nodes in
	// 10.0.0.12/32 (node-2 only) are its own node's, always allowed,
	// and neither counted nor listed.
	webUnprotected = "unprotected Pod/shop/web allowed=5 used=0 denied=0"
)

// Workloads of the host network are their node (internal/netpol): no
// policy can protect them, their paths are the cluster nodes', and a
// node's address is a node, not the internet, with or without an ipBlock
// around it.
func TestAnalyzeHostNetwork(t *testing.T) {
	scraped := []string{
		"Pod/monitoring/prometheus 19.00 allowed=4 used=2 unused=2 denied=0 more=0",
		otherThanNodes, node2Kubelet, web,
		exporter, webUnprotected,
	}
	tests := []struct {
		name    string
		records []flows.Record
		counts  Counts
		want    []string
	}{
		{
			name:   "no traffic to the nodes",
			counts: Counts{Paths: 8, Unused: 8},
			want: []string{
				"Pod/monitoring/prometheus 22.00 allowed=4 used=0 unused=4 denied=0 more=0",
				otherThanNodes, node2, web, nodes,
				exporter, webUnprotected,
			},
		},
		{
			// As node agents record it: node addresses.
			name: "scrapes by address",
			records: []flows.Record{
				rec(wl(prometheus), ip("10.0.0.11"), 9100, "TCP", 60),
				rec(wl(prometheus), ip("10.0.0.12"), 9100, "TCP", 60),
			},
			counts: Counts{Paths: 8, Used: 2, PartlyUsed: 1, Unused: 6},
			want:   scraped,
		},
		{
			// As a flow log may name it: the workload, on both its nodes.
			name:    "scrapes by workload",
			records: []flows.Record{rec(wl(prometheus), wl(nodeExporter), 9100, "TCP", 120)},
			counts:  Counts{Paths: 8, Used: 2, PartlyUsed: 1, Unused: 6},
			want:    scraped,
		},
		{
			// The policies tell its nodes apart: the kubelet's port is
			// allowed on node-2 only, so only node-2 counts it.
			name:    "by workload, one node allowed",
			records: []flows.Record{rec(wl(prometheus), wl(nodeExporter), 10250, "TCP", 1)},
			counts:  Counts{Paths: 8, Used: 1, PartlyUsed: 1, Unused: 7},
			want: []string{
				"Pod/monitoring/prometheus 19.00 allowed=4 used=1 unused=3 denied=0 more=0",
				otherThanNodes, web, nodes,
				"  egress cluster nodes in 10.0.0.12/32 partly-used [TCP/9100] 3.00 nodes×3",
				exporter, webUnprotected,
			},
		},
		{
			// A node's ExternalIP, with no ipBlock around it, is a node:
			// the internet stays unused.
			name:    "a node's external address",
			records: []flows.Record{rec(wl(prometheus), ip("203.0.113.12"), 9100, "TCP", 1)},
			counts:  Counts{Paths: 8, Used: 1, Unused: 7},
			want: []string{
				"Pod/monitoring/prometheus 19.00 allowed=4 used=1 unused=3 denied=0 more=0",
				otherThanNodes, node2, web,
				exporter, webUnprotected,
			},
		},
		{
			// Traffic to the internet is not traffic to the nodes.
			name:    "the internet",
			records: []flows.Record{rec(wl(prometheus), ip("198.51.100.1"), 9100, "TCP", 1)},
			counts:  Counts{Paths: 8, Used: 1, Unused: 7},
			want: []string{
				"Pod/monitoring/prometheus 12.00 allowed=4 used=1 unused=3 denied=0 more=0",
				node2, web, nodes,
				exporter, webUnprotected,
			},
		},
		{
			// A denied flow by address is the node's. The host-network
			// workload runs on prometheus's node (node-1), and traffic
			// between a pod and its own node is always allowed
			// (internal/netpol): a record naming it is not denied.
			name: "denied from the nodes",
			records: []flows.Record{
				rec(wl(nodeExporter), wl(prometheus), 9090, "TCP", 5),
				rec(ip("10.0.0.12"), wl(prometheus), 9090, "TCP", 4),
			},
			counts: Counts{Paths: 8, Unused: 8},
			want: []string{
				"Pod/monitoring/prometheus 22.00 allowed=4 used=0 unused=4 denied=1 more=0",
				otherThanNodes, node2, web, nodes,
				"unprotected DaemonSet/monitoring/node-exporter allowed=0 used=0 denied=0 hostNetwork",
				webUnprotected,
				"denied 10.0.0.12 → monitoring/Pod/prometheus TCP/9090 ×4 by ingress (monitoring/scrape) allowed [none]",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &flows.Set{Since: t0, Until: t0.Add(10 * 24 * time.Hour), Sources: []string{"test"}, Records: append([]flows.Record{
				// Known usage, touching no path of the test.
				rec(ip("198.51.100.9"), ip("198.51.100.10"), 80, "TCP", 1),
			}, tt.records...)}
			res := analyze(t, loadIndex(t, "testdata/hostnet.yaml").WithFlows(fs), netpol.Scope{}, Options{})
			if diff := cmp.Diff(tt.want, brief(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if res.Counts != tt.counts {
				t.Errorf("counts %+v, want %+v", res.Counts, tt.counts)
			}
		})
	}
}

// A nodes peer names the host-network workloads on its nodes and says
// why it weighs.
func TestNodesPeer(t *testing.T) {
	res := analyze(t, loadIndex(t, "testdata/hostnet.yaml").WithFlows(nil), netpol.Scope{}, Options{})
	var got []Peer
	for _, p := range res.Items[0].Paths {
		if p.Peer.Nodes {
			got = append(got, p.Peer)
			f := p.Factors[0]
			if f.Name != FactorNodes || !strings.Contains(f.Detail, "host-network workloads on them: DaemonSet/monitoring/node-exporter") {
				t.Errorf("%s: first factor %+v", p.Peer, f)
			}
		}
	}
	want := []Peer{
		{Outside: &netpol.Outside{CIDR: "10.0.0.12/32"}, Count: 1, Nodes: true, Addresses: 1, HostNetwork: []model.WorkloadRef{*nodeExporter}, HostNetworkCount: 1},
		{Outside: &netpol.Outside{Except: []string{"10.0.0.12/32"}}, Count: 1, Nodes: true, Addresses: 2, HostNetwork: []model.WorkloadRef{*nodeExporter}, HostNetworkCount: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodes peers (-want +got):\n%s", diff)
	}
}

// Without a matrix, host-network workloads are marked too.
func TestPartialHostNetwork(t *testing.T) {
	ix := loadIndex(t, "testdata/hostnet.yaml")
	e, err := netpol.New(t.Context(), ix, netpol.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Partial(t.Context(), ix, e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range res.Unprotected {
		got = append(got, u.Workload.String()+map[bool]string{true: " hostNetwork"}[u.HostNetwork])
	}
	if diff := cmp.Diff([]string{"DaemonSet/monitoring/node-exporter hostNetwork", "Pod/shop/web"}, got); diff != "" {
		t.Errorf("unprotected (-want +got):\n%s", diff)
	}
}

// Traffic between a pod and its own node is always allowed
// (internal/netpol): kubelet probes, the pod's calls to its node's
// kubelet and node-local agents of the host network are never denied,
// whatever the pod's policies say; the same from or to another node still
// is. prometheus runs on node-1 (10.0.0.11) with every ingress denied and
// egress only to TCP/9100 and node-2's TCP/10250; node-exporter runs in
// the host network on both nodes.
func TestAnalyzeOwnNode(t *testing.T) {
	const (
		// prometheus's paths with no traffic on any of them.
		unused = "Pod/monitoring/prometheus 22.00 allowed=4 used=0 unused=4 denied=%d more=0"
		// From node-2's address: prometheus's ingress denies it.
		fromNode2 = "denied 10.0.0.12 → monitoring/Pod/prometheus TCP/8080 ×7 by ingress (monitoring/scrape) allowed [none]"
		// To node-2's SSH: only TCP/9100 and TCP/10250 are allowed there.
		toNode2 = "denied monitoring/Pod/prometheus → 10.0.0.12 TCP/22 ×3 by egress (monitoring/kubelet-node-2, monitoring/scrape) allowed [TCP/9100, TCP/10250]"
	)
	var (
		probe8080  = rec(ip("10.0.0.11"), wl(prometheus), 8080, "TCP", 500)
		probe10250 = rec(ip("10.0.0.11"), wl(prometheus), 10250, "TCP", 500)
		kubelet    = rec(wl(prometheus), ip("10.0.0.11"), 10250, "TCP", 60)
		other      = []flows.Record{rec(ip("10.0.0.12"), wl(prometheus), 8080, "TCP", 7), rec(wl(prometheus), ip("10.0.0.12"), 22, "TCP", 3)}
	)
	tests := []struct {
		name    string
		records []flows.Record
		items   []string // prometheus's item and paths
		denied  []string
		reasons [][]string // of the denied flows
		counts  Counts
	}{
		{
			name:    "kubelet probes from its node's address",
			records: []flows.Record{probe8080, probe10250},
			items:   []string{fmt.Sprintf(unused, 0), otherThanNodes, node2, web, nodes},
			counts:  Counts{Paths: 8, Unused: 8},
		},
		{
			name:    "an IPv4-mapped address of its node",
			records: []flows.Record{rec(flows.Endpoint{Addr: netip.MustParseAddr("::ffff:10.0.0.11")}, wl(prometheus), 8080, "TCP", 500)},
			items:   []string{fmt.Sprintf(unused, 0), otherThanNodes, node2, web, nodes},
			counts:  Counts{Paths: 8, Unused: 8},
		},
		{
			// Its node's kubelet, on a port its egress allows to node-2
			// only: allowed, and no path of the policies is used.
			name:    "its own node's kubelet",
			records: []flows.Record{kubelet},
			items:   []string{fmt.Sprintf(unused, 0), otherThanNodes, node2, web, nodes},
			counts:  Counts{Paths: 8, Unused: 8},
		},
		{
			// A node-local agent, by its node's address (as node agents
			// record it) or by workload (as a flow log may name it).
			name: "a node-local agent of the host network",
			records: []flows.Record{
				rec(ip("10.0.0.11"), wl(prometheus), 9090, "TCP", 40),
				rec(wl(nodeExporter), wl(prometheus), 9090, "TCP", 40),
			},
			items:  []string{fmt.Sprintf(unused, 0), otherThanNodes, node2, web, nodes},
			counts: Counts{Paths: 8, Unused: 8},
		},
		{
			// A port the policies allow to the cluster nodes: the
			// workload's path to the nodes of the region is used, not
			// the rest of the region (the internet).
			name:    "an allowed port to its own node",
			records: []flows.Record{rec(wl(prometheus), ip("10.0.0.11"), 9100, "TCP", 60)},
			items:   []string{"Pod/monitoring/prometheus 19.00 allowed=4 used=1 unused=3 denied=0 more=0", otherThanNodes, node2, web},
			counts:  Counts{Paths: 8, Used: 1, Unused: 7},
		},
		{
			name:    "the same with another node",
			records: other,
			items:   []string{fmt.Sprintf(unused, 2), otherThanNodes, node2, web, nodes},
			denied:  []string{fromNode2, toNode2},
			reasons: [][]string{
				{"monitoring/Pod/prometheus isolated by monitoring/scrape, and no rule allows 10.0.0.12/32 on TCP/8080"},
				{"monitoring/Pod/prometheus isolated by monitoring/kubelet-node-2, monitoring/scrape, and no rule allows 10.0.0.12/32 on TCP/22"},
			},
			counts: Counts{Paths: 8, Unused: 8},
		},
		{
			name:    "both",
			records: append([]flows.Record{probe8080, probe10250, kubelet}, other...),
			items:   []string{fmt.Sprintf(unused, 2), otherThanNodes, node2, web, nodes},
			denied:  []string{fromNode2, toNode2},
			counts:  Counts{Paths: 8, Unused: 8},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &flows.Set{Since: t0, Until: t0.Add(10 * 24 * time.Hour), Sources: []string{"agents"}, Records: tt.records}
			ix := loadIndex(t, "testdata/hostnet.yaml").WithFlows(fs)
			keep := Options{Keep: func(r model.WorkloadRef) bool { return r == *prometheus }}
			res := analyze(t, ix, netpol.Scope{}, keep)
			if diff := cmp.Diff(append(tt.items, tt.denied...), brief(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if res.Counts != tt.counts {
				t.Errorf("counts %+v, want %+v", res.Counts, tt.counts)
			}
			for _, d := range res.Denied {
				// A record the engine allows has no denying side: it
				// must not be listed ("by  ()").
				if len(d.DeniedBy) == 0 || len(d.Reasons) == 0 {
					t.Errorf("denied %s → %s %s/%d: no denying side", d.From, d.To, d.Protocol, d.Port)
				}
			}
			if tt.reasons != nil {
				var got [][]string
				for _, d := range res.Denied {
					got = append(got, d.Reasons)
				}
				if diff := cmp.Diff(tt.reasons, got); diff != "" {
					t.Errorf("reasons (-want +got):\n%s", diff)
				}
			}
			// Without a matrix, the engine's answer per record agrees.
			e, err := netpol.New(t.Context(), ix, netpol.Options{})
			if err != nil {
				t.Fatal(err)
			}
			part, err := Partial(t.Context(), ix, e, keep)
			if err != nil {
				t.Fatal(err)
			}
			if len(part.Denied) != len(res.Denied) {
				t.Errorf("partial: %d denied, want %d", len(part.Denied), len(res.Denied))
			}
			for i := range min(len(part.Denied), len(res.Denied)) {
				if diff := cmp.Diff(res.Denied[i].Reasons, part.Denied[i].Reasons); diff != "" {
					t.Errorf("partial: denied %d reasons (-analyze +partial):\n%s", i, diff)
				}
			}
		})
	}
}
