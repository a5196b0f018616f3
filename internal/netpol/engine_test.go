package netpol

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// world is the cluster of the semantics tests:
//
//	namespace a (team=red): web 10.0.1.1 (http 8080/TCP, dns 53/UDP), db 10.0.1.2 (pg 5432/TCP)
//	namespace b (team=blue): client 10.0.2.1, web 10.0.2.2 (http 9090/TCP)
//	namespace c (no Namespace object): tool 10.0.3.1
func world() []string {
	return []string{
		nsDoc("a", map[string]string{"team": "red"}),
		nsDoc("b", map[string]string{"team": "blue"}),
		podDoc("a", "web", map[string]string{"app": "web"}, "10.0.1.1", port{"http", 8080, "TCP"}, port{"dns", 53, "UDP"}),
		podDoc("a", "db", map[string]string{"app": "db"}, "10.0.1.2", port{"pg", 5432, "TCP"}),
		podDoc("b", "client", map[string]string{"app": "client"}, "10.0.2.1"),
		podDoc("b", "web", map[string]string{"app": "web"}, "10.0.2.2", port{"http", 9090, "TCP"}),
		podDoc("c", "tool", map[string]string{"app": "tool"}, "10.0.3.1"),
	}
}

var (
	aWeb    = WorkloadEndpoint(podRef("a", "web"))
	aDB     = WorkloadEndpoint(podRef("a", "db"))
	bClient = WorkloadEndpoint(podRef("b", "client"))
	bWeb    = WorkloadEndpoint(podRef("b", "web"))
	cTool   = WorkloadEndpoint(podRef("c", "tool"))
)

type probe struct {
	from, to Endpoint
	port     int32
	proto    string
	allowed  bool
	egress   string
	ingress  string
}

