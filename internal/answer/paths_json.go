package answer

import (
	"fmt"
	"math"
	"strconv"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpaths"
	"github.com/palisade-project/palisade/internal/netpol"
)

// The unused-paths items and unprotected workloads, written as json.Marshal
// writes them (see json.go): at 10,000 workloads the answer is about 40 MB
// of JSON, which json.Marshal took about four times as long to write.
// TestAppendJSONPathsMatchesMarshal holds them to json.Marshal.

func appendPathsItem(dst []byte, it *netpaths.Item) ([]byte, error) {
	dst = append(dst, `{"workload":`...)
	dst = appendRef(dst, it.Workload)
	dst = append(dst, `,"ingressPolicies":`...)
	dst = appendPolicyRefs(dst, it.IngressPolicies)
	dst = append(dst, `,"egressPolicies":`...)
	dst = appendPolicyRefs(dst, it.EgressPolicies)
	dst = append(dst, `,"score":`...)
	dst, err := appendFloat(dst, it.Score)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `,"paths":`...)
	if it.Paths == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range it.Paths {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendPath(dst, &it.Paths[i]); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	}
	dst = appendOptInt(dst, `,"morePaths":`, it.MorePaths)
	dst = append(dst, `,"allowedPaths":`...)
	dst = strconv.AppendInt(dst, int64(it.AllowedPaths), 10)
	dst = append(dst, `,"usedPaths":`...)
	dst = strconv.AppendInt(dst, int64(it.UsedPaths), 10)
	dst = append(dst, `,"unusedPaths":`...)
	dst = strconv.AppendInt(dst, int64(it.UnusedPaths), 10)
	dst = append(dst, `,"deniedFlows":`...)
	dst = strconv.AppendInt(dst, int64(it.DeniedFlows), 10)
	return append(dst, '}'), nil
}

func appendPath(dst []byte, p *netpaths.Path) ([]byte, error) {
	dst = append(dst, `{"direction":`...)
	dst = appendString(dst, p.Direction)
	dst = append(dst, `,"peer":`...)
	dst = appendPeer(dst, &p.Peer)
	dst = append(dst, `,"state":`...)
	dst = appendString(dst, p.State)
	dst = append(dst, `,"allowed":`...)
	dst = appendPortSet(dst, p.Allowed)
	// Used and Unused are tagged omitzero: a PortSet is zero when it has
	// no ranges at all (nil), which Ranges returns as nil.
	if r := p.Used.Ranges(); r != nil {
		dst = append(dst, `,"used":`...)
		dst = appendPortRanges(dst, r)
	}
	if r := p.Unused.Ranges(); r != nil {
		dst = append(dst, `,"unused":`...)
		dst = appendPortRanges(dst, r)
	}
	dst = append(dst, `,"score":`...)
	dst, err := appendFloat(dst, p.Score)
	if err != nil {
		return dst, err
	}
	dst = append(dst, `,"factors":`...)
	if p.Factors == nil {
		return append(dst, "null}"...), nil
	}
	dst = append(dst, '[')
	for i := range p.Factors {
		f := &p.Factors[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, f.Name)
		dst = append(dst, `,"value":`...)
		if dst, err = appendFloat(dst, f.Value); err != nil {
			return dst, err
		}
		dst = append(dst, `,"detail":`...)
		dst = appendString(dst, f.Detail)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...), nil
}

