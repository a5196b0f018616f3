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
	"github.com/palisade-project/palisade/internal/imagescan"
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
	// Executables are the executables the image's scan found; nil when
	// unknown (not scanned, or scanned before the list existed).
	Executables *imagescan.Executables
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
	// PublishEvery bounds how often a new view is published when reports
	// arrive fast (default 0: after every report).
	PublishEvery time.Duration
	// Flows, when set, receives the resolved flows of every report the
	// pipeline takes, with that report's counts (not added to earlier
	// ones), outside the pipeline's lock: the server stores them
	// (internal/flows). It must not block.
	Flows func([]observation.FlowRecord)
	Now   func() time.Time
}

// forgetAfter is how long a node's last report is kept without news.
const forgetAfter = time.Hour

// Pipeline is safe for concurrent use.
type Pipeline struct {
	opts Options

	mu    sync.Mutex
	nodes map[string]*nodeState // by cluster/node
	// targets and pods cache the container ID and pod IP resolutions per
	// inventory snapshot (not per index generation, which every published
	// view bumps).
	targets     map[string]target
	pods        map[podAddr]target
	targetsSnap *model.Snapshot

	dirty          bool
	publishPending bool
	lastPublish    time.Time
}

type nodeState struct {
	summary   observation.NodeSummary
	processes map[procKey]observation.ProcessRecord
	flows     map[flowKey]observation.FlowRecord
}

// procKey identifies a process image across reports (the agent starts a
// new window for running processes at every report, so first-seen times
// are merged, not keyed on).
type procKey struct {
	containerID string
	pid         int
	exe         string
}

// flowKey identifies a flow as one side saw it: a connection between two
// pods of a node is reported by both network namespaces.
type flowKey struct {
	reporter string // the container ID whose namespace held the socket
	proto    string
	from, to netip.AddrPort
}

// Retention of what nodes reported.
const (
	// keepQuiet is how long an ordinary process or flow stays after it was
	// last seen.
	keepQuiet = 10 * time.Minute
	// keepEvidence is how long a suspicious process, or one outside its
	// baseline, stays after it was last seen: long enough to be looked at.
	keepEvidence = 24 * time.Hour
	// maxReportAge bounds how far in the past a report's stamps may lie
	// (a buffered report after an outage).
	maxReportAge = 2 * time.Hour
	// maxProcessesPerNode bounds the records kept per node.
	maxProcessesPerNode = 20_000
)

// target is where a container ID runs.
type target struct {
	workload  model.WorkloadRef
	pod       *model.Workload
	container string
	digest    string
	image     string
}

// on reports whether the target's pod runs on the node of the cluster:
// a node reports for its own pods only, so that an agent's credentials,
// bound to a node and a cluster, cannot speak for other nodes' workloads.
func (t target) on(cluster, node string) bool {
	if t.pod.Cluster != cluster {
		return false
	}
	n := t.pod.Template.NodeName
	if t.pod.Status != nil && t.pod.Status.NodeName != "" {
		n = t.pod.Status.NodeName
	}
	return n == node
}