func TestSemantics(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		probes   []probe
	}{
		{
			name: "no policy: everything allowed",
			probes: []probe{
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "open"},
				{from: addr("8.8.8.8/32"), to: aDB, port: 1, allowed: true, egress: "outside", ingress: "open"},
				{from: aDB, to: addr("8.8.8.0/24"), port: 443, allowed: true, egress: "open", ingress: "outside"},
			},
		},
		{
			name: "deny all ingress isolates the namespace for ingress only",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress]`},
			probes: []probe{
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/deny"},
				{from: aWeb, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/deny"},
				{from: aDB, to: bClient, port: 80, allowed: true, egress: "open", ingress: "open"},
			},
		},
		{
			name: "policyTypes default: Ingress always, Egress with egress rules",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: eg, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
    ports: [{port: 5432}]`},
			probes: []probe{
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "allow a/eg egress[0]", ingress: "open"},
				{from: aWeb, to: bClient, port: 5432, allowed: false, egress: "deny a/eg", ingress: "open"},
				{from: bClient, to: aWeb, port: 8080, allowed: false, egress: "open", ingress: "deny a/eg"},
			},
		},
		{
			name: "policyTypes Egress only: ingress rules are ignored",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: eg, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: db}}}]`},
			probes: []probe{
				{from: bClient, to: aWeb, port: 8080, allowed: true, egress: "open", ingress: "open"},
				{from: aWeb, to: aDB, port: 5432, allowed: false, egress: "deny a/eg", ingress: "open"},
			},
		},
		{
			name: "egress: [] without policyTypes isolates ingress only",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  egress: []`},
			probes: []probe{
				{from: aWeb, to: cTool, port: 80, allowed: true, egress: "open", ingress: "open"},
				{from: cTool, to: aWeb, port: 8080, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "podSelector alone selects in the policy's namespace",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]`},
			probes: []probe{
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: bWeb, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "namespaceSelector alone selects every pod of the namespaces",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]`},
			probes: []probe{
				{from: bClient, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: bWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: cTool, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "both selectors in one peer: pods of those namespaces",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchLabels: {app: web}}`},
			probes: []probe{
				{from: bWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: aWeb, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "two peers: either",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
    - podSelector: {matchLabels: {app: web}}`},
			probes: []probe{
				{from: bClient, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: cTool, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "a namespace without a Namespace object has its name label",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: c}}}]`},
			probes: []probe{
				{from: cTool, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "ipBlock with except, outside sources",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]`},
			probes: []probe{
				{from: addr("192.168.2.3/32"), to: aDB, port: 5432, allowed: true, egress: "outside", ingress: "allow a/p ingress[0]"},
				{from: addr("192.168.1.5/32"), to: aDB, port: 5432, allowed: false, egress: "outside", ingress: "deny a/p"},
				{from: addr("8.8.8.8/32"), to: aDB, port: 5432, allowed: false, egress: "outside", ingress: "deny a/p"},
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "ipBlock matches the IPs of pods",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.2.0/24}}]`},
			probes: []probe{
				{from: bClient, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 5432, allowed: false, egress: "open", ingress: "deny a/p"},
			},
		},
		{
			name: "numbered ports: protocol defaults to TCP",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{port: 5432}]`},
			probes: []probe{
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 5432, proto: UDP, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: aWeb, to: aDB, port: 5433, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: addr("8.8.8.8/32"), to: aDB, port: 5432, allowed: true, egress: "outside", ingress: "allow a/p ingress[0]"},
			},
		},
		{
			name: "endPort ranges, SCTP, a protocol without port",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{port: 8000, endPort: 8100, protocol: TCP}]
  - ports: [{port: 9000, protocol: SCTP}]
  - ports: [{protocol: UDP}]`},
			probes: []probe{
				{from: aWeb, to: aDB, port: 8000, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 8100, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: aWeb, to: aDB, port: 8101, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: aWeb, to: aDB, port: 9000, proto: SCTP, allowed: true, egress: "open", ingress: "allow a/p ingress[1]"},
				{from: aWeb, to: aDB, port: 9000, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: aWeb, to: aDB, port: 31337, proto: UDP, allowed: true, egress: "open", ingress: "allow a/p ingress[2]"},
			},
		},
		{
			name: "named ports on ingress resolve against the selected pod",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http}]`, `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: b}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: http}]`},
			probes: []probe{
				{from: bClient, to: aWeb, port: 8080, allowed: true, egress: "open", ingress: "allow a/p ingress[0]"},
				{from: bClient, to: aWeb, port: 9090, allowed: false, egress: "open", ingress: "deny a/p"},
				{from: bClient, to: bWeb, port: 9090, allowed: true, egress: "open", ingress: "allow b/p ingress[0]"},
				{from: bClient, to: bWeb, port: 8080, allowed: false, egress: "open", ingress: "deny b/p"},
			},
		},
		{
			name: "named ports on egress resolve against the destination",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: b}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}}, {ipBlock: {cidr: 0.0.0.0/0}}]
    ports: [{port: http}, {port: dns, protocol: UDP}]`},
			probes: []probe{
				{from: bClient, to: aWeb, port: 8080, allowed: true, egress: "allow b/p egress[0]", ingress: "open"},
				{from: bClient, to: bWeb, port: 9090, allowed: true, egress: "allow b/p egress[0]", ingress: "open"},
				{from: bClient, to: aWeb, port: 9090, allowed: false, egress: "deny b/p", ingress: "open"},
				{from: bClient, to: aWeb, port: 53, proto: UDP, allowed: true, egress: "allow b/p egress[0]", ingress: "open"},
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "deny b/p", ingress: "open"},
				{from: bClient, to: addr("8.8.8.8/32"), port: 8080, allowed: false, egress: "deny b/p", ingress: "outside"},
			},
		},
		{
			name: "an empty rule allows everything, including outside",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  ingress: [{}]
  egress: [{}]`},
			probes: []probe{
				{from: addr("8.8.8.8/32"), to: aDB, port: 1, allowed: true, egress: "outside", ingress: "allow a/p ingress[0]"},
				{from: aDB, to: addr("8.8.8.8/32"), port: 1, proto: SCTP, allowed: true, egress: "allow a/p egress[0]", ingress: "outside"},
			},
		},
		{
			name: "both sides must allow",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: out, namespace: b}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: red}}}]`, `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: in, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]`},
			probes: []probe{
				{from: bClient, to: aDB, port: 5432, allowed: false, egress: "allow b/out egress[0]", ingress: "deny a/in"},
				{from: bClient, to: aWeb, port: 8080, allowed: true, egress: "allow b/out egress[0]", ingress: "open"},
				{from: bClient, to: cTool, port: 80, allowed: false, egress: "deny b/out", ingress: "open"},
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/in ingress[0]"},
			},
		},
		{
			name: "policies add up",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: from-web, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 5432}]`, `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: from-blue, namespace: a}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: blue}}}]`},
			probes: []probe{
				{from: aWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/from-web ingress[0]"},
				{from: bWeb, to: aDB, port: 5432, allowed: true, egress: "open", ingress: "allow a/from-blue ingress[0]"},
				{from: aWeb, to: aDB, port: 22, allowed: false, egress: "open", ingress: "deny a/from-blue, a/from-web"},
			},
		},
		{
			name: "egress to DNS and the API server is ordinary traffic",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: deny-egress, namespace: a}
