package flows_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
)

func workload(cluster string, kind model.Kind, ns, name string, labels map[string]string) *model.Workload {
	return &model.Workload{
		Meta: model.Meta{Cluster: cluster, Namespace: ns, Name: name}, Kind: kind,
		Template: model.PodTemplate{Labels: labels, Containers: []model.Container{{Name: "app",
			Ports: []model.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}}}}},
	}
}

func pod(cluster, ns, name, ownerKind, owner, phase string, ips ...string) *model.Workload {
	p := workload(cluster, model.KindPod, ns, name, nil)
	if owner != "" {
		p.Owner = &model.OwnerRef{Kind: ownerKind, Name: owner}
	}
	p.Status = &model.PodStatus{Phase: phase, PodIPs: ips}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

// testIndex: shop/frontend (10.0.1.5), shop/cart (10.0.2.7 and
// fd00::7), a StatefulSet and a Deployment both named db, a finished pod
// and a host-network pod, a Service "cart" (ClusterIP 10.96.0.20, port 80
// to the named port http) and a Service "both" selecting two workloads;
// and in cluster "prod" a pod holding 10.0.1.5 too.
func testIndex() *inventory.Index {
	hostNet := pod("default", "shop", "agent-x", "", "", "Running", "192.168.0.10")
	hostNet.Template.HostNetwork = true
	snap := &model.Snapshot{
		Workloads: []*model.Workload{
			workload("default", model.KindDeployment, "shop", "frontend", map[string]string{"app": "frontend", "tier": "web"}),
			pod("default", "shop", "frontend-abc-1", "Deployment", "frontend", "Running", "10.0.1.5"),
			workload("default", model.KindDeployment, "shop", "cart", map[string]string{"app": "cart", "tier": "web"}),
			pod("default", "shop", "cart-abc-1", "Deployment", "cart", "Running", "10.0.2.7", "fd00::7"),
			workload("default", model.KindStatefulSet, "shop", "db", nil),
			workload("default", model.KindDeployment, "shop", "db", nil),
			workload("default", model.KindJob, "shop", "migrate", nil),
			pod("default", "shop", "migrate-1", "Job", "migrate", "Succeeded", "10.0.3.3"),
			hostNet,
			workload("prod", model.KindDeployment, "shop", "api", nil),
			pod("prod", "shop", "api-1", "Deployment", "api", "Running", "10.0.1.5"),
		},
		Services: []*model.Service{
			{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "cart"}, ClusterIP: "10.96.0.20", Selector: map[string]string{"app": "cart"},
				Ports: []model.ServicePort{{Port: 80, Protocol: "TCP", TargetPort: "http"}, {Port: 9000, Protocol: "TCP", TargetPort: "9001"}}},
			{Meta: model.Meta{Cluster: "default", Namespace: "shop", Name: "both"}, ClusterIP: "10.96.0.30", Selector: map[string]string{"tier": "web"},
				Ports: []model.ServicePort{{Port: 443, TargetPort: "8443"}}},
		},
	}
	return inventory.New(snap)
}

func ref(cluster string, kind model.Kind, ns, name string) *model.WorkloadRef {
	return &model.WorkloadRef{Cluster: cluster, Kind: kind, Namespace: ns, Name: name}
}

func wep(cluster string, kind model.Kind, ns, name string) flows.Endpoint {
	return flows.Endpoint{Workload: ref(cluster, kind, ns, name)}
}

func aep(s string) flows.Endpoint { return flows.Endpoint{Addr: netip.MustParseAddr(s)} }

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func lf(line int, src, dst string, port uint16) flows.LogFlow {
	f := flows.LogFlow{Line: line, Start: t0, End: t0, Port: port, Protocol: flows.TCP, Count: 1}
	if strings.Contains(src, "/") {
		f.SrcWorkload, _ = flows.ParseWorkloadName(src)
	} else {
		f.Src = netip.MustParseAddr(src).Unmap()
	}
	if strings.Contains(dst, "/") {
		f.DstWorkload, _ = flows.ParseWorkloadName(dst)
	} else {
		f.Dst = netip.MustParseAddr(dst).Unmap()
	}
	return f
}

var (
	frontend = wep("default", model.KindDeployment, "shop", "frontend")
	cart     = wep("default", model.KindDeployment, "shop", "cart")
)

