package netpol

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Protocols NetworkPolicy ports name. A port entry without a protocol
// means TCP.
const (
	TCP  = "TCP"
	UDP  = "UDP"
	SCTP = "SCTP"
)

// protocols lists the protocols in the order port sets are kept.
var protocols = [...]string{TCP, UDP, SCTP}

// MaxPort is the largest port number.
const MaxPort = 65535

func protoRank(p string) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return len(protocols)
}

// NormalizeProtocol returns the protocol in upper case, TCP for "", and
// false for a protocol NetworkPolicy does not know.
func NormalizeProtocol(p string) (string, bool) {
	if p == "" {
		return TCP, true
	}
	p = strings.ToUpper(p)
	return p, protoRank(p) < len(protocols)
}

// PortRange is the ports From to To (inclusive) of one protocol.
type PortRange struct {
	Protocol string `json:"protocol"`
	From     int32  `json:"from"`
	To       int32  `json:"to"`
}

func (r PortRange) String() string {
	switch {
	case r.From == 1 && r.To == MaxPort:
		return r.Protocol + "/*"
	case r.From == r.To:
		return r.Protocol + "/" + strconv.Itoa(int(r.From))
	}
	return fmt.Sprintf("%s/%d-%d", r.Protocol, r.From, r.To)
}

// PortSet is an immutable set of ports of TCP, UDP and SCTP: what a path
// allows. The zero value is empty.
type PortSet struct {
	// r is sorted by protocol (TCP, UDP, SCTP) then From, with no two
	// ranges of a protocol overlapping or touching.
	r []PortRange
}

// AllPorts is every port of every protocol: a path that no policy narrows.
func AllPorts() PortSet {
	out := PortSet{r: make([]PortRange, len(protocols))}
	for i, p := range protocols {
		out.r[i] = PortRange{Protocol: p, From: 1, To: MaxPort}
	}
	return out
}

// Ports returns the set of the given ranges; ranges of unknown protocols
// and ports outside 1-65535 are dropped.
func Ports(ranges ...PortRange) PortSet {
	var r []PortRange
	for _, x := range ranges {
		p, ok := NormalizeProtocol(x.Protocol)
		x.Protocol = p
		x.From, x.To = max(x.From, 1), min(x.To, MaxPort)
		if ok && x.From <= x.To {
			r = append(r, x)
		}
	}
	return normalize(r)
}

// Port returns the set of one port.
func Port(protocol string, port int32) PortSet {
	return Ports(PortRange{Protocol: protocol, From: port, To: port})
}

func normalize(r []PortRange) PortSet {
	slices.SortFunc(r, func(a, b PortRange) int {
		if c := protoRank(a.Protocol) - protoRank(b.Protocol); c != 0 {
			return c
		}
		return int(a.From) - int(b.From)
	})
	out := r[:0]
	for _, x := range r {
		if n := len(out); n > 0 && out[n-1].Protocol == x.Protocol && x.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, x.To)
			continue
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return PortSet{}
	}
	return PortSet{r: out}
}

// Empty reports whether the set has no port.
func (s PortSet) Empty() bool { return len(s.r) == 0 }

// All reports whether the set has every port of every protocol.
func (s PortSet) All() bool {
	if len(s.r) != len(protocols) {
		return false
	}
	for i, x := range s.r {
		if x.Protocol != protocols[i] || x.From != 1 || x.To != MaxPort {
			return false
		}
	}
	return true
}

// Contains reports whether the set has port of protocol.
func (s PortSet) Contains(protocol string, port int32) bool {
	protocol, _ = NormalizeProtocol(protocol)
	for _, x := range s.r {
		if x.Protocol == protocol && x.From <= port && port <= x.To {
			return true
		}
	}
	return false
}

// Ranges returns the ranges of the set, sorted by protocol and port.
func (s PortSet) Ranges() []PortRange { return slices.Clone(s.r) }

// Union returns the ports in s or o.
func (s PortSet) Union(o PortSet) PortSet {
	if s.Empty() {
		return o
	}
	if o.Empty() {
		return s
	}
	return normalize(append(slices.Clone(s.r), o.r...))
}

// Intersect returns the ports in both s and o.
func (s PortSet) Intersect(o PortSet) PortSet {
	var out []PortRange
	i, j := 0, 0
	for i < len(s.r) && j < len(o.r) {
		a, b := s.r[i], o.r[j]
		if c := protoRank(a.Protocol) - protoRank(b.Protocol); c != 0 {
			if c < 0 {
				i++
			} else {
				j++
			}
			continue
		}
		if lo, hi := max(a.From, b.From), min(a.To, b.To); lo <= hi {
			out = append(out, PortRange{Protocol: a.Protocol, From: lo, To: hi})
		}
		if a.To < b.To {
			i++
		} else {
			j++
		}
	}
	if len(out) == 0 {
		return PortSet{}
	}
	return PortSet{r: out}
}

// Equal reports whether s and o hold the same ports.
func (s PortSet) Equal(o PortSet) bool { return slices.Equal(s.r, o.r) }

// String returns "all", "none" or the ranges, such as "TCP/80, TCP/8000-8080,
// UDP/*" (* is every port of the protocol).
func (s PortSet) String() string {
	if s.Empty() {
		return "none"
	}
	if s.All() {
		return "all"
	}
	parts := make([]string, len(s.r))
	for i, x := range s.r {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalJSON encodes the set as its list of ranges ([] when empty).
func (s PortSet) MarshalJSON() ([]byte, error) {
	if s.r == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s.r)
}

// UnmarshalJSON decodes a list of ranges.
func (s *PortSet) UnmarshalJSON(b []byte) error {
	var r []PortRange
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	*s = Ports(r...)
	return nil
}

// ParsePort parses "80", "80/udp" or "http/TCP" (a named port) as the
// command line gives a destination port. The protocol defaults to TCP.
// A name is returned in name with port 0.
func ParsePort(s string) (port int32, name, protocol string, err error) {
	p, proto, _ := strings.Cut(s, "/")
	protocol, ok := NormalizeProtocol(proto)
	if !ok {
		return 0, "", "", fmt.Errorf("port %q: protocol %q is not TCP, UDP or SCTP", s, proto)
	}
	if p == "" {
		return 0, "", "", fmt.Errorf("port %q: no port number or name", s)
	}
	if n, err := strconv.Atoi(p); err == nil {
		if n < 1 || n > MaxPort {
			return 0, "", "", fmt.Errorf("port %q: %d is not between 1 and %d", s, n, MaxPort)
		}
		return int32(n), "", protocol, nil
	}
	return 0, p, protocol, nil
}
