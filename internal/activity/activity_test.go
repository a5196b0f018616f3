package activity

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/processes"
	"github.com/palisade-project/palisade/internal/sbom"
)

type staticInventory struct{ ix *inventory.Index }

func (s staticInventory) Index() (*inventory.Index, uint64) { return s.ix, 1 }

// fakeBaselines knows one executable per container as its baseline.
type fakeBaselines struct{ known string }

func (f fakeBaselines) Observe(_, _, exe string, _ time.Time) string {
	if exe == f.known {
		return observation.BaselineIn
	}
	return observation.BaselineAnomaly
}

type shellRule struct{}

func (shellRule) Evaluate(ev Event) []observation.Suspicion {
	if ev.Exe == "/bin/sh" {
		return []observation.Suspicion{{Rule: "shell", Title: "shell in a container", Severity: "high"}}
	}
	return nil
}

func TestPipelineAttributesProcessesToPods(t *testing.T) {
	snap := &model.Snapshot{}
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: "web-1"}, Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "web", Type: model.ContainerRegular, Image: model.ImageRef{Original: "nginx:1"}}}},
		Status:   &model.PodStatus{NodeName: "n1", PodIP: "10.0.0.1", Containers: []model.ContainerStatus{{Name: "web", Type: model.ContainerRegular, ContainerID: "containerd://abc123", Digest: "sha256:1", Running: true}}},
	})
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: "db-1"}, Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "db", Type: model.ContainerRegular}}},
		Status:   &model.PodStatus{NodeName: "n1", PodIP: "10.0.0.2", Containers: []model.ContainerStatus{{Name: "db", Type: model.ContainerRegular, ContainerID: "cri-o://def456", Running: true}}},
	})
	ix := inventory.New(snap)
	var got *observation.View
	p := New(Options{Inventory: staticInventory{ix}, Baselines: fakeBaselines{known: "/usr/sbin/nginx"}, Rules: shellRule{},
		Publish: func(v *observation.View) { got = v }, MaxNodes: 1, Now: func() time.Time { return time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC) }})
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	rep := observation.Report{Node: "n1", Cluster: "c", Agent: "test", SentAt: at, Collection: "polling", Processes: []observation.Process{
		{ContainerID: "abc123", PID: 10, PPID: 1, Exe: "/usr/sbin/nginx", FirstSeen: at, LastSeen: at, Running: true},
		{ContainerID: "abc123", PID: 11, PPID: 10, Exe: "/bin/sh", FirstSeen: at, LastSeen: at, Running: true},
		{ContainerID: "gone", PID: 12, PPID: 1, Exe: "/bin/true", FirstSeen: at, LastSeen: at},
		{PID: 1, Exe: "/sbin/init", FirstSeen: at, LastSeen: at, Running: true},
	}, Flows: []observation.Flow{
		{ContainerID: "abc123", Proto: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:43210"), Remote: netip.MustParseAddrPort("10.0.0.2:5432"), Outbound: true, FirstSeen: at, LastSeen: at, Count: 2},
		{ContainerID: "abc123", Proto: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("203.0.113.5:51000"), FirstSeen: at, LastSeen: at, Count: 1},
	}}
	if err := rep.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if len(got.Nodes) != 1 || got.Nodes[0].Unattributed != 1 || got.Nodes[0].Processes != 4 {
		t.Fatalf("nodes = %+v", got.Nodes)
	}
	// The connection between the two pods, and one from outside.
	if len(got.Flows) != 2 {
		t.Fatalf("flows = %+v", got.Flows)
	}
	db, ext := got.Flows[0], got.Flows[1]
	if db.From.Pod != "web-1" || db.From.Container != "web" || db.To.Pod != "db-1" || db.To.Workload.Name != "db-1" || db.Port != 5432 || db.To.External {
		t.Errorf("pod to pod flow = %+v", db)
	}
	if !ext.From.External || ext.From.Addr.Addr().String() != "203.0.113.5" || ext.To.Pod != "web-1" || ext.Port != 80 {
		t.Errorf("inbound external flow = %+v", ext)
	}
	items := processes.Answer(ix.WithActivity(got), ix.Workloads())
	if len(items) != 1 || len(items[0].Connections) != 2 || items[0].Connections[0].Direction != "in" || items[0].Connections[1].Peer.Pod != "db-1" || items[0].Container != "web" || items[0].Suspicious != 1 || items[0].Anomalies != 1 || items[0].MaxSeverity != "high" {
		t.Fatalf("items = %+v", items)
	}
	var exes []string
	for _, pr := range items[0].Processes {
		exes = append(exes, pr.Exe+"/"+pr.Baseline)
	}
	if want := []string{"/bin/sh/anomaly", "/usr/sbin/nginx/in-baseline"}; !slices.Equal(exes, want) {
		t.Errorf("processes = %v, want %v (suspicious first)", exes, want)
	}
	// A second node over the bound is refused.
	rep.Node = "n2"
	if err := p.Put(context.Background(), rep); !errors.Is(err, observation.ErrTooManyNodes) {
		t.Errorf("second node: %v", err)
	}
}