func appendPeer(dst []byte, p *netpaths.Peer) []byte {
	dst = append(dst, '{')
	if p.Namespace != "" {
		dst = append(dst, `"namespace":`...)
		dst = appendString(dst, p.Namespace)
		dst = append(dst, ',')
	}
	if len(p.Workloads) > 0 {
		dst = append(dst, `"workloads":`...)
		dst = appendRefs(dst, p.Workloads)
		dst = append(dst, ',')
	}
	dst = append(dst, `"count":`...)
	dst = strconv.AppendInt(dst, int64(p.Count), 10)
	dst = appendOptInt(dst, `,"of":`, p.Of)
	if p.Outside != nil {
		dst = append(dst, `,"outside":{`...)
		comma := false
		if p.Outside.CIDR != "" {
			dst = append(dst, `"cidr":`...)
			dst = appendString(dst, p.Outside.CIDR)
			comma = true
		}
		if len(p.Outside.Except) > 0 {
			if comma {
				dst = append(dst, ',')
			}
			dst = append(dst, `"except":`...)
			dst = appendStrings(dst, p.Outside.Except)
		}
		dst = append(dst, '}')
	}
	dst = appendOptBool(dst, `,"internet":true`, p.Internet)
	dst = appendOptBool(dst, `,"nodes":true`, p.Nodes)
	dst = appendOptInt(dst, `,"addresses":`, p.Addresses)
	if len(p.HostNetwork) > 0 {
		dst = append(dst, `,"hostNetwork":`...)
		dst = appendRefs(dst, p.HostNetwork)
	}
	dst = appendOptInt(dst, `,"hostNetworkCount":`, p.HostNetworkCount)
	dst = appendOptBool(dst, `,"withoutNodes":true`, p.WithoutNodes)
	return append(dst, '}')
}

func appendUnprotected(dst []byte, us []netpaths.Unprotected) []byte {
	if us == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i := range us {
		u := &us[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"workload":`...)
		dst = appendRef(dst, u.Workload)
		dst = append(dst, `,"allowedPaths":`...)
		dst = strconv.AppendInt(dst, int64(u.AllowedPaths), 10)
		dst = append(dst, `,"usedPaths":`...)
		dst = strconv.AppendInt(dst, int64(u.UsedPaths), 10)
		dst = append(dst, `,"deniedFlows":`...)
		dst = strconv.AppendInt(dst, int64(u.DeniedFlows), 10)
		dst = appendOptBool(dst, `,"hostNetwork":true`, u.HostNetwork)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendPortSet appends a set as netpol.PortSet.MarshalJSON does: its
// ranges, [] when it has none.
func appendPortSet(dst []byte, s netpol.PortSet) []byte {
	return appendPortRanges(dst, s.Ranges())
}

func appendPortRanges(dst []byte, rs []netpol.PortRange) []byte {
	dst = append(dst, '[')
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"protocol":`...)
		dst = appendString(dst, r.Protocol)
		dst = append(dst, `,"from":`...)
		dst = strconv.AppendInt(dst, int64(r.From), 10)
		dst = append(dst, `,"to":`...)
		dst = strconv.AppendInt(dst, int64(r.To), 10)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendPolicyRefs appends a policy list; nil is null.
func appendPolicyRefs(dst []byte, ps []netpol.PolicyRef) []byte {
	if ps == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"namespace":`...)
		dst = appendString(dst, p.Namespace)
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, p.Name)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendRefs appends a list of workloads; nil is null.
func appendRefs(dst []byte, rs []model.WorkloadRef) []byte {
	if rs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendRef(dst, r)
	}
	return append(dst, ']')
}

// appendOptInt appends a field tagged omitempty: name, then n, unless n
// is 0.
func appendOptInt(dst []byte, name string, n int) []byte {
	if n == 0 {
		return dst
	}
	return strconv.AppendInt(append(dst, name...), int64(n), 10)
}

// appendOptBool appends field (name and true) when b is set: a bool
// tagged omitempty.
func appendOptBool(dst []byte, field string, b bool) []byte {
	if !b {
		return dst
	}
	return append(dst, field...)
}

// appendFloat appends f as json.Marshal writes a float64: the shortest
// decimal that reads back as f, in exponent form below 1e-6 and from
// 1e21 on (e-7, not e-07). NaN and infinities are an error, as there.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// pathsSize is about the size of the JSON of items, measured at 10,000
// workloads (40.5 MB against 41.5 MB estimated): 260 bytes an item, 58 a
// policy, 850 a path (one with three peer workloads and four factors
// takes about 950).
func pathsSize(items []netpaths.Item) int {
	n := 0
	for i := range items {
		n += 260 + 58*(len(items[i].IngressPolicies)+len(items[i].EgressPolicies)) + 850*len(items[i].Paths)
	}
	return n
}
