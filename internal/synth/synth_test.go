package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
)

// small is large enough for every share of the mix to show up.
var small = Spec{Workloads: 2000, ContainersPerWorkload: 3, Services: 1000, Ingresses: 400, NetworkPolicies: 600, Namespaces: 40, Seed: 7}

type counts struct {
	Workloads, Containers, Services, Ingresses, NetworkPolicies, Namespaces, Nodes int
}

func countsOf(s *model.Snapshot) counts {
	c := counts{
		Workloads: len(s.Workloads), Services: len(s.Services), Ingresses: len(s.Ingresses),
		NetworkPolicies: len(s.NetworkPolicies), Namespaces: len(s.Namespaces), Nodes: len(s.Nodes),
	}
	for _, w := range s.Workloads {
		c.Containers += len(w.Template.Containers)
	}
	return c
}

func wantCounts(s Spec) counts {
	n := s.Normalized()
	return counts{
		Workloads: n.Workloads, Containers: s.Containers(), Services: n.Services, Ingresses: n.Ingresses,
		NetworkPolicies: n.NetworkPolicies, Namespaces: n.Namespaces,
	}
}

func TestGenerateCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"default10k", Default10k()},
		{"small", small},
		{"empty", Spec{}},
		{"no workloads", Spec{Services: 5, Ingresses: 3, NetworkPolicies: 2}},
		{"negative counts", Spec{Workloads: 10, ContainersPerWorkload: -1, Namespaces: -3, Services: -1}},
		{"one container", Spec{Workloads: 50, ContainersPerWorkload: 1, Services: 20, Ingresses: 10, NetworkPolicies: 10, Namespaces: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "default10k" && testing.Short() {
				t.Skip("generating 10,000 workloads")
			}
			snap := Generate(tc.spec)
			if diff := cmp.Diff(wantCounts(tc.spec), countsOf(snap)); diff != "" {
				t.Errorf("Generate counts (-want +got):\n%s", diff)
			}
			if got, want := snap.Len(), tc.spec.Objects(); got != want {
				t.Errorf("Generate made %d objects, Spec.Objects says %d", got, want)
			}
			seen := map[model.Key]bool{}
			for _, o := range snap.Objects() {
				if k := o.ObjectKey(); seen[k] {
					t.Errorf("duplicate object %s", k)
				} else {
					seen[k] = true
				}
			}
			for _, w := range snap.Workloads {
				if w.Owner != nil {
					t.Errorf("workload %s has an owner; every generated workload is top-level", w.Ref())
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	if diff := cmp.Diff(Generate(small), Generate(small)); diff != "" {
		t.Errorf("Generate twice with one seed (-first +second):\n%s", diff)
	}
	var a, b, c bytes.Buffer
	for _, x := range []struct {
		buf  *bytes.Buffer
		spec Spec
	}{{&a, small}, {&b, small}, {&c, Spec{Workloads: small.Workloads, ContainersPerWorkload: 3, Services: small.Services, Ingresses: small.Ingresses, NetworkPolicies: small.NetworkPolicies, Namespaces: small.Namespaces, Seed: small.Seed + 1}}} {
		if err := WriteManifests(x.buf, x.spec); err != nil {
			t.Fatalf("WriteManifests: %v", err)
		}
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("WriteManifests twice with one seed gave different output")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("WriteManifests with another seed gave the same output")
	}
}

// TestManifestsLoadBack checks that the YAML is the cluster Generate
// returns: loaded through manifest.Load, it gives the same objects, with no
// error and nothing ignored.
func TestManifestsLoadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteManifests(f, small); err != nil {
		t.Fatalf("WriteManifests: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := manifest.Load(t.Context(), []string{path}, manifest.Options{})
	if err != nil {
		t.Fatalf("manifest.Load: %v", err)
	}
	for _, e := range res.Errors {
		t.Errorf("manifest.Load: %v", e)
	}
	if len(res.Ignored) > 0 {
		t.Errorf("manifest.Load ignored %v, want nothing ignored", res.Ignored)
	}
	if got, want := res.Documents, small.Objects(); got != want {
		t.Errorf("manifest.Load read %d documents, want %d", got, want)
	}
	if diff := cmp.Diff(wantCounts(small), countsOf(&res.Snapshot)); diff != "" {
		t.Errorf("loaded counts (-want +got):\n%s", diff)
	}
	ignoreSource := cmpopts.IgnoreFields(model.Meta{}, "Source")
	if diff := cmp.Diff(Generate(small), &res.Snapshot, ignoreSource); diff != "" {
		t.Errorf("loaded manifests differ from Generate (-generated +loaded):\n%s", diff)
	}
}

// TestMix checks that the cluster has the variety the analyses need to do
// real work: every workload kind and Service type, each risky setting, and
// images from several registries, some pinned.
func TestMix(t *testing.T) {
	snap := Generate(small)
	n := map[string]int{}
	registries := map[string]bool{}
	for _, w := range snap.Workloads {
		n["kind "+string(w.Kind)]++
		t := &w.Template
		if t.HostNetwork {
			n["hostNetwork"]++
		}
		if t.HostPID {
			n["hostPID"]++
		}
		for _, v := range t.Volumes {
			if v.Type == model.VolumeHostPath {
				n["hostPath"]++
			}
		}
		if w.Labels["team"] != "" {
			n["team label"]++
		}
		if w.Status != nil {
			n["pod status"]++
		}
		for _, c := range t.Containers {
			sc := c.SecurityContext
			if sc.Privileged {
				n["privileged"]++
			}
			if len(sc.CapAdd) > 0 {
				n["capAdd"]++
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				n["runAsRoot"]++
			}
			if c.Image.Digest != "" {
				n["pinned"]++
			}
			if c.Image.Error != "" {
				n["invalid image"]++
			}
			if c.Type == model.ContainerInit {
				n["init container"]++
			}
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					n["hostPort"]++
				}
			}
			registries[c.Image.Registry] = true
		}
	}
	for _, s := range snap.Services {
		n["service "+s.Type]++
		if len(s.Selector) == 0 {
			n["service without selector"]++
		}
	}
	for _, in := range snap.Ingresses {
		if len(in.Rules) > 1 {
			n["ingress with several hosts"]++
		}
	}
	for _, ns := range snap.Namespaces {
		if ns.Labels["team"] != "" {
			n["namespace team label"]++
		}
	}
	for _, k := range model.WorkloadKinds {
		if n["kind "+string(k)] == 0 {
			t.Errorf("no workload of kind %s", k)
		}
	}
	for _, k := range []string{"service ClusterIP", "service NodePort", "service LoadBalancer", "service ExternalName", "service without selector",
		"hostNetwork", "hostPID", "hostPath", "privileged", "capAdd", "runAsRoot", "pinned", "invalid image", "init container", "hostPort",
		"pod status", "ingress with several hosts"} {
		if n[k] == 0 {
			t.Errorf("no %s in the mix", k)
		}
	}
	if got := n["team label"]; got < len(snap.Workloads)/2 {
		t.Errorf("%d of %d workloads have a team label, want most", got, len(snap.Workloads))
	}
	if got := n["namespace team label"]; got < len(snap.Namespaces)/2 {
		t.Errorf("%d of %d namespaces have a team label, want most", got, len(snap.Namespaces))
	}
	if len(registries) < 5 {
		t.Errorf("images come from %d registries, want at least 5", len(registries))
	}
	if t.Failed() {
		t.Logf("mix: %v", n)
	}
}

// TestYAMLMatchesSigsYAML checks the YAML writer against the reference:
// every generated document reads back to the same JSON as
// sigs.k8s.io/yaml.Marshal's, and is mostly the same text.
func TestYAMLMatchesSigsYAML(t *testing.T) {
	spec := Spec{Workloads: 300, ContainersPerWorkload: 3, Services: 150, Ingresses: 60, NetworkPolicies: 90, Namespaces: 10, Seed: 3}
	same := 0
	err := each(spec, func(obj any) error {
		ours, err := appendYAML(nil, obj)
		if err != nil {
			return err
		}
		ref, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if bytes.Equal(ours, ref) {
			same++
			return nil
		}
		oursJS, err := yaml.YAMLToJSON(ours)
		if err != nil {
			t.Fatalf("our YAML does not parse: %v\n%s", err, ours)
		}
		refJS, err := yaml.YAMLToJSON(ref)
		if err != nil {
			return err
		}
		if !bytes.Equal(oursJS, refJS) {
			t.Fatalf("YAML differs from sigs.k8s.io/yaml's:\nours:\n%s\nreference:\n%s", ours, ref)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d documents byte-identical to sigs.k8s.io/yaml", same, spec.Objects())
}
