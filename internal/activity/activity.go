// Package activity turns node agents' reports into what the answers need:
// each observed process attributed to its pod, container and workload
// through the inventory's container IDs, checked against the process
// baseline of its image and container, and against the suspicious-process
// rules. It keeps the latest report of every node and publishes an
// immutable observation.View after each one.
package activity

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
)

// Inventory is the live inventory: *state.State implements it.
type Inventory interface {
	Index() (*inventory.Index, uint64)
}

// Baselines learns and checks the executables of an image's container.
// It returns one of the observation.Baseline* states.
type Baselines interface {
	Observe(digest, container, exe string, at time.Time) string
}

// Rules evaluates the suspicious-process rules on one process.
type Rules interface {
	Evaluate(ev Event) []observation.Suspicion
}

// Event is one process as the rules see it.
type Event struct {
	Exe        string
	Args       []string
	Entrypoint []string
	Cmd        []string
	Production bool
}

// Options configures a Pipeline. Inventory and Publish are required.
type Options struct {
	Inventory    Inventory
	Baselines    Baselines
	Rules        Rules
	Environments *environment.Classifier
	// Publish receives every new view.
	Publish func(*observation.View)
	// MaxNodes bounds the nodes whose reports are kept (default 5,000).
	MaxNodes int
	Now      func() time.Time
}

// forgetAfter is how long a node's last report is kept without news.
const forgetAfter = time.Hour

// Pipeline is safe for concurrent use.
type Pipeline struct {
	opts Options

	mu    sync.Mutex
	nodes map[string]*nodeState // by cluster/node
	// targets and pods cache the container ID and pod IP resolutions per
	// index generation.
	targets    map[string]target
	pods       map[netip.Addr]target
	targetsGen uint64
}

type nodeState struct {
	summary   observation.NodeSummary
	processes []observation.ProcessRecord
	flows     []observation.FlowRecord
}

// target is where a container ID runs.
type target struct {
	workload  model.WorkloadRef
	pod       *model.Workload
	container string
	digest    string
	image     string
}

// New returns a pipeline.
func New(opts Options) *Pipeline {
	if opts.Inventory == nil || opts.Publish == nil {
		panic("activity.New: Options.Inventory and Options.Publish are required")
	}
	if opts.MaxNodes <= 0 {
		opts.MaxNodes = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pipeline{opts: opts, nodes: map[string]*nodeState{}}
}

// Put takes one validated report: it replaces what the node reported
// before and publishes a new view.
func (p *Pipeline) Put(ctx context.Context, r observation.Report) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix, gen := p.opts.Inventory.Index()
	targets, podIPs := p.resolver(ix, gen)
	ns := &nodeState{
		summary: observation.NodeSummary{Cluster: r.Cluster, Node: r.Node, Agent: r.Agent, Collection: r.Collection, Degraded: r.Degraded,
			Dropped: r.Dropped, SentAt: r.SentAt, ReceivedAt: p.opts.Now().UTC(), Processes: len(r.Processes), Flows: len(r.Flows)},
	}
	for _, f := range r.Flows {
		ns.flows = append(ns.flows, resolveFlow(r, f, targets, podIPs))
	}
	for _, pr := range r.Processes {
		rec := observation.ProcessRecord{Cluster: r.Cluster, Node: r.Node, ContainerID: pr.ContainerID, Exe: pr.Exe, Args: pr.Args,
			UID: pr.UID, PID: pr.PID, FirstSeen: pr.FirstSeen, LastSeen: pr.LastSeen, Running: pr.Running}
		if pr.ContainerID == "" {
			continue // host processes are not answered for yet
		}
		t, ok := targets[pr.ContainerID]
		if !ok {
			ns.summary.Unattributed++
			ns.processes = append(ns.processes, rec)
			continue
		}
		rec.Workload, rec.Pod, rec.Container, rec.Digest, rec.Image = t.workload, t.pod.Name, t.container, t.digest, t.image
		rec.Baseline = observation.BaselineUnknown
		if t.digest != "" && p.opts.Baselines != nil {
			rec.Baseline = p.opts.Baselines.Observe(t.digest, t.container, pr.Exe, pr.LastSeen)
		}
		if p.opts.Rules != nil {
			ev := Event{Exe: pr.Exe, Args: pr.Args}
			if im := ix.Images().Image(t.digest); im != nil && im.SBOM != nil {
				ev.Entrypoint, ev.Cmd = im.SBOM.Entrypoint, im.SBOM.Cmd
			}
			if p.opts.Environments != nil {
				if w := ix.Workload(t.workload); w != nil {
					ev.Production = p.opts.Environments.Of(w, ix.Namespace(w.Cluster, w.Namespace)).Production
				}
			}
			rec.Suspicious = p.opts.Rules.Evaluate(ev)
		}
		ns.processes = append(ns.processes, rec)
	}
	key := r.Cluster + "/" + r.Node
	p.mu.Lock()
	if _, ok := p.nodes[key]; !ok && len(p.nodes) >= p.opts.MaxNodes {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d already", observation.ErrTooManyNodes, p.opts.MaxNodes)
	}
	p.nodes[key] = ns
	// A node silent for an hour is gone (drained, deleted): forget it.
	for k, n := range p.nodes {
		if ns.summary.ReceivedAt.Sub(n.summary.ReceivedAt) > forgetAfter {
			delete(p.nodes, k)
		}
	}
	view := p.viewLocked()
	p.mu.Unlock()
	p.opts.Publish(view)
	return nil
}

