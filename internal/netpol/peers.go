package netpol

import "context"

// bitset is a set of small integers (classes or atoms).
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) fill(n int) {
	for i := 0; i < n; i++ {
		b.set(i)
	}
}

// peerSets are the classes and outside atoms a rule's peers match.
type peerSets struct {
	classes bitset
	atoms   bitset
}

// compilePeers computes, for every rule of every policy, the classes and
// atoms its peers match. Peers with equal selectors share one evaluation.
func (e *Engine) compilePeers(ctx context.Context) error {
	nc, na := len(e.classes), len(e.space.atoms)
	all := peerSets{classes: newBitset(nc), atoms: newBitset(na)}
	all.classes.fill(nc)
	all.atoms.fill(na)
	memo := map[string]peerSets{}
	for pi, p := range e.policies {
		if pi%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for _, rules := range p.rules {
			for _, r := range rules {
				if r.allPeers {
					e.rulePeers[r] = all
					continue
				}
				ps := peerSets{classes: newBitset(nc), atoms: newBitset(na)}
				for _, pr := range r.peers {
					if pr.bad {
						continue
					}
					key := e.peerKey(p, pr)
					s, ok := memo[key]
					if !ok {
						s = e.evalPeer(p, pr)
						memo[key] = s
					}
					ps.classes.or(s.classes)
					ps.atoms.or(s.atoms)
				}
				e.rulePeers[r] = ps
			}
		}
	}
	return nil
}

func (e *Engine) peerKey(p *policy, pr *peer) string {
	if pr.block != nil {
		k := "B|" + pr.block.cidr.String()
		for _, x := range pr.block.except {
			k += "|" + x.String()
		}
		return k
	}
	if pr.ns != nil {
		return "N|" + selectorKey(pr.ns) + "|" + selectorKey(pr.pod)
	}
	return "P|" + p.ref.Namespace + "|" + selectorKey(pr.pod)
}

// evalPeer returns what one valid peer of policy p matches. Selectors
// pick pods in their own network namespace only; an ipBlock matches
// host-network classes by their node's addresses.
func (e *Engine) evalPeer(p *policy, pr *peer) peerSets {
	s := peerSets{classes: newBitset(len(e.classes)), atoms: newBitset(len(e.space.atoms))}
	if pr.block != nil {
		for a, at := range e.space.atoms {
			if at.prefix.IsValid() && pr.block.containsRegion(at.prefix) {
				s.atoms.set(a)
			}
		}
		for c, cl := range e.classes {
			for _, a := range cl.atoms {
				if s.atoms.has(a) {
					s.classes.set(c)
					break
				}
			}
		}
		return s
	}
	for _, ns := range e.namespaces {
		if pr.ns == nil && ns.name != p.ref.Namespace || pr.ns != nil && !pr.ns.Matches(ns.labels) {
			continue
		}
		for _, c := range ns.classes {
			if cl := e.classes[c]; !cl.hostNet && (pr.pod == nil || pr.pod.Matches(cl.labels)) {
				s.classes.set(c)
			}
		}
	}
	return s
}