func TestContainerID(t *testing.T) {
	for in, want := range map[string]string{"containerd://abc": "abc", "cri-o://def": "def", "docker://x": "x", "": "", "plain": "plain"} {
		if got := ContainerID(in); got != want {
			t.Errorf("ContainerID(%q) = %q, want %q", in, got, want)
		}
	}
}

// recordingBaselines records the times it is asked about.
type recordingBaselines struct{ at []time.Time }

func (r *recordingBaselines) Observe(_, _, _ string, at time.Time) string {
	r.at = append(r.at, at)
	return observation.BaselineLearning
}

// Evidence outlives the window that saw it; ordinary processes do not; a
// late report does not replace a newer one; the agent's clock is clamped.
func TestRetentionReplayAndClock(t *testing.T) {
	snap := &model.Snapshot{}
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: "web-1"}, Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "web", Type: model.ContainerRegular}}},
		Status:   &model.PodStatus{NodeName: "n1", Containers: []model.ContainerStatus{{Name: "web", ContainerID: "containerd://abc", Digest: "sha256:1", Running: true}}},
	})
	ix := inventory.New(snap)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var got *observation.View
	bl := &recordingBaselines{}
	p := New(Options{Inventory: staticInventory{ix}, Baselines: bl, Rules: shellRule{}, Publish: func(v *observation.View) { got = v }, Now: func() time.Time { return now }})
	report := func(sent time.Time, procs ...observation.Process) {
		t.Helper()
		if err := p.Put(context.Background(), observation.Report{Node: "n1", Cluster: "c", SentAt: sent, Collection: "polling", Processes: procs}); err != nil {
			t.Fatal(err)
		}
	}
	proc := func(pid int, exe string, seen time.Time, running bool) observation.Process {
		return observation.Process{ContainerID: "abc", PID: pid, PPID: 1, Exe: exe, FirstSeen: seen, LastSeen: seen, Running: running}
	}
	// A shell and a short ls, both exited by the end of the window; the
	// agent's clock is a day ahead for the ls.
	report(now, proc(7, "/bin/sh", now, false), proc(8, "/bin/ls", now.Add(24*time.Hour), false))
	if bl.at[1] != now {
		t.Errorf("a stamp in the future reached the baseline as %v, want the server's now %v", bl.at[1], now)
	}
	// 30 minutes later the next report lists neither.
	now = now.Add(30 * time.Minute)
	report(now)
	var exes []string
	for _, pr := range got.Processes {
		exes = append(exes, pr.Exe)
	}
	if !slices.Equal(exes, []string{"/bin/sh"}) {
		t.Errorf("after 30 minutes: %v, want only the suspicious shell kept", exes)
	}
	// A replayed report from before changes nothing.
	report(now.Add(-time.Hour), proc(9, "/bin/replayed", now.Add(-time.Hour), true))
	for _, pr := range got.Processes {
		if pr.Exe == "/bin/replayed" {
			t.Error("a replayed older report was taken")
		}
	}
	// A day later the shell is gone too.
	now = now.Add(25 * time.Hour)
	report(now)
	if len(got.Processes) != 0 {
		t.Errorf("after a day: %+v", got.Processes)
	}
}