spec:
  podSelector: {}
  policyTypes: [Egress]`},
			probes: []probe{
				{from: aWeb, to: cTool, port: 53, proto: UDP, allowed: false, egress: "deny a/deny-egress", ingress: "open"},
				{from: aWeb, to: addr("10.96.0.1/32"), port: 443, allowed: false, egress: "deny a/deny-egress", ingress: "outside"},
			},
		},
		{
			name: "egress to outside with except",
			policies: []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: 443}]`},
			probes: []probe{
				{from: aWeb, to: addr("1.1.1.1/32"), port: 443, allowed: true, egress: "allow a/p egress[0]", ingress: "outside"},
				{from: aWeb, to: addr("10.9.9.9/32"), port: 443, allowed: false, egress: "deny a/p", ingress: "outside"},
				{from: aWeb, to: aDB, port: 443, allowed: false, egress: "deny a/p", ingress: "open"},
				{from: aWeb, to: addr("2001:db8::1/128"), port: 443, allowed: false, egress: "deny a/p", ingress: "outside"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, loadYAML(t, append(world(), tc.policies...)...))
			if p := e.Problems(); len(p) > 0 {
				t.Fatalf("unexpected problems: %v", p)
			}
			for _, pr := range tc.probes {
				v, err := e.Query(Connection{From: pr.from, To: pr.to, Port: pr.port, Protocol: pr.proto})
				if err != nil {
					t.Fatalf("%s → %s: %v", pr.from, pr.to, err)
				}
				got := probe{from: pr.from, to: pr.to, port: pr.port, proto: pr.proto, allowed: v.Allowed, egress: summary(v.Egress), ingress: summary(v.Ingress)}
				if diff := cmp.Diff(pr, got, cmp.AllowUnexported(probe{}, Endpoint{})); diff != "" {
					t.Errorf("%s → %s:%d/%s (-want +got):\n%s", pr.from, pr.to, pr.port, pr.proto, diff)
				}
			}
		})
	}
}