func TestResolve(t *testing.T) {
	ix := testIndex()
	later := lf(0, "10.0.1.5", "10.0.2.7", 8080)
	later.Start, later.End, later.Count = t0.Add(time.Hour), t0.Add(2*time.Hour), 4
	prod := lf(0, "10.0.1.5", "8.8.8.8", 53)
	prod.Cluster, prod.Protocol = "prod", flows.UDP
	tests := []struct {
		name     string
		in       []flows.LogFlow
		want     []flows.Record
		wantErrs []string
	}{
		{"pod IPs become their workloads", []flows.LogFlow{lf(1, "10.0.1.5", "10.0.2.7", 8080)},
			[]flows.Record{{Cluster: "default", From: frontend, To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1}}, nil},
		{"IPv6 and IPv4-mapped addresses", []flows.LogFlow{lf(1, "::ffff:10.0.1.5", "fd00::7", 8080)},
			[]flows.Record{{Cluster: "default", From: frontend, To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1}}, nil},
		{"unknown IPs are outside endpoints", []flows.LogFlow{lf(1, "203.0.113.9", "10.0.2.7", 8080), lf(2, "10.0.1.5", "2001:db8::1", 443)},
			[]flows.Record{
				{Cluster: "default", From: frontend, To: aep("2001:db8::1"), Port: 443, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
				{Cluster: "default", From: aep("203.0.113.9"), To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
			}, nil},
		{"finished and host-network pods hold no address", []flows.LogFlow{lf(1, "10.0.3.3", "192.168.0.10", 10250)},
			[]flows.Record{{Cluster: "default", From: aep("10.0.3.3"), To: aep("192.168.0.10"), Port: 10250, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1}}, nil},
		{"one record per path", []flows.LogFlow{lf(1, "10.0.1.5", "10.0.2.7", 8080), later, lf(3, "shop/frontend", "shop/Deployment/cart", 8080)},
			[]flows.Record{{Cluster: "default", From: frontend, To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour), Count: 6}}, nil},
		{"clusters resolve apart", []flows.LogFlow{prod},
			[]flows.Record{{Cluster: "prod", From: wep("prod", model.KindDeployment, "shop", "api"), To: aep("8.8.8.8"), Port: 53, Protocol: flows.UDP, FirstSeen: t0, LastSeen: t0, Count: 1}}, nil},
		{"named workloads, pods and kinds", []flows.LogFlow{lf(1, "shop/frontend-abc-1", "shop/StatefulSet/db", 5432), lf(2, "shop/Pod/cart-abc-1", "shop/deployment/db", 5432)},
			[]flows.Record{
				{Cluster: "default", From: cart, To: wep("default", model.KindDeployment, "shop", "db"), Port: 5432, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
				{Cluster: "default", From: frontend, To: wep("default", model.KindStatefulSet, "shop", "db"), Port: 5432, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
			}, nil},
		{"a named workload that does not exist is reported", []flows.LogFlow{lf(7, "shop/ghost", "10.0.2.7", 8080), lf(8, "10.0.1.5", "shop/db", 5432), lf(9, "10.0.1.5", "shop/DaemonSet/cart", 80)},
			nil, []string{
				`line 7: srcWorkload shop/ghost: no such workload in cluster "default"`,
				"line 8: dstWorkload shop/db names 2 workloads (Deployment, StatefulSet): write NAMESPACE/KIND/NAME",
				`line 9: dstWorkload shop/DaemonSet/cart: no such workload in cluster "default"`,
			}},
		{"a Service's ClusterIP is its workload on the target port", []flows.LogFlow{lf(1, "10.0.1.5", "10.96.0.20", 80), lf(2, "10.0.1.5", "10.96.0.20", 9000)},
			[]flows.Record{
				{Cluster: "default", From: frontend, To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
				{Cluster: "default", From: frontend, To: cart, Port: 9001, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
			}, nil},
		{"a Service selecting two workloads gives both", []flows.LogFlow{lf(1, "203.0.113.9", "10.96.0.30", 443)},
			[]flows.Record{
				{Cluster: "default", From: aep("203.0.113.9"), To: cart, Port: 8443, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
				{Cluster: "default", From: aep("203.0.113.9"), To: frontend, Port: 8443, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
			}, nil},
		{"a port the Service does not have stays an address", []flows.LogFlow{lf(1, "10.0.1.5", "10.96.0.20", 81)},
			[]flows.Record{{Cluster: "default", From: frontend, To: aep("10.96.0.20"), Port: 81, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, errs := flows.Resolve(ix, "default", tt.in)
			if diff := cmp.Diff(tt.want, set.Records, addrCmp); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if diff := cmp.Diff(tt.wantErrs, msgs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestResolveWindow(t *testing.T) {
	a, b := lf(1, "10.0.1.5", "10.0.2.7", 8080), lf(2, "10.0.1.5", "10.0.2.7", 8080)
	b.Start, b.End = t0.Add(-time.Hour), t0.Add(3*time.Hour)
	r := flows.NewResolver(testIndex(), "default")
	r.Add(a)
	r.Add(b)
	r.Add(lf(3, "shop/nope", "10.0.2.7", 1))
	if r.Flows != 2 || r.Skipped != 1 || r.Outside != 0 {
		t.Errorf("Flows %d, Skipped %d, Outside %d; want 2, 1, 0", r.Flows, r.Skipped, r.Outside)
	}
	set := r.Set()
	if !set.Since.Equal(t0.Add(-time.Hour)) || !set.Until.Equal(t0.Add(3*time.Hour)) || set.Window() != 4*time.Hour {
		t.Errorf("window %v to %v", set.Since, set.Until)
	}
}

func TestFromObservations(t *testing.T) {
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	fe, ca := *frontend.Workload, *cart.Workload
	obs := []observation.FlowRecord{
		// Seen from both ends: two sightings of one path.
		{Cluster: "default", Node: "n1", Proto: "tcp", From: observation.Endpoint{Workload: fe, Pod: "frontend-abc-1", Addr: ap("10.0.1.5:40000")},
			To: observation.Endpoint{Workload: ca, Pod: "cart-abc-1", Addr: ap("10.0.2.7:8080")}, Port: 8080, FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 2},
		{Cluster: "default", Node: "n2", Proto: "tcp", From: observation.Endpoint{Workload: fe, Pod: "frontend-abc-1", Addr: ap("10.0.1.5:40000")},
			To: observation.Endpoint{Workload: ca, Pod: "cart-abc-1", Addr: ap("10.0.2.7:8080")}, Port: 8080, FirstSeen: t0.Add(-time.Minute), LastSeen: t0, Count: 1},
		{Cluster: "default", Node: "n1", Proto: "udp", From: observation.Endpoint{Workload: fe, Addr: ap("10.0.1.5:5353")},
			To: observation.Endpoint{External: true, Addr: ap("[::ffff:8.8.8.8]:53")}, Port: 53, FirstSeen: t0, LastSeen: t0, Count: 5},
		// An end the agent could not attribute is an address.
		{Cluster: "default", Node: "n1", Proto: "tcp", From: observation.Endpoint{External: true, Addr: ap("10.9.9.9:1234")},
			To: observation.Endpoint{Workload: ca, Addr: ap("10.0.2.7:8080")}, Port: 8080, FirstSeen: t0, LastSeen: t0, Count: 1},
		{Cluster: "default", Node: "n1", Proto: "icmp", Port: 1, Count: 1},
	}
	want := []flows.Record{
		{Cluster: "default", From: frontend, To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0.Add(-time.Minute), LastSeen: t0.Add(time.Minute), Count: 3},
		{Cluster: "default", From: frontend, To: aep("8.8.8.8"), Port: 53, Protocol: flows.UDP, FirstSeen: t0, LastSeen: t0, Count: 5},
		{Cluster: "default", From: aep("10.9.9.9"), To: cart, Port: 8080, Protocol: flows.TCP, FirstSeen: t0, LastSeen: t0, Count: 1},
	}
	if diff := cmp.Diff(want, flows.FromObservations(obs), addrCmp); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestAddCountsSaturates(t *testing.T) {
	if got := flows.AddCounts(flows.MaxCount-1, 5); got != flows.MaxCount {
		t.Errorf("AddCounts = %d, want %d", got, uint64(flows.MaxCount))
	}
	if got := flows.AddCounts(2, 3); got != 5 {
		t.Errorf("AddCounts(2, 3) = %d", got)
	}
}
