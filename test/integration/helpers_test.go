//go:build integration

package integration

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sensor"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

const cluster = "it"

// live is a sensor writing into a state backed by a SQLite store: the
// server's single-process mode.
type live struct {
	sensor *sensor.Sensor
	state  *state.State
	store  *sqlite.Store
	stop   func()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// openStore opens (or reopens) the SQLite store at path, closed with the test.
func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, testLogger(t))
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startLive runs a sensor for cfg into a state over store (a new store in
// a temporary directory when nil) until the test ends or stop is called.
func startLive(t *testing.T, cfg *rest.Config, store *sqlite.Store) *live {
	t.Helper()
	if store == nil {
		store = openStore(t, filepath.Join(t.TempDir(), "palisade.db"))
	}
	log := testLogger(t)
	st := state.New(store, log)
	if err := st.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := sensor.New(sensor.Config{Cluster: cluster, Rest: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, st) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sensor.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("sensor.Run did not return 30 s after its context ended")
		}
	}
	t.Cleanup(stop)
	return &live{sensor: s, state: st, store: store, stop: stop}
}

// eventually polls cond until it holds or timeout passes; cond returns why
// it does not hold yet.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		ok, why := cond()
		if ok {
			t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s:\n%s", what, timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// versions maps object keys to resource versions.
type versions map[model.Key]string

// scope limits a comparison to one namespace (and the Namespace object
// itself), or to the whole cluster when namespace is empty.
type scope struct{ namespace string }

func (s scope) has(k model.Key) bool {
	if s.namespace == "" {
		return true
	}
	return k.Namespace == s.namespace || k.Kind == model.KindNamespace && k.Name == s.namespace
}

func stateVersions(st *state.State, sc scope) versions {
	ix, _ := st.Index()
	return snapshotVersions(ix.Snapshot(), sc)
}

func snapshotVersions(snap *model.Snapshot, sc scope) versions {
	out := versions{}
	for _, o := range snap.Objects() {
		if k := o.ObjectKey(); sc.has(k) {
			if _, dup := out[k]; dup {
				out[k] = "DUPLICATE"
				continue
			}
			out[k] = o.ObjectMeta().ResourceVersion
		}
	}
	return out
}

// apiVersions lists, from the API server, every object of the modelled kinds
// in scope.
func apiVersions(ctx context.Context, cs kubernetes.Interface, sc scope) (versions, error) {
	out := versions{}
	add := func(kind model.Kind, items []metav1.Object) {
		for _, o := range items {
			k := model.Key{Cluster: cluster, Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}
			if sc.has(k) {
				out[k] = o.GetResourceVersion()
			}
		}
	}
	ns := sc.namespace
	opts := metav1.ListOptions{}
	var errs []error
	list := func(kind model.Kind, f func() ([]metav1.Object, error)) {
		items, err := f()
		if err != nil {
			errs = append(errs, fmt.Errorf("listing %s: %w", kind, err))
			return
		}
		add(kind, items)
	}
	list(model.KindDeployment, func() ([]metav1.Object, error) {
		l, err := cs.AppsV1().Deployments(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindStatefulSet, func() ([]metav1.Object, error) {
		l, err := cs.AppsV1().StatefulSets(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindDaemonSet, func() ([]metav1.Object, error) {
		l, err := cs.AppsV1().DaemonSets(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindReplicaSet, func() ([]metav1.Object, error) {
		l, err := cs.AppsV1().ReplicaSets(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindReplicationController, func() ([]metav1.Object, error) {
		l, err := cs.CoreV1().ReplicationControllers(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindJob, func() ([]metav1.Object, error) {
		l, err := cs.BatchV1().Jobs(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindCronJob, func() ([]metav1.Object, error) {
		l, err := cs.BatchV1().CronJobs(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindPod, func() ([]metav1.Object, error) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindService, func() ([]metav1.Object, error) {
		l, err := cs.CoreV1().Services(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindIngress, func() ([]metav1.Object, error) {
		l, err := cs.NetworkingV1().Ingresses(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindNetworkPolicy, func() ([]metav1.Object, error) {
		l, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindNamespace, func() ([]metav1.Object, error) {
		l, err := cs.CoreV1().Namespaces().List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	list(model.KindNode, func() ([]metav1.Object, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, opts)
		return items(l, err, func() []metav1.Object { return ptrs(l.Items) })
	})
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return out, nil
}

func items[L any](l *L, err error, f func() []metav1.Object) ([]metav1.Object, error) {
	if err != nil {
		return nil, err
	}
	return f(), nil
}

// ptrs returns pointers to a list's items as metav1.Objects.
func ptrs[T any, PT interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = PT(&items[i])
	}
	return out
}

// waitInSync waits until the state (and, with checkStore, the store) holds
// exactly the objects the API server lists in scope, each at the API
// server's resource version: nothing lost, nothing stale, nothing extra.
func waitInSync(t *testing.T, cs kubernetes.Interface, l *live, sc scope, checkStore bool, what string) {
	t.Helper()
	// Generous: after an API server outage, client-go's reflectors retry
	// with exponential backoff (0.8 s doubling up to 30 s, reset after two
	// quiet minutes), so a second outage soon after the first can keep
	// the sensor away for tens of seconds. The usual wait is under 3 s.
	eventually(t, 90*time.Second, what, func() (bool, string) {
		want, err := apiVersions(t.Context(), cs, sc)
		if err != nil {
			return false, err.Error()
		}
		if d := cmp.Diff(want, stateVersions(l.state, sc)); d != "" {
			return false, "state differs from the API server (-api +state):\n" + d
		}
		if checkStore {
			snap, err := l.store.Snapshot(t.Context(), cluster)
			if err != nil {
				return false, err.Error()
			}
			if d := cmp.Diff(want, snapshotVersions(snap, sc)); d != "" {
				return false, "store differs from the API server (-api +store):\n" + d
			}
		}
		return true, ""
	})
}

// workload returns the state's workload with key k, or nil.
func workload(st *state.State, kind model.Kind, ns, name string) *model.Workload {
	ix, _ := st.Index()
	for _, w := range ix.Snapshot().Workloads {
		if w.Kind == kind && w.Namespace == ns && w.Name == name {
			return w
		}
	}
	return nil
}

func keysOf(v versions) string {
	var out []string
	for k := range v {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// deletePod deletes a pod at once: without a kubelet, a graceful deletion
// would wait forever for one to confirm.
func deletePod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("deleting pod %s/%s: %v", ns, name, err)
	}
}
