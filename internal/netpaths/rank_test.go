package netpaths

import (
	"testing"

	"github.com/palisade-project/palisade/internal/netpol"
)

func ports(rs ...netpol.PortRange) netpol.PortSet { return netpol.Ports(rs...) }

func tcp(from, to int32) netpol.PortRange {
	return netpol.PortRange{Protocol: netpol.TCP, From: from, To: to}
}
func udp(from, to int32) netpol.PortRange {
	return netpol.PortRange{Protocol: netpol.UDP, From: from, To: to}
}

func TestSubtract(t *testing.T) {
	tests := []struct {
		name string
		a, b netpol.PortSet
		want string
	}{
		{"nothing used", netpol.AllPorts(), netpol.PortSet{}, "all"},
		{"one port of all", netpol.AllPorts(), netpol.Port("TCP", 443), "TCP/1-442, TCP/444-65535, UDP/*, SCTP/*"},
		{"all used", netpol.Port("TCP", 80), netpol.Port("TCP", 80), "none"},
		{"more used than allowed", netpol.Port("TCP", 80), ports(tcp(1, 1000)), "none"},
		{"other protocol", netpol.Port("TCP", 53), netpol.Port("UDP", 53), "TCP/53"},
		{"range edges", ports(tcp(8000, 8010)), ports(tcp(8000, 8000), tcp(8010, 8010)), "TCP/8001-8009"},
		{"holes", ports(tcp(1, 100), udp(1, 10)), ports(tcp(10, 20), tcp(30, 40), udp(5, 5)), "TCP/1-9, TCP/21-29, TCP/41-100, UDP/1-4, UDP/6-10"},
		{"top port", ports(tcp(65000, 65535)), netpol.Port("TCP", 65535), "TCP/65000-65534"},
		{"empty a", netpol.PortSet{}, netpol.Port("TCP", 1), "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Subtract(tt.a, tt.b)
			if got.String() != tt.want {
				t.Errorf("Subtract(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
			}
			if !got.Intersect(tt.b).Empty() || !got.Union(tt.a.Intersect(tt.b)).Equal(tt.a) {
				t.Errorf("Subtract(%s, %s) = %s is not a minus b", tt.a, tt.b, got)
			}
		})
	}
}

func TestInternet(t *testing.T) {
	tests := []struct {
		region netpol.Outside
		want   bool
	}{
		{netpol.Outside{}, true},
		{netpol.Outside{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}, true},
		{netpol.Outside{CIDR: "8.8.8.0/24"}, true},
		{netpol.Outside{CIDR: "10.0.0.0/8"}, false},
		{netpol.Outside{CIDR: "10.1.2.3/32"}, false},
		{netpol.Outside{CIDR: "172.16.0.0/12"}, false},
		{netpol.Outside{CIDR: "172.0.0.0/8"}, true},
		{netpol.Outside{CIDR: "192.168.1.0/24"}, false},
		{netpol.Outside{CIDR: "fd00::/8"}, false},
		{netpol.Outside{CIDR: "2001:db8::/32"}, true},
		{netpol.Outside{CIDR: "::/0"}, true},
	}
	for _, tt := range tests {
		if got := internet(&tt.region); got != tt.want {
			t.Errorf("internet(%s) = %v, want %v", tt.region, got, tt.want)
		}
	}
}

// The ranking the issue asks for: internet first, then other namespaces,
// then sensitive ports, each named.
func TestScoreOrder(t *testing.T) {
	w := DefaultWeights
	tests := []struct {
		name string
		in   scoreInput
		want float64
	}{
		{"internet, every port", scoreInput{kind: peerInternet, ports: netpol.AllPorts(), count: 1}, 30},
		{"internet, one port", scoreInput{kind: peerInternet, ports: netpol.Port("TCP", 443), count: 1}, 10},
		{"api server on 443", scoreInput{kind: peerOutside, apiServer: true, ports: netpol.Port("TCP", 443), count: 1}, 9},
		{"other namespace, postgres", scoreInput{kind: peerOtherNamespace, ports: netpol.Port("TCP", 5432), count: 1}, 6},
		{"outside private, one port", scoreInput{kind: peerOutside, ports: netpol.Port("TCP", 80), count: 1}, 3},
		{"other namespace, one port", scoreInput{kind: peerOtherNamespace, ports: netpol.Port("TCP", 8080), count: 1}, 3},
		{"api server, other port", scoreInput{kind: peerOutside, apiServer: true, ports: netpol.Port("TCP", 80), count: 1}, 3},
		{"same namespace, ssh", scoreInput{kind: peerSameNamespace, ports: netpol.Port("TCP", 22), count: 1}, 2},
		{"same namespace, 10 peers", scoreInput{kind: peerSameNamespace, ports: netpol.Port("TCP", 8080), count: 10}, 2},
		{"same namespace, one port", scoreInput{kind: peerSameNamespace, ports: netpol.Port("TCP", 8080), count: 1}, 1},
	}
	last := 1e9
	for _, tt := range tests {
		got := w.score(tt.in)
		if got != tt.want {
			t.Errorf("%s: score %v, want %v", tt.name, got, tt.want)
		}
		if got > last {
			t.Errorf("%s: score %v ranks above the case before (%v)", tt.name, got, last)
		}
		last = got
		fs := w.factors(tt.in, Peer{Namespace: "other", Count: tt.in.count, Of: 10}, "mine")
		product := 1.0
		for _, f := range fs {
			product *= f.Value
			if f.Detail == "" {
				t.Errorf("%s: factor %s has no detail", tt.name, f.Name)
			}
		}
		if round2(product) != got {
			t.Errorf("%s: factors %v multiply to %v, score %v", tt.name, fs, product, got)
		}
	}
}
