package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/model"
)

// syntheticSnapshot builds an inventory of n Deployments, 100 to a
// namespace, each with three containers and a Service. Every few workloads
// carry something the questions report: privileged containers, hostPaths,
// LoadBalancer and NodePort Services, untrusted and unpinned images.
func syntheticSnapshot(n int) *model.Snapshot {
	const perNS = 100
	snap := &model.Snapshot{}
	registries := []struct{ registry, repo string }{
		{"ghcr.io", "acme/api"}, {"docker.io", "library/nginx"}, {"quay.io", "prometheus/node-exporter"}, {"registry.internal", "team/worker"},
	}
	no := false
	for i := range n {
		ns := fmt.Sprintf("ns-%03d", i/perNS)
		if i%perNS == 0 {
			labels := map[string]string{}
			if i%(2*perNS) == 0 {
				labels["team"] = fmt.Sprintf("team-%d", i/perNS)
			}
			snap.Add(&model.Namespace{Meta: model.Meta{Cluster: "default", Name: ns, Labels: labels}})
		}
		name := fmt.Sprintf("app-%05d", i)
		labels := map[string]string{"app": name}
		w := &model.Workload{
			Meta:     model.Meta{Cluster: "default", Namespace: ns, Name: name, Labels: map[string]string{}},
			Kind:     model.KindDeployment,
			Selector: &model.LabelSelector{MatchLabels: labels},
			Template: model.PodTemplate{Labels: labels},
		}
		if i%3 == 0 {
			w.Labels["owner"] = "team-" + ns
		}
		for c := range 3 {
			r := registries[(i+c)%len(registries)]
			img := model.ImageRef{Registry: r.registry, Repository: r.repo, Tag: fmt.Sprintf("1.%d", i%50)}
			if (i+c)%5 == 0 {
				img.Digest = fmt.Sprintf("sha256:%064x", i*3+c)
			}
			img.Original = img.String()
			ctr := model.Container{Name: fmt.Sprintf("c%d", c), Type: model.ContainerRegular, Image: img,
				Ports: []model.ContainerPort{{ContainerPort: int32(8080 + c), Protocol: "TCP"}}}
			if c > 0 {
				ctr.SecurityContext.AllowPrivilegeEscalation = &no
			}
			if i%10 == 0 && c == 0 {
				ctr.SecurityContext.Privileged = true
			}
			w.Template.Containers = append(w.Template.Containers, ctr)
		}
		if i%7 == 0 {
			w.Template.Volumes = append(w.Template.Volumes, model.Volume{Name: "host", Type: model.VolumeHostPath, HostPath: "/var/log"})
			w.Template.Containers[1].VolumeMounts = append(w.Template.Containers[1].VolumeMounts, model.VolumeMount{Name: "host", MountPath: "/host/log", ReadOnly: true})
		}
		snap.Add(w)
		svc := &model.Service{Meta: model.Meta{Cluster: "default", Namespace: ns, Name: name}, Type: "ClusterIP", Selector: labels,
			Ports: []model.ServicePort{{Protocol: "TCP", Port: 80, TargetPort: "8080"}}}
		switch {
		case i%20 == 0:
			svc.Type = "LoadBalancer"
			svc.Ports[0].NodePort = int32(30000 + i%2000)
		case i%15 == 0:
			svc.Type = "NodePort"
			svc.Ports[0].NodePort = int32(30000 + i%2000)
		}
		snap.Add(svc)
	}
	return snap
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the server and not a recorder's copy.
type discard struct {
	header http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) WriteHeader(code int)        { d.status = code }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkQuestion serves each question over 10,000 workloads through the
// whole handler (auth with an in-memory token store, routing, logging to a
// discarded handler, metrics). "cached" repeats requests at one inventory
// generation; "uncached" starts a new generation before every request, so
// each one computes and encodes its answer. It reports the p99 latency and
// the response size besides ns/op.
func BenchmarkQuestion(b *testing.B) {
	engine, err := answer.NewEngine(answer.Config{TrustedRegistries: []string{"ghcr.io/acme"}})
	if err != nil {
		b.Fatal(err)
	}
	inv := newFakeInventory(syntheticSnapshot(10_000))
	tokens := newFakeTokens()
	secret := addToken(b, tokens, "bench", auth.RoleViewer)
	h := New(Options{Inventory: inv, Answers: engine, Tokens: tokens, Logger: slog.New(slog.DiscardHandler)})
	for _, q := range answer.Questions {
		for _, mode := range []string{"cached", "uncached"} {
			b.Run(q.Name+"/"+mode, func(b *testing.B) {
				req := httptest.NewRequest("GET", "/api/v1/questions/"+q.Name, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				w := &discard{header: http.Header{}}
				h.ServeHTTP(w, req) // warm the cache
				var lat []time.Duration
				for b.Loop() {
					if mode == "uncached" {
						inv.bump()
					}
					w.header, w.n = http.Header{}, 0
					start := time.Now()
					h.ServeHTTP(w, req)
					lat = append(lat, time.Since(start))
					if w.status != http.StatusOK {
						b.Fatalf("status %d", w.status)
					}
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(w.n), "resp-bytes")
			})
		}
	}
}
