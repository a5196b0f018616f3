package netpolgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
)

// hostNetIndex is a cluster with workloads in the host network:
//
//	monitoring: prometheus (app=prometheus, 9090);
//	            node-exporter, a DaemonSet in the host network on nodes
//	            10.0.0.11 and 10.0.0.12 (app=node-exporter, 9100);
//	            agent, a DaemonSet in the host network with no running pod
//	            (app=agent);
//	            exporter-twin, a Deployment with node-exporter's labels
//	shop: web (app=web, 8080)
func hostNetIndex(t *testing.T) *inventory.Index {
	t.Helper()
	ds := func(name string, labels map[string]string, port int) string {
		return strings.Replace(strings.Replace(deployDoc("monitoring", name, labels, port), "kind: Deployment", "kind: DaemonSet", 1),
			"    spec:\n", "    spec:\n      hostNetwork: true\n", 1)
	}
	pod := func(owner, name, ip, phase string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: monitoring
  labels: {app: %s}
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: %s, controller: true}]
spec:
  hostNetwork: true
  containers: [{name: main, image: "registry.example/%s:1"}]
status: {phase: %s, hostIP: %s, podIP: %s}
`, name, owner, owner, owner, phase, ip, ip)
	}
	return loadYAML(t,
		deployDoc("monitoring", "prometheus", map[string]string{"app": "prometheus"}, 9090),
		ds("node-exporter", map[string]string{"app": "node-exporter"}, 9100),
		pod("node-exporter", "node-exporter-a", "10.0.0.11", "Running"),
		pod("node-exporter", "node-exporter-b", "10.0.0.12", "Running"),
		ds("agent", map[string]string{"app": "agent"}, 8125),
		pod("agent", "agent-a", "10.0.0.11", "Succeeded"),
		deployDoc("monitoring", "exporter-twin", map[string]string{"app": "node-exporter", "tier": "metrics"}, 9100),
		deployDoc("shop", "web", map[string]string{"app": "web"}, 8080),
	)
}

func daemonSet(ns, name string) *model.WorkloadRef {
	return &model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDaemonSet, Namespace: ns, Name: name}
}

// dsRec is a record "FROM TO PORT/PROTO" (see rec) whose ends may be
// DaemonSets: "ds:NS/NAME".
func dsRec(s string) flows.Record {
	r := rec(strings.ReplaceAll(s, "ds:", ""))
	for i, f := range strings.Fields(s)[:2] {
		if ns, name, ok := strings.Cut(strings.TrimPrefix(f, "ds:"), "/"); ok && strings.HasPrefix(f, "ds:") {
			ep := flows.Endpoint{Workload: daemonSet(ns, name)}
			if i == 0 {
				r.From = ep
			} else {
				r.To = ep
			}
		}
	}
	return r
}

// TestGenerateHostNetwork: a peer in the host network is its nodes'
// addresses, as ipBlocks; a workload in the host network gets no policy.
func TestGenerateHostNetwork(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		flows    []string
		workload string // the suggestion to look at
		rules    []string
		warnings []string
		hostNet  []model.WorkloadRef
	}{
		{
			name:     "ingress from a host-network peer",
			opts:     Options{Namespace: "shop"},
			flows:    []string{"ds:monitoring/node-exporter shop/web 8080/TCP"},
			workload: "Deployment/shop/web",
			rules:    []string{"ingress from [10.0.0.11/32] on [TCP/8080]", "ingress from [10.0.0.12/32] on [TCP/8080]"},
			warnings: []string{
				"DaemonSet/monitoring/node-exporter runs in the host network: its traffic comes from its nodes' addresses, so the rule for it is an ipBlock of each (10.0.0.11/32, 10.0.0.12/32), which lets in anything else on those nodes too",
			},
		},
		{
			name:     "egress to a host-network peer",
			opts:     Options{Workload: deploy("monitoring", "prometheus")},
			flows:    []string{"monitoring/prometheus ds:monitoring/node-exporter 9100/TCP", "monitoring/prometheus 10.0.0.11 9100/TCP"},
			workload: "Deployment/monitoring/prometheus",
			rules:    []string{"egress to [10.0.0.11/32] on [TCP/9100]", "egress to [10.0.0.12/32] on [TCP/9100]"},
			warnings: []string{
				"egress observed but no DNS (port 53): the policy blocks name resolution; if the workload resolves names, the DNS flows were not captured: add an egress rule to kube-dns (port 53, UDP and TCP)",
				"DaemonSet/monitoring/node-exporter runs in the host network: traffic to it goes to its nodes' addresses, so the rule for it is an ipBlock of each (10.0.0.11/32, 10.0.0.12/32), which lets out to anything else on those nodes too",
			},
		},
		{
			name:     "grouped with the other outside addresses",
			opts:     Options{Namespace: "shop", MaxAddresses: 2},
			flows:    []string{"ds:monitoring/node-exporter shop/web 8080/TCP", "10.0.0.40 shop/web 8080/TCP"},
			workload: "Deployment/shop/web",
			rules:    []string{"ingress from [10.0.0.0/26] on [TCP/8080]"},
			warnings: []string{
				"DaemonSet/monitoring/node-exporter runs in the host network: its traffic comes from its nodes' addresses, so the rule for it is an ipBlock of each (10.0.0.11/32, 10.0.0.12/32), grouped with the other outside addresses, which lets in anything else on those nodes too",
				"3 outside addresses connect in: grouped into 10.0.0.0/26 (more than 2); narrow the block if the addresses have a known range",
			},
		},
		{
			name:     "a host-network peer whose node is unknown",
			opts:     Options{Namespace: "shop"},
			flows:    []string{"ds:monitoring/agent shop/web 8080/TCP", "shop/web ds:monitoring/agent 8125/UDP"},
			workload: "Deployment/shop/web",
			warnings: []string{
				"egress observed but no DNS (port 53): the policy blocks name resolution; if the workload resolves names, the DNS flows were not captured: add an egress rule to kube-dns (port 53, UDP and TCP)",
				"DaemonSet/monitoring/agent runs in the host network and no running pod of it reports its node's address: no rule allows traffic from it (NetworkPolicy sees its nodes' addresses, which only ipBlocks match); add an ipBlock of its nodes' addresses",
				"DaemonSet/monitoring/agent runs in the host network and no running pod of it reports its node's address: no rule allows traffic to it (NetworkPolicy sees its nodes' addresses, which only ipBlocks match); add an ipBlock of its nodes' addresses",
			},
		},
		{
			// No selector matches a host-network pod: exporter-twin's
			// selector need not tell it apart from node-exporter.
			name:     "no policy for the host network",
			opts:     Options{Namespace: "monitoring"},
			flows:    []string{"monitoring/prometheus ds:monitoring/node-exporter 9100/TCP"},
			workload: "Deployment/monitoring/exporter-twin",
			warnings: []string{"no traffic observed in the window: the policy denies all ingress and egress"},
			hostNet:  []model.WorkloadRef{*daemonSet("monitoring", "agent"), *daemonSet("monitoring", "node-exporter")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := hostNetIndex(t)
			used := set()
			for _, r := range tt.flows {
				used.Records = append(used.Records, dsRec(r))
			}
			res, err := Generate(t.Context(), ix, used, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.hostNet, res.HostNetwork); diff != "" {
				t.Errorf("hostNetwork (-want +got):\n%s", diff)
			}
			var s *Suggestion
			for i := range res.Suggestions {
				if res.Suggestions[i].Workload.String() == tt.workload {
					s = &res.Suggestions[i]
				}
				for _, sel := range res.Suggestions[i].Selects {
					if w := ix.Workload(sel); w.Template.HostNetwork {
						t.Errorf("the policy for %s selects %s, of the host network", res.Suggestions[i].Workload, sel)
					}
				}
			}
			if s == nil {
				t.Fatalf("no suggestion for %s", tt.workload)
			}
			if diff := cmp.Diff(tt.rules, ipBlockRules(s.Policy)); diff != "" {
				t.Errorf("ipBlock rules (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, s.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if len(tt.hostNet) > 0 && !strings.Contains(strings.Join(res.Notes, "\n"), "no policy for DaemonSet/monitoring/agent, DaemonSet/monitoring/node-exporter: NetworkPolicy does not apply to pods in the host network") {
				t.Errorf("notes %q", res.Notes)
			}
			if tt.name == "no policy for the host network" && (!s.Exact || selectorString(s.Policy.Spec.PodSelector.MatchLabels) != "app=node-exporter") {
				t.Errorf("exporter-twin: exact %v, selector %v", s.Exact, s.Policy.Spec.PodSelector.MatchLabels)
			}

			// Replacing every policy, the suggestions allow every flow
			// whose host-network end has a known address.
			rep, err := Simulate(t.Context(), ix, res.Policies(), used, SimOptions{Mode: ModeReplace})
			if err != nil {
				t.Fatal(err)
			}
			for _, fr := range append(rep.Broken, rep.Denied...) {
				if !strings.Contains(describe(fr.Record), "agent") {
					t.Errorf("denied under the suggestions: %s", describe(fr.Record))
				}
			}
		})
	}
}

// A workload in the host network named as the scope: nothing to suggest,
// and the YAML says why.
func TestGenerateHostNetworkOnly(t *testing.T) {
	ix := hostNetIndex(t)
	res, err := Generate(t.Context(), ix, set(), Options{Workload: daemonSet("monitoring", "node-exporter")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Suggestions) != 0 || len(res.HostNetwork) != 1 {
		t.Fatalf("%d suggestions, host network %v", len(res.Suggestions), res.HostNetwork)
	}
	var b bytes.Buffer
	if err := res.WriteYAML(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# note: no policy for DaemonSet/monitoring/node-exporter: NetworkPolicy does not apply to pods in the host network",
		"# no workload in scope that a NetworkPolicy can select: nothing to suggest",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, b.String())
		}
	}
}

// ipBlockRules lists a policy's rules with ipBlocks as
// "DIRECTION from|to [CIDRS] on [PORTS]".
func ipBlockRules(np *networkingv1.NetworkPolicy) []string {
	var out []string
	line := func(dir string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) {
		var cidrs, ps []string
		for _, p := range peers {
			if p.IPBlock != nil {
				cidrs = append(cidrs, p.IPBlock.CIDR)
			}
		}
		if len(cidrs) == 0 {
			return
		}
		for _, p := range ports {
			ps = append(ps, fmt.Sprintf("%s/%s", *p.Protocol, p.Port))
		}
		out = append(out, fmt.Sprintf("%s [%s] on [%s]", dir, strings.Join(cidrs, " "), strings.Join(ps, " ")))
	}
	for _, r := range np.Spec.Ingress {
		line("ingress from", r.From, r.Ports)
	}
	for _, r := range np.Spec.Egress {
		line("egress to", r.To, r.Ports)
	}
	return out
}