// A process still running across reports is one record, first seen when
// it was first seen.
func TestRunningProcessAcrossReports(t *testing.T) {
	snap := &model.Snapshot{}
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: "web-1"}, Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "web", Type: model.ContainerRegular}}},
		Status:   &model.PodStatus{NodeName: "n1", Containers: []model.ContainerStatus{{Name: "web", ContainerID: "containerd://abc", Running: true}}},
	})
	ix := inventory.New(snap)
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	var got *observation.View
	p := New(Options{Inventory: staticInventory{ix}, Publish: func(v *observation.View) { got = v }, Now: func() time.Time { return now }})
	first := now
	for i := range 3 {
		at := first.Add(time.Duration(i) * 30 * time.Second)
		now = at
		// The agent's window restarts at each report for running processes.
		if err := p.Put(context.Background(), observation.Report{Node: "n1", Cluster: "c", SentAt: at, Collection: "polling", Processes: []observation.Process{
			{ContainerID: "abc", PID: 7, PPID: 1, Exe: "/app", FirstSeen: at, LastSeen: at, Running: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got.Processes) != 1 || !got.Processes[0].FirstSeen.Equal(first) || !got.Processes[0].LastSeen.Equal(now) {
		t.Errorf("processes = %+v, want one record first seen at %v", got.Processes, first)
	}
}

// recordingRules keeps the events it is asked about, by executable.
type recordingRules struct{ events map[string]Event }

func (r *recordingRules) Evaluate(ev Event) []observation.Suspicion {
	r.events[ev.Exe] = ev
	return nil
}

// The rules see the executables of the image the container runs, and
// none when the image was not scanned or scanned before the list existed.
func TestRulesSeeTheImagesExecutables(t *testing.T) {
	snap := &model.Snapshot{}
	for i, digest := range []string{"sha256:listed", "sha256:old-sbom", "sha256:unscanned"} {
		name := strings.TrimPrefix(digest, "sha256:")
		snap.Add(&model.Workload{
			Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: name}, Kind: model.KindPod,
			Template: model.PodTemplate{Containers: []model.Container{{Name: "app", Type: model.ContainerRegular}}},
			Status:   &model.PodStatus{NodeName: "n1", Containers: []model.ContainerStatus{{Name: "app", ContainerID: fmt.Sprintf("containerd://id%d", i), Digest: digest, Running: true}}},
		})
	}
	images := imagescan.NewView([]*imagescan.Image{
		{Digest: "sha256:listed", SBOM: imagescan.FactsOf(&sbom.SBOM{Executables: &sbom.Executables{Files: []string{"/app/server"}}})},
		{Digest: "sha256:old-sbom", SBOM: imagescan.FactsOf(&sbom.SBOM{})},
	}, imagescan.Scheduler{})
	ix := inventory.New(snap).WithImages(images)
	rules := &recordingRules{events: map[string]Event{}}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	p := New(Options{Inventory: staticInventory{ix}, Rules: rules, Publish: func(*observation.View) {}, Now: func() time.Time { return now }})
	var procs []observation.Process
	for i, exe := range []string{"/listed", "/old-sbom", "/unscanned"} {
		procs = append(procs, observation.Process{ContainerID: fmt.Sprintf("id%d", i), PID: 10 + i, PPID: 1, Exe: exe, FirstSeen: now, LastSeen: now, Running: true})
	}
	if err := p.Put(t.Context(), observation.Report{Node: "n1", Cluster: "c", SentAt: now, Collection: "polling", Processes: procs}); err != nil {
		t.Fatal(err)
	}
	if present, known := rules.events["/listed"].Executables.Contains("/app/server"); !present || !known {
		t.Errorf("the scanned image's executables: Contains(/app/server) = %v, %v; want true, true", present, known)
	}
	if present, known := rules.events["/listed"].Executables.Contains("/tmp/x"); present || !known {
		t.Errorf("the scanned image's executables: Contains(/tmp/x) = %v, %v; want false, true", present, known)
	}
	for _, exe := range []string{"/old-sbom", "/unscanned"} {
		ev, ok := rules.events[exe]
		if !ok || ev.Executables != nil {
			t.Errorf("%s: evaluated %v with executables %v, want nil (unknown)", exe, ok, ev.Executables)
		}
	}
}

// TestNodesReportForTheirOwnPods: a node's report names containers and pod
// IPs of other nodes and clusters; none of it is attributed to them.
func TestNodesReportForTheirOwnPods(t *testing.T) {
	snap := &model.Snapshot{}
	for _, w := range []struct{ cluster, name, node, ip, id string }{
		{"c", "web-1", "n1", "10.0.0.1", "aaa"},
		{"c", "db-1", "n2", "10.0.0.2", "bbb"},
		{"other", "api-1", "n1", "10.0.0.3", "ccc"},
	} {
		snap.Add(&model.Workload{
			Meta: model.Meta{Cluster: w.cluster, Namespace: "shop", Name: w.name}, Kind: model.KindPod,
			Template: model.PodTemplate{Containers: []model.Container{{Name: "app", Type: model.ContainerRegular}}},
			Status: &model.PodStatus{NodeName: w.node, PodIP: w.ip, Containers: []model.ContainerStatus{
				{Name: "app", Type: model.ContainerRegular, ContainerID: "containerd://" + w.id, Running: true}}},
		})
	}
	var got *observation.View
	now := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
	p := New(Options{Inventory: staticInventory{inventory.New(snap)}, Publish: func(v *observation.View) { got = v }, Now: func() time.Time { return now }})
	at := now.Add(-10 * time.Second)
	rep := observation.Report{Node: "n1", Cluster: "c", Agent: "test", SentAt: at, Collection: "polling", Processes: []observation.Process{
		{ContainerID: "aaa", PID: 10, PPID: 1, Exe: "/app", FirstSeen: at, LastSeen: at, Running: true},
		{ContainerID: "bbb", PID: 11, PPID: 1, Exe: "/app", FirstSeen: at, LastSeen: at, Running: true}, // another node's pod
		{ContainerID: "ccc", PID: 12, PPID: 1, Exe: "/app", FirstSeen: at, LastSeen: at, Running: true}, // another cluster's pod
	}, Flows: []observation.Flow{
		// A socket said to be in db-1's container (on n2), to api-1's IP
		// (in cluster "other"): not n1's to report.
		{ContainerID: "bbb", Proto: "tcp", Local: netip.MustParseAddrPort("10.0.0.2:43210"), Remote: netip.MustParseAddrPort("10.0.0.3:80"), Outbound: true, FirstSeen: at, LastSeen: at, Count: 1},
	}}
	if err := p.Put(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	p.publishNow()
	if len(got.Processes) != 1 || got.Processes[0].Pod != "web-1" || got.Nodes[0].Unattributed != 2 {
		t.Errorf("processes %+v, nodes %+v: want only web-1's, two unattributed", got.Processes, got.Nodes)
	}
	if len(got.Flows) != 0 || got.Nodes[0].UnattributedFlows != 1 {
		t.Errorf("flows %+v, nodes %+v: want the flow left out and counted", got.Flows, got.Nodes)
	}
}

// Options.Flows gets each taken report's flows with that report's counts;
// a replayed report is not passed on.
func TestFlowsOfEachReport(t *testing.T) {
	snap := &model.Snapshot{}
	snap.Add(&model.Workload{
		Meta: model.Meta{Cluster: "c", Namespace: "shop", Name: "web-1"}, Kind: model.KindPod,
		Template: model.PodTemplate{Containers: []model.Container{{Name: "web", Type: model.ContainerRegular}}},
		Status:   &model.PodStatus{NodeName: "n1", PodIP: "10.0.0.1", Containers: []model.ContainerStatus{{Name: "web", ContainerID: "containerd://abc", Running: true}}},
	})
	now := time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC)
	var got [][]observation.FlowRecord
	var view *observation.View
	p := New(Options{Inventory: staticInventory{inventory.New(snap)}, Publish: func(v *observation.View) { view = v },
		Flows: func(fs []observation.FlowRecord) { got = append(got, fs) }, Now: func() time.Time { return now }})
	report := func(sent time.Time, count uint64) observation.Report {
		return observation.Report{Node: "n1", Cluster: "c", Agent: "test", SentAt: sent, Collection: "polling", Flows: []observation.Flow{
			{ContainerID: "abc", Proto: "tcp", Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("203.0.113.5:443"),
				Outbound: true, FirstSeen: sent.Add(-time.Minute), LastSeen: sent, Count: count}}}
	}
	for _, r := range []observation.Report{report(now.Add(-2*time.Minute), 2), report(now.Add(-time.Minute), 3), report(now.Add(-3*time.Minute), 7)} {
		if err := p.Put(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0][0].Count != 2 || got[1][0].Count != 3 {
		t.Fatalf("flows passed on: %+v; want counts 2 then 3 (the replayed report dropped)", got)
	}
	if f := got[1][0]; f.From.Workload.Name != "web-1" || !f.To.External || f.Port != 443 {
		t.Errorf("flow not resolved: %+v", f)
	}
	if view.Flows[0].Count != 5 {
		t.Errorf("view count %d, want 5 (the view adds reports up)", view.Flows[0].Count)
	}
}
