package netpolgen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/flows"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netpol"
	"github.com/palisade-project/palisade/internal/synth"
)

// randomCluster is a synthetic cluster (internal/synth) whose pod labels
// are then roughened: some workloads copy a neighbour's labels (nothing
// tells them apart), some get a superset of them, some lose all labels.
// Some more run in the host network, a few of them with finished pods
// only (their nodes' addresses unknown).
func randomCluster(rng *rand.Rand, seed int64) *inventory.Index {
	snap := synth.Generate(synth.Spec{
		Workloads:             40 + rng.IntN(80),
		ContainersPerWorkload: 1 + rng.IntN(3),
		Services:              20,
		NetworkPolicies:       10 + rng.IntN(60),
		Namespaces:            2 + rng.IntN(6),
		Seed:                  seed,
	})
	byNS := map[string][]*model.Workload{}
	for _, w := range snap.Workloads {
		byNS[w.Namespace] = append(byNS[w.Namespace], w)
	}
	for _, ws := range byNS {
		for _, w := range ws {
			o := ws[rng.IntN(len(ws))]
			switch r := rng.IntN(20); {
			case r == 0:
				w.Template.Labels = cloneLabels(o.Template.Labels)
			case r == 1:
				l := cloneLabels(o.Template.Labels)
				l["extra"] = fmt.Sprint(rng.IntN(3))
				w.Template.Labels = l
			case r == 2:
				w.Template.Labels = nil
			case r == 3:
				w.Template.Labels = map[string]string{"tier": o.Template.Labels["tier"]}
			}
		}
	}
	// synth gives running pods to bare pods only: the workloads moved to
	// the host network get pods on one to three nodes (10.0.0.0/16, cut by
	// synth's ipBlocks), finished ones for a few.
	var pods []*model.Workload
	for _, w := range snap.Workloads {
		r := rng.IntN(20)
		if w.Owner != nil || r > 2 {
			continue
		}
		w.Template.HostNetwork = true
		phase := "Running"
		if r == 2 {
			phase = "Succeeded"
		}
		if w.Kind == model.KindPod {
			if w.Status != nil {
				w.Status.Phase = phase
				w.Status.PodIP, w.Status.PodIPs = w.Status.HostIP, nil
			}
			continue
		}
		for i := range 1 + rng.IntN(3) {
			node := fmt.Sprintf("10.0.%d.%d", rng.IntN(8), 1+rng.IntN(250))
			p := &model.Workload{Meta: w.Meta, Kind: model.KindPod, Owner: &model.OwnerRef{Kind: string(w.Kind), Name: w.Name}, Template: w.Template,
				Status: &model.PodStatus{Phase: phase, HostIP: node, PodIP: node}}
			p.Name = fmt.Sprintf("%s-%d", w.Name, i)
			pods = append(pods, p)
		}
	}
	snap.Workloads = append(snap.Workloads, pods...)
	return inventory.New(snap)
}

func cloneLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// randomFlows is traffic between random workloads and outside addresses
// on random ports and protocols, DNS among it, plus records Generate and
// Simulate must both leave out.
func randomFlows(rng *rand.Rand, ix *inventory.Index, n int) *flows.Set {
	ws := ix.Workloads()
	wl := func() flows.Endpoint {
		r := ws[rng.IntN(len(ws))].Ref()
		return flows.Endpoint{Workload: &r}
	}
	outside := func() flows.Endpoint {
		if rng.IntN(4) == 0 {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			b[15] = byte(rng.IntN(8))
			return flows.Endpoint{Addr: netip.AddrFrom16(b)}
		}
		// Some in 10.0.0.0/8, which synth's ipBlocks cut.
		if rng.IntN(2) == 0 {
			return flows.Endpoint{Addr: netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(4)), byte(1 + rng.IntN(3))})}
		}
		return flows.Endpoint{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(40))})}
	}
	protos := []string{netpol.TCP, netpol.TCP, netpol.TCP, netpol.UDP, netpol.SCTP}
	set := &flows.Set{Since: t0, Until: t1, Sources: []string{"random"}}
	for range n {
		r := flows.Record{Cluster: model.DefaultCluster, FirstSeen: t0, LastSeen: t1, Count: 1}
		switch k := rng.IntN(20); {
		case k < 10:
			r.From, r.To = wl(), wl()
		case k < 13:
			r.From, r.To = wl(), outside()
		case k < 16:
			r.From, r.To = outside(), wl()
		case k < 18:
			r.From, r.To = wl(), wl()
			r.Port, r.Protocol = DNSPort, []string{netpol.UDP, netpol.TCP}[rng.IntN(2)]
		case k == 18:
			r.From, r.To = wl(), wl()
			r.To = r.From
		default: // to be left out
			r.From, r.To = wl(), outside()
			switch rng.IntN(4) {
			case 0:
				r.Protocol = "ICMP"
			case 1:
				r.Port = 0
				r.Protocol = netpol.TCP
			case 2:
				r.From = outside()
			case 3:
				r.From = flows.Endpoint{Workload: &model.WorkloadRef{Cluster: model.DefaultCluster, Kind: model.KindDeployment, Namespace: "gone", Name: "gone"}}
			}
			if r.Protocol == "" {
				r.Protocol = netpol.TCP
			}
			if r.Port == 0 && r.Protocol != netpol.TCP {
				r.Port = 80
			}
			set.Records = append(set.Records, r)
			continue
		}
		if r.Port == 0 {
			switch rng.IntN(3) {
			case 0:
				r.Port = 8080
			case 1:
				r.Port = uint16([]int{80, 443, 5432, 9090, 6379}[rng.IntN(5)])
			default:
				r.Port = uint16(1 + rng.IntN(65535))
			}
			r.Protocol = protos[rng.IntN(len(protos))]
		}
		set.Records = append(set.Records, r)
	}
	set.Records = flows.Aggregate(set.Records)
	return set
}

