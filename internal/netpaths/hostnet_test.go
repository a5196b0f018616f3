package netpaths

import (
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

// Workloads of the host network are their node (internal/netpol): no
// policy can protect them, their paths are the cluster nodes', and a
// node's address is a node, not the internet, with or without an ipBlock
// around it.
func TestAnalyzeHostNetwork(t *testing.T) {
	const (
		// prometheus may scrape TCP/9100 anywhere and TCP/10250 on
		// node-2 (an ipBlock of node-2's address alone).
		otherThanNodes = "  egress anywhere else other than cluster nodes unused [TCP/9100] 10.00 internet×10"
		web            = "  egress Pod/shop/web unused [TCP/9100] 3.00 cross-namespace×3"
		nodes          = "  egress cluster nodes in anywhere else unused [TCP/9100] 3.00 nodes×3"
		node2          = "  egress cluster nodes in 10.0.0.12/32 unused [TCP/9100, TCP/10250] 6.00 nodes×3 sensitive-ports×2"
		node2Kubelet   = "  egress cluster nodes in 10.0.0.12/32 partly-used [TCP/10250] 6.00 nodes×3 sensitive-ports×2"
		exporter       = "unprotected DaemonSet/monitoring/node-exporter allowed=0 used=0 denied=0 hostNetwork"
		webUnprotected = "unprotected Pod/shop/web allowed=7 used=0 denied=0"
	)
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
			counts: Counts{Paths: 10, Unused: 10},
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
			counts: Counts{Paths: 10, Used: 2, PartlyUsed: 1, Unused: 8},
			want:   scraped,
		},
		{
			// As a flow log may name it: the workload, on both its nodes.
			name:    "scrapes by workload",
			records: []flows.Record{rec(wl(prometheus), wl(nodeExporter), 9100, "TCP", 120)},
			counts:  Counts{Paths: 10, Used: 2, PartlyUsed: 1, Unused: 8},
			want:    scraped,
		},
		{
			// The policies tell its nodes apart: the kubelet's port is
			// allowed on node-2 only, so only node-2 counts it.
			name:    "by workload, one node allowed",
			records: []flows.Record{rec(wl(prometheus), wl(nodeExporter), 10250, "TCP", 1)},
			counts:  Counts{Paths: 10, Used: 1, PartlyUsed: 1, Unused: 9},
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
			counts:  Counts{Paths: 10, Used: 1, Unused: 9},
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
			counts:  Counts{Paths: 10, Used: 1, Unused: 9},
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
			counts: Counts{Paths: 10, Unused: 10},
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