// podAddr is a pod IP in its cluster: clusters may reuse pod CIDRs.
type podAddr struct {
	cluster string
	addr    netip.Addr
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
	now := p.opts.Now().UTC()
	// The agent's clock is not trusted for baselines: a stamp in the past
	// could teach a locked baseline, one in the future keep it learning.
	clamp := func(t time.Time) time.Time {
		switch {
		case t.After(now):
			return now
		case t.Before(now.Add(-maxReportAge)):
			return now.Add(-maxReportAge)
		}
		return t
	}
	ix, _ := p.opts.Inventory.Index()
	targets, podIPs := p.resolver(ix)
	summary := observation.NodeSummary{Cluster: r.Cluster, Node: r.Node, Agent: r.Agent, Collection: r.Collection, Degraded: r.Degraded,
		Dropped: r.Dropped, SentAt: r.SentAt, ReceivedAt: now, Processes: len(r.Processes), Flows: len(r.Flows)}
	var flows []observation.FlowRecord
	var reporters []string
	for _, f := range r.Flows {
		f.FirstSeen, f.LastSeen = clamp(f.FirstSeen), clamp(f.LastSeen)
		rec, ok := resolveFlow(r, f, targets, podIPs)
		if !ok {
			summary.UnattributedFlows++
			continue
		}
		flows = append(flows, rec)
		reporters = append(reporters, f.ContainerID)
	}
	var procs []observation.ProcessRecord
	for _, pr := range r.Processes {
		rec := observation.ProcessRecord{Cluster: r.Cluster, Node: r.Node, ContainerID: pr.ContainerID, Exe: pr.Exe, Args: pr.Args,
			UID: pr.UID, PID: pr.PID, FirstSeen: clamp(pr.FirstSeen), LastSeen: clamp(pr.LastSeen), Running: pr.Running}
		if pr.ContainerID == "" {
			continue // host processes are not answered for yet
		}
		t, ok := targets[pr.ContainerID]
		if !ok || !t.on(r.Cluster, r.Node) {
			// A pod's sandbox (pause), a container the inventory does not
			// know yet, or one of another node's pods (which this node
			// cannot speak for).
			summary.Unattributed++
			continue
		}
		rec.Workload, rec.Pod, rec.Container, rec.Digest, rec.Image = t.workload, t.pod.Name, t.container, t.digest, t.image
		rec.Baseline = observation.BaselineUnknown
		if t.digest != "" && p.opts.Baselines != nil {
			rec.Baseline = p.opts.Baselines.Observe(t.digest, t.container, pr.Exe, rec.LastSeen)
		}
		if p.opts.Rules != nil {
			ev := Event{Exe: pr.Exe, Args: pr.Args}
			if im := ix.Images().Image(t.digest); im != nil && im.SBOM != nil {
				ev.Entrypoint, ev.Cmd, ev.Executables = im.SBOM.Entrypoint, im.SBOM.Cmd, im.SBOM.Executables
			}
			if p.opts.Environments != nil {
				if w := ix.Workload(t.workload); w != nil {
					ev.Production = p.opts.Environments.Of(w, ix.Namespace(w.Cluster, w.Namespace)).Production
				}
			}
			rec.Suspicious = p.opts.Rules.Evaluate(ev)
		}
		procs = append(procs, rec)
	}
	key := r.Cluster + "/" + r.Node
	p.mu.Lock()
	ns, known := p.nodes[key]
	if !known && len(p.nodes) >= p.opts.MaxNodes {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d already", observation.ErrTooManyNodes, p.opts.MaxNodes)
	}
	if known && r.SentAt.Before(ns.summary.SentAt) {
		p.mu.Unlock()
		return nil // a replayed or late report: the newer one stands
	}
	if !known {
		ns = &nodeState{processes: map[procKey]observation.ProcessRecord{}, flows: map[flowKey]observation.FlowRecord{}}
		p.nodes[key] = ns
	}
	summary.Dropped += ns.summary.Dropped // the node's total
	ns.summary = summary
	for _, rec := range procs {
		k := procKey{rec.ContainerID, rec.PID, rec.Exe}
		if prev, ok := ns.processes[k]; ok && prev.FirstSeen.Before(rec.FirstSeen) {
			rec.FirstSeen = prev.FirstSeen
		}
		ns.processes[k] = rec
	}
	for i, f := range flows {
		k := flowKey{reporters[i], f.Proto, f.From.Addr, f.To.Addr}
		if prev, ok := ns.flows[k]; ok {
			f.FirstSeen = prev.FirstSeen
			f.Count += prev.Count
		}
		ns.flows[k] = f
	}
	ns.expire(now)
	// A node silent for an hour is gone (drained, deleted): forget it.
	for k, n := range p.nodes {
		if now.Sub(n.summary.ReceivedAt) > forgetAfter {
			delete(p.nodes, k)
		}
	}
	p.dirty = true
	p.mu.Unlock()
	if p.opts.Flows != nil && len(flows) > 0 {
		p.opts.Flows(flows)
	}
	p.schedulePublish()
	return nil
}

// expire forgets what the node stopped reporting: exited or vanished
// processes and flows after keepQuiet, suspicious processes and those
// outside their baseline only after keepEvidence.
func (ns *nodeState) expire(now time.Time) {
	for k, rec := range ns.processes {
		keep := keepQuiet
		if len(rec.Suspicious) > 0 || rec.Baseline == observation.BaselineAnomaly {
			keep = keepEvidence
		}
		if now.Sub(rec.LastSeen) > keep {
			delete(ns.processes, k)
		}
	}
	for k, f := range ns.flows {
		if now.Sub(f.LastSeen) > keepQuiet {
			delete(ns.flows, k)
		}
	}
	if len(ns.processes) > maxProcessesPerNode {
		// Over the bound: drop the quiet records that were seen longest ago.
		var quiet []procKey
		for k, rec := range ns.processes {
			if len(rec.Suspicious) == 0 && rec.Baseline != observation.BaselineAnomaly {
				quiet = append(quiet, k)
			}
		}
		slices.SortFunc(quiet, func(a, b procKey) int { return ns.processes[a].LastSeen.Compare(ns.processes[b].LastSeen) })
		for _, k := range quiet[:min(len(quiet), len(ns.processes)-maxProcessesPerNode)] {
			delete(ns.processes, k)
		}
	}
}

