// Package synth generates synthetic clusters for benchmarks and load tests:
// a deterministic (seeded) mix of every workload kind, Services of every
// type, Ingresses and NetworkPolicies, with a realistic share of risky
// settings (privileged containers, host namespaces, hostPath volumes, added
// capabilities, root users) and images from several registries.
//
// The same Spec gives the same cluster two ways: Generate returns it as an
// inventory snapshot, WriteManifests as multi-document Kubernetes YAML, so a
// benchmark can measure the real loading path (manifest.Load, then
// kubemodel) and compare it with the snapshot it should produce. Both are
// built from the same stream of typed Kubernetes API objects, converted by
// internal/kubemodel exactly as the sensor and the manifest loader convert
// them.
package synth

import (
	"bufio"
	"fmt"
	"io"

	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/model"
)

// Spec sizes a synthetic cluster. Negative counts are taken as 0; a
// cluster with workloads has at least one namespace, and every workload at
// least one container.
type Spec struct {
	// Workloads counts top-level workloads of every kind (Deployment,
	// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job,
	// CronJob, bare Pod). None has an owner, so an inventory index sees
	// exactly this many.
	Workloads int `json:"workloads"`
	// ContainersPerWorkload counts the containers of each pod template,
	// init containers included.
	ContainersPerWorkload int `json:"containersPerWorkload"`
	Services              int `json:"services"`
	Ingresses             int `json:"ingresses"`
	NetworkPolicies       int `json:"networkPolicies"`
	Namespaces            int `json:"namespaces"`
	// Seed chooses the cluster: the same Spec always gives the same objects.
	Seed int64 `json:"seed"`
}

// Default10k is the size of Palisade's acceptance target: 10,000 workloads
// with 30,000 containers, 5,000 Services, 2,000 Ingresses and 3,000
// NetworkPolicies in 200 namespaces.
func Default10k() Spec {
	return Spec{
		Workloads:             10_000,
		ContainersPerWorkload: 3,
		Services:              5_000,
		Ingresses:             2_000,
		NetworkPolicies:       3_000,
		Namespaces:            200,
		Seed:                  1,
	}
}

// Normalized returns the spec with the defaults Generate applies: negative
// counts are 0, and a spec with workloads has at least one namespace and
// one container per workload.
func (s Spec) Normalized() Spec {
	for _, p := range []*int{&s.Workloads, &s.ContainersPerWorkload, &s.Services, &s.Ingresses, &s.NetworkPolicies, &s.Namespaces} {
		*p = max(*p, 0)
	}
	s.ContainersPerWorkload = max(s.ContainersPerWorkload, 1)
	if s.Workloads+s.Services+s.Ingresses+s.NetworkPolicies > 0 {
		s.Namespaces = max(s.Namespaces, 1)
	}
	return s
}

// Containers is the number of containers the spec generates.
func (s Spec) Containers() int {
	n := s.Normalized()
	return n.Workloads * n.ContainersPerWorkload
}

// Objects is the number of objects (documents) the spec generates.
func (s Spec) Objects() int {
	n := s.Normalized()
	return n.Workloads + n.Services + n.Ingresses + n.NetworkPolicies + n.Namespaces
}

// Generate returns the cluster of s as an inventory snapshot of cluster
// model.DefaultCluster, in the order WriteManifests writes it. Each object's
// Source is "synth#N", N being its document number in WriteManifests.
func Generate(s Spec) *model.Snapshot {
	snap := &model.Snapshot{}
	doc := 0
	err := each(s, func(obj any) error {
		doc++
		o, err := kubemodel.Convert(model.DefaultCluster, fmt.Sprintf("synth#%d", doc), obj)
		if err != nil {
			// Every generated object is of a kind kubemodel converts.
			panic(fmt.Sprintf("synth: converting generated %T: %v", obj, err))
		}
		snap.Add(o)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("synth: %v", err))
	}
	return snap
}

// WriteManifests writes the cluster of s as multi-document Kubernetes YAML,
// one object per document, namespaces first. Objects are generated and
// written one at a time, so memory stays small whatever the size.
func WriteManifests(w io.Writer, s Spec) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	err := each(s, func(obj any) error {
		var err error
		buf, err = appendYAML(append(buf[:0], "---\n"...), obj)
		if err != nil {
			return fmt.Errorf("encoding %T: %w", obj, err)
		}
		_, err = bw.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("writing synthetic manifests: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing synthetic manifests: %w", err)
	}
	return nil
}