// TestGeneratedBreakNothing is the property of the generated policies:
// on random clusters and traffic, for any scope, simulated added to the
// cluster's policies or replacing them, they break no used flow; replacing
// them, every used flow is allowed (checked again with Query, not only the
// matrix). Flows with an end in the host network are in: Generate writes
// ipBlocks of its nodes' addresses for such a peer. Only a host-network
// workload whose node's address no running pod reports cannot be named by
// any rule: its flows are left out, and Generate says so in a warning
// (checked).
func TestGeneratedBreakNothing(t *testing.T) {
	runs := 12
	if testing.Short() {
		runs = 3
	}
	hostFlows := 0 // checked flows with a host-network end the ipBlocks cover
	for run := range runs {
		seed := int64(run + 1)
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		ix := randomCluster(rng, seed)
		used := randomFlows(rng, ix, 50+rng.IntN(300))
		c := newCluster(ix, model.DefaultCluster)
		ws := ix.Workloads()
		w := ws[rng.IntN(len(ws))]
		wref := w.Ref()
		scopes := []Options{{}, {Namespace: w.Namespace}, {Workload: &wref}, {MaxAddresses: 2}}
		for _, opts := range scopes {
			res, err := Generate(t.Context(), ix, used, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []Mode{ModeAdd, ModeReplace} {
				name := fmt.Sprintf("seed %d, scope %+v, %s", seed, opts, mode)
				rep, err := Simulate(t.Context(), ix, res.Policies(), used, SimOptions{Mode: mode})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				// The flows the proposal denies: those it breaks, and
				// replacing the cluster's policies, every denied one.
				denied := rep.Broken
				if mode == ModeReplace {
					denied = append(slices.Clip(denied), rep.Denied...)
				}
				unnamed := 0
				for _, fr := range denied {
					if h := unknownHostEnd(c, fr.Record); h != "" {
						unnamed++
						if !warned(res, h) {
							t.Errorf("%s: %s denied, and no warning says %s runs in the host network", name, describe(fr.Record), h)
						}
					}
				}
				var broken []FlowResult
				for _, fr := range rep.Broken {
					if unknownHostEnd(c, fr.Record) == "" {
						broken = append(broken, fr)
					}
				}
				if len(broken) > 0 {
					t.Errorf("%s: %d of %d flows broken, first %s: %+v", name, len(broken), rep.Flows.Checked, describe(broken[0].Record), broken[0].Verdict)
				}
				if len(rep.Problems) > 0 {
					t.Errorf("%s: problems %v", name, rep.Problems)
				}
				if rep.Flows.Checked == 0 || rep.Flows.Checked+skipped(rep.Skipped) != len(used.Records) {
					t.Errorf("%s: %d checked, %v skipped, of %d", name, rep.Flows.Checked, rep.Skipped, len(used.Records))
				}
				if mode != ModeReplace {
					continue
				}
				if rep.Flows.Allowed+unnamed != rep.Flows.Checked {
					t.Errorf("%s: %d of %d flows allowed (%d with a host-network end of unknown address denied)", name, rep.Flows.Allowed, rep.Flows.Checked, unnamed)
				}
				e, err := netpol.New(t.Context(), ix, netpol.Options{Policies: res.Policies()})
				if err != nil {
					t.Fatal(err)
				}
				var sk skips
				for _, f := range c.usable(used, &sk) {
					v, err := e.Query(netpol.Connection{From: c.endpoint(f.from), To: c.endpoint(f.to), Port: f.port, Protocol: f.protocol})
					if err != nil {
						t.Fatal(err)
					}
					h := unknownHostEnd(c, f.rec)
					if h == "" && hostNetworkEnd(c, f.rec) {
						hostFlows++
					}
					if !v.Allowed && h == "" {
						t.Errorf("%s: Query denies %s: %+v", name, describe(f.rec), v)
					}
				}
			}
		}
	}
	t.Logf("%d checked flows had a host-network end", hostFlows)
	if hostFlows == 0 {
		t.Error("no checked flow had a host-network end: the property says nothing about them")
	}
}

// hostNetworkEnd reports whether an end of r is a workload of the host
// network.
func hostNetworkEnd(c *cluster, r flows.Record) bool {
	for _, ep := range []flows.Endpoint{r.From, r.To} {
		if ep.Workload == nil {
			continue
		}
		if i, ok := c.byRef[*ep.Workload]; ok && c.workloads[i].Template.HostNetwork {
			return true
		}
	}
	return false
}

// unknownHostEnd returns the reference of an end of r that is a workload
// of the host network whose node's address no running pod reports, or "".
func unknownHostEnd(c *cluster, r flows.Record) string {
	for _, ep := range []flows.Endpoint{r.From, r.To} {
		if ep.Workload == nil {
			continue
		}
		if i, ok := c.byRef[*ep.Workload]; ok && c.workloads[i].Template.HostNetwork && len(c.hostAddrs[i]) == 0 {
			return c.workloads[i].Ref().String()
		}
	}
	return ""
}

// warned reports whether a suggestion of res warns that workload ref runs
// in the host network.
func warned(res *Result, ref string) bool {
	for _, s := range res.Suggestions {
		for _, w := range s.Warnings {
			if strings.HasPrefix(w, ref+" runs in the host network") {
				return true
			}
		}
	}
	return false
}

func skipped(s []Skip) int {
	n := 0
	for _, x := range s {
		n += x.Count
	}
	return n
}
