package netpolgen

import (
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// preferredKeys are the label keys tried first, in this order: the keys
// that name an application by convention.
var preferredKeys = []string{
	"app.kubernetes.io/name",
	"app",
	"k8s-app",
	"app.kubernetes.io/instance",
	"name",
	"app.kubernetes.io/component",
	"component",
}

// volatileKeys change between releases of the same workload: a selector
// using them stops selecting the pods after an upgrade. They are tried
// last.
var volatileKeys = []string{
	"version",
	"app.kubernetes.io/version",
	"helm.sh/chart",
	"chart",
	"pod-template-hash",
	"controller-revision-hash",
	"pod-template-generation",
}

// maxSubset is the size up to which every subset of the keys is tried,
// in preference order, before a greedy choice.
const maxSubset = 3

// maxKeys bounds the keys considered (a workload with more labels uses
// the first maxKeys in preference order).
const maxKeys = 64

// selection is the pod selector chosen for a workload.
type selection struct {
	labels map[string]string // matchLabels; empty selects the namespace
	key    string            // selectorString(labels)
	// exact is set when labels select the workload's pods and no other
	// workload's of the namespace.
	exact bool
}

// orderKeys returns the keys of labels in preference order: the
// well-known application keys, then the others sorted, then the keys
// that change between releases.
func orderKeys(labels map[string]string) []string {
	var pref, mid, vol []string
	for _, k := range preferredKeys {
		if _, ok := labels[k]; ok {
			pref = append(pref, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		switch {
		case slices.Contains(preferredKeys, k):
		case slices.Contains(volatileKeys, k):
			vol = append(vol, k)
		default:
			mid = append(mid, k)
		}
	}
	slices.SortFunc(vol, func(a, b string) int { return slices.Index(volatileKeys, a) - slices.Index(volatileKeys, b) })
	return append(append(pref, mid...), vol...)
}

// chooseSelector returns the smallest set of w's template labels that
// selects w and none of others (the other workloads of its namespace),
// preferring well-known keys; when no set does, all of w's labels, not
// exact. A workload without labels gets the empty selector: the whole
// namespace.
func chooseSelector(w *model.Workload, others []*model.Workload) selection {
	s := choose(w, others)
	s.key = selectorString(s.labels)
	return s
}

func choose(w *model.Workload, others []*model.Workload) selection {
	labels := w.Template.Labels
	keys := orderKeys(labels)
	if len(keys) > maxKeys {
		keys = keys[:maxKeys]
	}
	// Each competitor as the mask of w's keys it has with the same value:
	// a set S of keys tells w from it when S holds a key outside the
	// mask. Only the maximal masks matter.
	var masks []uint64
	for _, o := range others {
		if o == w {
			continue
		}
		var m uint64
		for i, k := range keys {
			if v, ok := o.Template.Labels[k]; ok && v == labels[k] {
				m |= 1 << i
			}
		}
		masks = append(masks, m)
	}
	masks = maximal(masks)
	full := uint64(1)<<len(keys) - 1
	if len(keys) == 64 {
		full = ^uint64(0)
	}
	if len(keys) == 0 {
		return selection{labels: map[string]string{}, exact: len(masks) == 0}
	}
	if len(masks) == 0 {
		return selection{labels: pick(labels, keys, 1), exact: true}
	}
	if slices.Contains(masks, full) {
		// Another workload has every label of w: nothing tells them apart.
		return selection{labels: maps.Clone(labels)}
	}
	// Every subset up to maxSubset keys, smallest first, in preference
	// order.
	for size := 1; size <= min(maxSubset, len(keys)); size++ {
		if s, ok := firstSubset(len(keys), size, masks); ok {
			return selection{labels: pick(labels, keys, s), exact: true}
		}
	}
	// Greedy: add the key telling w apart from the most remaining
	// competitors (the first in preference order on ties).
	var s uint64
	left := masks
	for len(left) > 0 {
		best, bestN := -1, 0
		for i := range keys {
			if s&(1<<i) != 0 {
				continue
			}
			n := 0
			for _, m := range left {
				if m&(1<<i) == 0 {
					n++
				}
			}
			if n > bestN {
				best, bestN = i, n
			}
		}
		if best < 0 { // unreachable: no mask is full
			return selection{labels: maps.Clone(labels)}
		}
		s |= 1 << best
		left = slices.DeleteFunc(left, func(m uint64) bool { return m&(1<<best) == 0 })
	}
	return selection{labels: pick(labels, keys, s), exact: true}
}

// hits reports whether the key set s tells w from every mask.
func hits(s uint64, masks []uint64) bool {
	for _, m := range masks {
		if s&^m == 0 {
			return false
		}
	}
	return true
}

// firstSubset returns the first set of size keys (in lexicographic order
// of key positions, so preferred keys first) that hits every mask.
func firstSubset(n, size int, masks []uint64) (uint64, bool) {
	idx := make([]int, size)
	for i := range idx {
		idx[i] = i
	}
	for {
		var s uint64
		for _, i := range idx {
			s |= 1 << i
		}
		if hits(s, masks) {
			return s, true
		}
		// Next combination.
		i := size - 1
		for i >= 0 && idx[i] == n-size+i {
			i--
		}
		if i < 0 {
			return 0, false
		}
		idx[i]++
		for j := i + 1; j < size; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// maximal drops duplicate masks and masks contained in another.
func maximal(masks []uint64) []uint64 {
	slices.Sort(masks)
	masks = slices.Compact(masks)
	// Larger masks (more bits) first, so a contained mask meets its
	// container earlier.
	slices.SortStableFunc(masks, func(a, b uint64) int { return bits.OnesCount64(b) - bits.OnesCount64(a) })
	var out []uint64
	for _, m := range masks {
		contained := false
		for _, o := range out {
			if m&^o == 0 {
				contained = true
				break
			}
		}
		if !contained {
			out = append(out, m)
		}
	}
	return out
}

func pick(labels map[string]string, keys []string, s uint64) map[string]string {
	out := map[string]string{}
	for i, k := range keys {
		if s&(1<<i) != 0 {
			out[k] = labels[k]
		}
	}
	return out
}

// selectorString renders matchLabels for keys and messages: "a=1,b=2",
// or "" for the empty selector.
func selectorString(labels map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}