func TestQueryCIDRParts(t *testing.T) {
	e := newEngine(t, loadYAML(t, append(world(), `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: p, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]`)...))
	for _, tc := range []struct {
		to               string
		allowed, partial bool
		parts            int
	}{
		{"10.0.0.0/8", false, true, 2},
		{"10.2.0.0/16", true, false, 0},
		{"10.1.0.0/16", false, false, 0},
		{"10.1.2.0/24", false, false, 0},
		{"0.0.0.0/0", false, true, 3},
	} {
		v, err := e.Query(Connection{From: aWeb, To: addr(tc.to), Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		if v.Allowed != tc.allowed || v.Partial != tc.partial || len(v.Parts) != tc.parts {
			t.Errorf("web → %s: allowed %v partial %v parts %d, want %v %v %d (%+v)", tc.to, v.Allowed, v.Partial, len(v.Parts), tc.allowed, tc.partial, tc.parts, v.Parts)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	e := newEngine(t, loadYAML(t, world()...))
	for _, tc := range []struct {
		c    Connection
		want error
	}{
		{Connection{From: addr("1.1.1.1/32"), To: addr("2.2.2.2/32"), Port: 80}, ErrNoWorkload},
		{Connection{From: WorkloadEndpoint(podRef("a", "nope")), To: aDB, Port: 80}, ErrUnknownWorkload},
	} {
		if _, err := e.Query(tc.c); !errors.Is(err, tc.want) {
			t.Errorf("Query(%v → %v) = %v, want %v", tc.c.From, tc.c.To, err, tc.want)
		}
	}
	for _, c := range []Connection{
		{From: aWeb, To: aDB, Port: 0},
		{From: aWeb, To: aDB, Port: 70000},
		{From: aWeb, To: aDB, Port: 80, Protocol: "ICMP"},
	} {
		if _, err := e.Query(c); err == nil {
			t.Errorf("Query(%+v) succeeded", c)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	snap := loadYAML(t, append(world(), `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec:
  selector: {matchLabels: {app: web2}}
  template:
    metadata: {labels: {app: web2}}
    spec: {containers: [{name: c, image: x}]}`)...)
	e := newEngine(t, snap)
	for _, tc := range []struct {
		in      string
		want    string
		wantErr error
	}{
		{"a/db", "a/Pod/db", nil},
		{"a/pod/web", "a/Pod/web", nil},
		{"a/Deployment/web", "a/Deployment/web", nil},
		{"a/web", "", ErrAmbiguous},
		{"a/missing", "", ErrUnknownWorkload},
		{"10.0.1.2", "a/Pod/db", nil},
		{"10.9.9.9", "10.9.9.9/32", nil},
		{"10.0.0.0/8", "10.0.0.0/8", nil},
		{"10.0.0.1/8", "10.0.0.0/8", nil},
	} {
		got, err := e.ParseEndpoint(tc.in)
		if !errors.Is(err, tc.wantErr) || err == nil && got.String() != tc.want {
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if p, err := e.NamedPort(aWeb, "http", ""); err != nil || p != 8080 {
		t.Errorf("NamedPort(a/web, http) = %d, %v", p, err)
	}
	if _, err := e.NamedPort(aWeb, "http", UDP); err == nil {
		t.Errorf("NamedPort(a/web, http/UDP) succeeded")
	}
}

func TestProblems(t *testing.T) {
	policies := []string{`
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: bad-peers, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: app, operator: in, values: [web]}]}
    - ipBlock: {cidr: 10.0.0.0/33}
    - ipBlock: {cidr: 10.0.0.0/8, except: [nonsense]}
    - {}
    - ipBlock: {cidr: 10.0.2.0/24}
      podSelector: {}
    - namespaceSelector: {matchLabels: {team: blue}}
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}
    ports:
    - {port: 0}
    - {port: 70000}
    - {port: 80, endPort: 70}
    - {port: http, endPort: 90}
    - {protocol: ICMP}
    - {protocol: tcp, port: 5432}`, `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: bad-selector, namespace: b}
spec:
  podSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}
  policyTypes: [Ingress]
  ingress: [{}]`, `
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata: {name: bad-types, namespace: c}
spec:
  podSelector: {}
  policyTypes: [ingress]`}
	e := newEngine(t, loadYAML(t, append(world(), policies...)...))

	bp := PolicyRef{Namespace: "a", Name: "bad-peers"}
	want := []Problem{
		{bp, "spec.ingress[0].from[0].podSelector", `matchExpressions[0]: unknown operator "in": In, NotIn, Exists or DoesNotExist`, effectPeer},
		{bp, "spec.ingress[0].from[1].ipBlock.cidr", `invalid CIDR "10.0.0.0/33"`, effectPeer},
		{bp, "spec.ingress[0].from[2].ipBlock.except[0]", `invalid CIDR "nonsense"`, effectPeer},
		{bp, "spec.ingress[0].from[3]", "peer sets none of podSelector, namespaceSelector and ipBlock", effectPeer},
		{bp, "spec.ingress[0].from[4]", "ipBlock cannot be combined with podSelector or namespaceSelector", effectPeer},
		{bp, "spec.ingress[1].from[0].ipBlock.except[0]", "except 11.0.0.0/8 is not strictly inside cidr 10.0.0.0/8", effectAsIs},
		{bp, "spec.ingress[1].ports[0].port", "port 0 is not between 1 and 65535", effectPort},
		{bp, "spec.ingress[1].ports[1].port", "port 70000 is not between 1 and 65535", effectPort},
		{bp, "spec.ingress[1].ports[2].endPort", "endPort 70 is not between port 80 and 65535", effectPort},
		{bp, "spec.ingress[1].ports[3].endPort", "endPort cannot be used with a named port", effectPort},
		{bp, "spec.ingress[1].ports[4].protocol", `unknown protocol "ICMP": TCP, UDP or SCTP`, effectPort},
		{bp, "spec.ingress[1].ports[5].protocol", `protocol "tcp" must be upper case`, "read as TCP"},
		{PolicyRef{"b", "bad-selector"}, "spec.podSelector", "matchExpressions[0]: operator Exists takes no values", effectSelector},
		{PolicyRef{"c", "bad-types"}, "spec.policyTypes[0]", `unknown policy type "ingress": Ingress or Egress`, effectNoTypes},
	}
	if diff := cmp.Diff(want, e.Problems(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	for _, pr := range []probe{
		// The bad peers match nothing; the good peer still works.
		{from: aWeb, to: aDB, port: 80, allowed: false, egress: "open", ingress: "deny a/bad-peers"},
		{from: bClient, to: aDB, port: 80, allowed: true, egress: "open", ingress: "allow a/bad-peers ingress[0]"},
		// Rule 1: only the upper-cased tcp/5432 entry is left.
		{from: addr("10.200.0.1/32"), to: aDB, port: 5432, allowed: true, egress: "outside", ingress: "allow a/bad-peers ingress[1]"},
		{from: addr("10.200.0.1/32"), to: aDB, port: 80, allowed: false, egress: "outside", ingress: "deny a/bad-peers"},
		// An unreadable pod selector: the whole namespace is isolated,
		// and the policy's own rules allow nothing.
		{from: aWeb, to: bClient, port: 80, allowed: false, egress: "open", ingress: "deny b/bad-selector"},
		// No valid policy type: both directions isolated.
		{from: cTool, to: aWeb, port: 8080, allowed: false, egress: "deny c/bad-types", ingress: "open"},
	} {
		v, err := e.Query(Connection{From: pr.from, To: pr.to, Port: pr.port})
		if err != nil {
			t.Fatal(err)
		}
		got := probe{from: pr.from, to: pr.to, port: pr.port, allowed: v.Allowed, egress: summary(v.Egress), ingress: summary(v.Ingress)}
		if diff := cmp.Diff(pr, got, cmp.AllowUnexported(probe{}, Endpoint{})); diff != "" {
			t.Errorf("%s → %s:%d (-want +got):\n%s", pr.from, pr.to, pr.port, diff)
		}
		if pr.ingress != "open" && pr.ingress != "outside" && len(v.Problems) == 0 {
			t.Errorf("%s → %s: verdict carries no problems", pr.from, pr.to)
		}
	}
}
