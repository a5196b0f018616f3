package netpaths

import "github.com/palisade-project/palisade/internal/netpol"

// Subtract returns the ports of a that are not in b: the unused rest of
// what a path allows once the used ports are taken out.
func Subtract(a, b netpol.PortSet) netpol.PortSet {
	if b.Empty() || a.Empty() {
		return a
	}
	br := b.Ranges()
	var out []netpol.PortRange
	for _, r := range a.Ranges() {
		lo := r.From
		for _, x := range br {
			if x.Protocol != r.Protocol || x.To < lo || x.From > r.To {
				continue
			}
			if x.From > lo {
				out = append(out, netpol.PortRange{Protocol: r.Protocol, From: lo, To: x.From - 1})
			}
			lo = x.To + 1
			if lo > r.To {
				break
			}
		}
		if lo <= r.To {
			out = append(out, netpol.PortRange{Protocol: r.Protocol, From: lo, To: r.To})
		}
	}
	return netpol.Ports(out...)
}