// viewLocked builds the view of every node's latest report.
func (p *Pipeline) viewLocked() *observation.View {
	v := &observation.View{}
	for _, ns := range p.nodes {
		v.Nodes = append(v.Nodes, ns.summary)
		v.Processes = append(v.Processes, ns.processes...)
		v.Flows = append(v.Flows, ns.flows...)
	}
	slices.SortFunc(v.Nodes, func(a, b observation.NodeSummary) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Node, b.Node))
	})
	slices.SortFunc(v.Processes, func(a, b observation.ProcessRecord) int {
		return cmp.Or(inventory.CompareRefs(a.Workload, b.Workload), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Container, b.Container),
			cmp.Compare(a.ContainerID, b.ContainerID), cmp.Compare(a.Exe, b.Exe), cmp.Compare(a.PID, b.PID))
	})
	return v
}

// resolver maps container IDs (without the runtime:// prefix) to where
// they run, rebuilt when the inventory changes.
func (p *Pipeline) resolver(ix *inventory.Index, gen uint64) (map[string]target, map[netip.Addr]target) {
	p.mu.Lock()
	if p.targets != nil && p.targetsGen == gen {
		t, ips := p.targets, p.pods
		p.mu.Unlock()
		return t, ips
	}
	p.mu.Unlock()
	out := map[string]target{}
	ips := map[netip.Addr]target{}
	for _, w := range ix.Workloads() {
		for _, pod := range ix.Pods(w.Ref()) {
			if pod.Status == nil {
				continue
			}
			for _, s := range append([]string{pod.Status.PodIP}, pod.Status.PodIPs...) {
				if a, err := netip.ParseAddr(s); err == nil && !pod.Template.HostNetwork {
					ips[a.Unmap()] = target{workload: w.Ref(), pod: pod}
				}
			}
			for _, cs := range pod.Status.Containers {
				id := ContainerID(cs.ContainerID)
				if id == "" {
					continue
				}
				t := target{workload: w.Ref(), pod: pod, container: cs.Name, digest: cs.Digest}
				for _, c := range pod.Template.Containers {
					if c.Name == cs.Name {
						t.image = c.Image.Original
					}
				}
				out[id] = t
			}
		}
	}
	p.mu.Lock()
	if gen >= p.targetsGen {
		p.targets, p.pods, p.targetsGen = out, ips, gen
	}
	p.mu.Unlock()
	return out, ips
}

// resolveFlow names both ends of a flow: the reporting side by the
// container whose namespace holds the socket, the other by pod IP.
func resolveFlow(r observation.Report, f observation.Flow, targets map[string]target, podIPs map[netip.Addr]target) observation.FlowRecord {
	local := observation.Endpoint{Addr: f.Local}
	if t, ok := targets[f.ContainerID]; ok {
		local.Workload, local.Pod, local.Container = t.workload, t.pod.Name, t.container
	} else if t, ok := podIPs[f.Local.Addr().Unmap()]; ok {
		local.Workload, local.Pod = t.workload, t.pod.Name
	} else {
		local.External = true
	}
	remote := observation.Endpoint{Addr: f.Remote}
	if t, ok := podIPs[f.Remote.Addr().Unmap()]; ok {
		remote.Workload, remote.Pod = t.workload, t.pod.Name
	} else {
		remote.External = true
	}
	rec := observation.FlowRecord{Cluster: r.Cluster, Node: r.Node, Proto: f.Proto, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Count: f.Count}
	if f.Outbound {
		rec.From, rec.To, rec.Port = local, remote, f.Remote.Port()
	} else {
		rec.From, rec.To, rec.Port = remote, local, f.Local.Port()
	}
	return rec
}

// ContainerID strips the runtime scheme of a container status ID
// ("containerd://abc…", "cri-o://abc…", "docker://abc…").
func ContainerID(statusID string) string {
	if _, id, ok := strings.Cut(statusID, "://"); ok {
		return id
	}
	return statusID
}