// schedulePublish publishes a new view now, or within PublishEvery of the
// last one when reports arrive faster.
func (p *Pipeline) schedulePublish() {
	if p.opts.PublishEvery <= 0 {
		p.publishNow()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.publishPending {
		return
	}
	p.publishPending = true
	wait := max(0, p.opts.PublishEvery-p.opts.Now().Sub(p.lastPublish))
	time.AfterFunc(wait, p.publishNow)
}

func (p *Pipeline) publishNow() {
	p.mu.Lock()
	p.publishPending = false
	if !p.dirty {
		p.mu.Unlock()
		return
	}
	p.dirty = false
	p.lastPublish = p.opts.Now()
	view := p.viewLocked()
	p.mu.Unlock()
	p.opts.Publish(view)
}

// viewLocked builds the view of every node's latest report.
func (p *Pipeline) viewLocked() *observation.View {
	v := &observation.View{}
	for _, ns := range p.nodes {
		v.Nodes = append(v.Nodes, ns.summary)
		for _, rec := range ns.processes {
			v.Processes = append(v.Processes, rec)
		}
		for _, f := range ns.flows {
			v.Flows = append(v.Flows, f)
		}
	}
	slices.SortFunc(v.Nodes, func(a, b observation.NodeSummary) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Node, b.Node))
	})
	slices.SortFunc(v.Processes, func(a, b observation.ProcessRecord) int {
		return cmp.Or(inventory.CompareRefs(a.Workload, b.Workload), cmp.Compare(a.Pod, b.Pod), cmp.Compare(a.Container, b.Container),
			cmp.Compare(a.ContainerID, b.ContainerID), cmp.Compare(a.Exe, b.Exe), cmp.Compare(a.PID, b.PID))
	})
	slices.SortFunc(v.Flows, func(a, b observation.FlowRecord) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Node, b.Node), a.From.Addr.Compare(b.From.Addr), a.To.Addr.Compare(b.To.Addr))
	})
	return v
}

// resolver maps container IDs (without the runtime:// prefix) to where
// they run, rebuilt when the inventory changes.
func (p *Pipeline) resolver(ix *inventory.Index) (map[string]target, map[podAddr]target) {
	snap := ix.Snapshot()
	p.mu.Lock()
	if p.targets != nil && p.targetsSnap == snap {
		t, ips := p.targets, p.pods
		p.mu.Unlock()
		return t, ips
	}
	p.mu.Unlock()
	out := map[string]target{}
	ips := map[podAddr]target{}
	for _, w := range ix.Workloads() {
		for _, pod := range ix.Pods(w.Ref()) {
			if pod.Status == nil {
				continue
			}
			if ph := pod.Status.Phase; !pod.Template.HostNetwork && ph != "Succeeded" && ph != "Failed" {
				// A pod's network namespace is shared by its containers:
				// flows read through its sandbox go to its first container.
				first := ""
				for _, c := range pod.Template.Containers {
					if c.Type == model.ContainerRegular {
						first = c.Name
						break
					}
				}
				for _, s := range append([]string{pod.Status.PodIP}, pod.Status.PodIPs...) {
					if a, err := netip.ParseAddr(s); err == nil {
						ips[podAddr{pod.Cluster, a.Unmap()}] = target{workload: w.Ref(), pod: pod, container: first}
					}
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
	p.targets, p.pods, p.targetsSnap = out, ips, snap
	p.mu.Unlock()
	return out, ips
}

// resolveFlow names both ends of a flow: the reporting side by the
// container whose namespace holds the socket (or its pod IP), the other by
// pod IP in the reporting cluster. The reporting side must be one of the
// reporting node's pods: otherwise ok is false and the flow is left out,
// since a node's credentials could otherwise put traffic to any pod of the
// cluster on record (the remote end is matched cluster-wide).
func resolveFlow(r observation.Report, f observation.Flow, targets map[string]target, podIPs map[podAddr]target) (rec observation.FlowRecord, ok bool) {
	local := observation.Endpoint{Addr: f.Local}
	t, found := targets[f.ContainerID]
	if !found {
		t, found = podIPs[podAddr{r.Cluster, f.Local.Addr().Unmap()}]
	}
	if !found || !t.on(r.Cluster, r.Node) {
		return observation.FlowRecord{}, false
	}
	local.Workload, local.Pod, local.Container = t.workload, t.pod.Name, t.container
	remote := observation.Endpoint{Addr: f.Remote}
	if t, ok := podIPs[podAddr{r.Cluster, f.Remote.Addr().Unmap()}]; ok {
		remote.Workload, remote.Pod = t.workload, t.pod.Name
	} else {
		remote.External = true
	}
	rec = observation.FlowRecord{Cluster: r.Cluster, Node: r.Node, Proto: f.Proto, FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Count: f.Count}
	if f.Outbound {
		rec.From, rec.To, rec.Port = local, remote, f.Remote.Port()
	} else {
		rec.From, rec.To, rec.Port = remote, local, f.Local.Port()
	}
	return rec, true
}

// ContainerID strips the runtime scheme of a container status ID
// ("containerd://abc…", "cri-o://abc…", "docker://abc…").
func ContainerID(statusID string) string {
	if _, id, ok := strings.Cut(statusID, "://"); ok {
		return id
	}
	return statusID
}
