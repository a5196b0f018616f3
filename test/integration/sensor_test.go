//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/sensor"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/testenv"
)

func clientset(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestInventoryFollowsTheCluster checks that creates, updates and deletes
// of every modelled kind reach the live inventory, and that pods roll up
// to their Deployment with their running digests.
func TestInventoryFollowsTheCluster(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	env := newEnvironment(t, "follow", 30100)
	env.create(ctx, t, cs)

	l := startLive(t, cp.RestConfig(), nil)
	sc := scope{namespace: env.NS}
	waitInSync(t, cs, l, sc, true, "initial inventory matches the API server")
	if !l.sensor.Synced() {
		t.Error("Synced() is false after the inventory arrived")
	}
	if st := l.sensor.Status(); !st.Connected || !st.Synced || st.LastSync.IsZero() || st.Server != cp.URL {
		t.Errorf("Status() = %+v, want connected, synced, with a last sync, server %s", st, cp.URL)
	}
	got, _ := l.state.Index()
	// Every fixture but the ServiceAccount (not modelled) and the Node (not
	// in the namespace).
	if n, want := len(stateVersions(l.state, sc)), len(env.objs)-2; n != want {
		t.Errorf("inventory holds %d objects of the namespace, want %d:\n%s", n, want, keysOf(stateVersions(l.state, sc)))
	}

	// Pods roll up to the Deployment through the ReplicaSet.
	dep := model.WorkloadRef{Cluster: cluster, Kind: model.KindDeployment, Namespace: env.NS, Name: "web"}
	if pods := got.Pods(dep); len(pods) != 2 {
		t.Errorf("Deployment web has %d pods, want 2", len(pods))
	}
	if d := cmp.Diff([]string{"sha256:" + env.WebDigest}, got.RunningDigests(dep, "web")); d != "" {
		t.Errorf("running digests of web (-want +got):\n%s", d)
	}
	var top []string
	for _, w := range got.WorkloadsInNamespace(cluster, env.NS) {
		top = append(top, string(w.Kind)+"/"+w.Name)
	}
	wantTop := []string{"CronJob/nightly", "DaemonSet/agent", "Deployment/web", "Job/migrate", "Pod/debug", "ReplicaSet/legacy", "ReplicationController/old-rc", "StatefulSet/db"}
	if d := cmp.Diff(wantTop, top, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("top-level workloads (-want +got):\n%s", d)
	}
	p := workload(l.state, model.KindPod, env.NS, env.WebPods[0])
	if p == nil || p.Status == nil || len(p.Status.Containers) != 1 || p.Status.Containers[0].ContainerID != "containerd://0f00d" || !p.Status.Containers[0].Running || p.Status.PodIP != "10.244.1.10" {
		t.Errorf("pod %s status = %+v, want running container containerd://0f00d at 10.244.1.10", env.WebPods[0], p)
	}

	// Updates.
	d, err := cs.AppsV1().Deployments(env.NS).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	if _, err := cs.AppsV1().Deployments(env.NS).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, env.NS, types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"checkout"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods(env.NS).Get(ctx, "debug", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.ContainerStatuses[0].ContainerID = "containerd://restarted"
	pod.Status.ContainerStatuses[0].RestartCount = 1
	if _, err := cs.CoreV1().Pods(env.NS).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Deletes, and a create after the initial sync.
	deletePod(ctx, t, cs, env.NS, env.WebPods[1])
	if err := cs.CoreV1().Services(env.NS).Delete(ctx, "web-np", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.NetworkingV1().NetworkPolicies(env.NS).Delete(ctx, "allow-web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(env.NS).Create(ctx, deployment(env.NS, "late", "ghcr.io/org/late:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, cs, l, sc, true, "inventory follows updates, deletes and creates")

	if w := workload(l.state, model.KindDeployment, env.NS, "web"); w == nil || w.Template.Containers[0].Image.Tag != "1.28" {
		t.Errorf("Deployment web = %+v, want image tag 1.28", w)
	}
	if w := workload(l.state, model.KindPod, env.NS, "debug"); w == nil || w.Status.Containers[0].ContainerID != "containerd://restarted" {
		t.Errorf("pod debug = %+v, want container containerd://restarted", w)
	}
	ix, _ := l.state.Index()
	if ns := ix.Namespace(cluster, env.NS); ns == nil || ns.Labels["team"] != "checkout" {
		t.Errorf("namespace %s = %+v, want label team=checkout", env.NS, ns)
	}
	if pods := ix.Pods(dep); len(pods) != 1 {
		t.Errorf("Deployment web has %d pods after a delete, want 1", len(pods))
	}
}

func deployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// TestAnswersMatchManifests checks that the four answers are the same
// whether computed from the live inventory or from the same objects loaded
// offline as manifests.
func TestAnswersMatchManifests(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	env := newEnvironment(t, "answers", 30200)
	env.create(ctx, t, cs)
	dir := env.writeManifests(t)

	l := startLive(t, cp.RestConfig(), nil)
	waitInSync(t, cs, l, scope{namespace: env.NS}, false, "inventory matches the API server")
	liveIx, _ := l.state.Index()

	res, err := manifest.Load(ctx, []string{dir}, manifest.Options{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("loading manifests: %v", res.Errors)
	}
	offIx := inventory.New(&res.Snapshot)

	engine, err := answer.NewEngine(answer.Config{TrustedRegistries: []string{"docker.io", "registry.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	ignore := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".GeneratedAt" }, cmp.Ignore()),
		cmpopts.IgnoreFields(model.Meta{}, "Source", "ResourceVersion", "UID", "CreatedAt"),
		cmpopts.EquateEmpty(),
	}
	f := answer.Filter{Cluster: cluster, Namespace: env.NS}
	for _, q := range []string{answer.ImageSources, answer.Privileged, answer.Exposed, answer.Owners} {
		t.Run(q, func(t *testing.T) {
			want, err := engine.Ask(offIx, q, f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := engine.Ask(liveIx, q, f)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, ignore); d != "" {
				t.Errorf("%s: live answer differs from the manifests' (-manifests +live):\n%s", q, d)
			}
			if n := itemCount(got); n == 0 {
				t.Errorf("%s: no items; the fixture should exercise every question", q)
			}
		})
	}
}

// itemCount returns len(Items) of an *answer.Answer[T].
func itemCount(a any) int {
	return reflect.ValueOf(a).Elem().FieldByName("Items").Len()
}

// TestRestartsLoseNothing restarts the API server while the cluster
// changes, forces a relist by compacting etcd behind a stopped API server,
// and restarts the sensor after changes made while it was away. After each,
// the state and the store must hold exactly what the API server lists.
func TestRestartsLoseNothing(t *testing.T) {
	t.Parallel()
	cp := testenv.StartT(t, testenv.Options{})
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	env := newEnvironment(t, "restart", 30300)
	env.create(ctx, t, cs)
	all := scope{}

	l := startLive(t, cp.RestConfig(), nil)
	waitInSync(t, cs, l, all, true, "initial inventory matches the API server")

	// Changes just before the restart, which the sensor may or may not
	// have seen when the API server goes away.
	if _, err := cs.AppsV1().Deployments(env.NS).Create(ctx, deployment(env.NS, "before", "nginx:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deletePod(ctx, t, cs, env.NS, env.WebPods[0])
	restart := time.Now()
	if err := cp.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted in %s", time.Since(restart).Round(time.Millisecond))
	// Changes right after, while the sensor's reflectors are backing off.
	if _, err := cs.AppsV1().Deployments(env.NS).Create(ctx, deployment(env.NS, "after", "nginx:2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Services(env.NS).Delete(ctx, "web-np", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, env.NS, types.MergePatchType, []byte(`{"metadata":{"labels":{"restarted":"yes"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, cs, l, all, true, "inventory matches the API server after its restart")
	t.Logf("sensor status after the restart: %+v", l.sensor.Status())

	// A watch that expires: with the API server down, delete objects
	// straight from etcd and compact its history. No watch event will ever
	// announce those deletes, and resuming a watch from the sensor's
	// resource version fails with 410 Gone: only a relist, and the
	// tombstones it produces, can bring the inventory back in line.
	if err := cp.StopAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"/registry/pods/" + env.NS + "/" + env.WebPods[1],
		"/registry/services/specs/" + env.NS + "/ext-db",
		"/registry/deployments/" + env.NS + "/before",
	} {
		if err := cp.EtcdDelete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cp.EtcdCompact(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(env.NS).Create(ctx, deployment(env.NS, "relisted", "nginx:3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, cs, l, all, true, "inventory matches the API server after a forced relist")
	for _, gone := range []model.Key{
		{Cluster: cluster, Kind: model.KindPod, Namespace: env.NS, Name: env.WebPods[1]},
		{Cluster: cluster, Kind: model.KindService, Namespace: env.NS, Name: "ext-db"},
	} {
		if _, ok := stateVersions(l.state, all)[gone]; ok {
			t.Errorf("%s is still in the inventory", gone)
		}
	}

	// Changes while Palisade is away: the next sensor's first Replace
	// removes what was deleted meanwhile from the stored inventory.
	l.stop()
	if err := cs.AppsV1().Deployments(env.NS).Delete(ctx, "after", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.BatchV1().Jobs(env.NS).Delete(ctx, "migrate", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(env.NS).Create(ctx, deployment(env.NS, "while-away", "nginx:4"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l2 := startLive(t, cp.RestConfig(), l.store)
	waitInSync(t, cs, l2, all, true, "a restarted sensor catches up with changes made while it was away")
}

// TestCheck checks the errors Check gives for the usual mistakes.
func TestCheck(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()

	if err := sensor.Check(ctx, cp.RestConfig()); err != nil {
		t.Fatalf("Check(admin) = %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()
	unauthorized := cp.RestConfig()
	unauthorized.CertData, unauthorized.KeyData = nil, nil
	unauthorized.BearerToken = "not-a-valid-token"
	untrusted := cp.RestConfig()
	untrusted.CAData = nil
	nobody, err := cp.UserConfig("nobody")
	if err != nil {
		t.Fatal(err)
	}
	podReader, err := cp.UserConfig("pod-reader")
	if err != nil {
		t.Fatal(err)
	}
	grantPods(ctx, t, clientset(t, cp.RestConfig()), "pod-reader", podReader)

	for _, tc := range []struct {
		name    string
		cfg     *rest.Config
		is      error
		want    []string
		notWant *regexp.Regexp
	}{
		{"unreachable", &rest.Config{Host: closed}, sensor.ErrUnreachable,
			[]string{"cannot reach the Kubernetes API server at " + closed + ": ", "check --kubeconfig or KUBECONFIG"}, nil},
		{"wrong token", unauthorized, sensor.ErrUnauthorized,
			[]string{"at " + cp.URL + " rejected the credentials (401 Unauthorized)", "check --kubeconfig or KUBECONFIG"}, nil},
		{"unknown CA", untrusted, sensor.ErrUnreachable,
			[]string{"cannot verify the TLS certificate of the Kubernetes API server at " + cp.URL, "certificate-authority"}, nil},
		{"no RBAC", nobody, sensor.ErrForbidden,
			[]string{"missing RBAC permission", "cannot list cronjobs.batch, daemonsets.apps, deployments.apps, ingresses.networking.k8s.io, jobs.batch, namespaces, networkpolicies.networking.k8s.io, nodes, pods, replicasets.apps, replicationcontrollers, services, statefulsets.apps cluster-wide", `User "nobody"`, "kubectl create clusterrole palisade-sensor --verb=get,list,watch"}, nil},
		{"pods only", podReader, sensor.ErrForbidden,
			[]string{"cannot list cronjobs.batch", "deployments.apps"}, regexp.MustCompile(`\bpods\b`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := sensor.Check(ctx, tc.cfg)
			t.Logf("Check: %v (%s)", err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, tc.is) {
				t.Fatalf("Check() = %v, want an error wrapping %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if tc.notWant != nil && tc.notWant.MatchString(err.Error()) {
				t.Errorf("error matches %s:\n%v", tc.notWant, err)
			}
			if time.Since(start) > sensor.CheckTimeout+time.Second {
				t.Errorf("Check took %s, over its timeout", time.Since(start))
			}
		})
	}
}

// grantPods lets user get, list and watch pods cluster-wide, and waits
// until the API server's authorizer knows.
func grantPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, user string, userCfg *rest.Config) {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	userCS := clientset(t, userCfg)
	eventually(t, 10*time.Second, "RBAC grant effective", func() (bool, string) {
		_, err := userCS.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, fmt.Sprint(err)
	})
}

// flakySink drops the first writes it is given, as a remote server that is
// briefly unavailable would: unlike *state.State, it keeps nothing of a
// failed write.
type flakySink struct {
	next sensor.Sink

	mu           sync.Mutex
	failReplaces int
	failApplies  int
	replaces     int
}

func (f *flakySink) Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error {
	f.mu.Lock()
	fail := f.failApplies > 0
	if fail {
		f.failApplies--
	}
	f.mu.Unlock()
	if fail {
		return errors.New("sink unavailable")
	}
	return f.next.Apply(ctx, upserts, deletes)
}

func (f *flakySink) Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error {
	f.mu.Lock()
	fail := f.failReplaces > 0
	if fail {
		f.failReplaces--
	} else {
		f.replaces++
	}
	f.mu.Unlock()
	if fail {
		return errors.New("sink unavailable")
	}
	return f.next.Replace(ctx, cluster, kinds, objs)
}

// TestSinkFailuresHeal checks that writes a sink refused are made good: the
// sensor writes the whole cluster again once the sink answers.
func TestSinkFailuresHeal(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	env := newEnvironment(t, "flaky", 30400)
	env.create(ctx, t, cs)

	st := state.New(openStore(t, filepath.Join(t.TempDir(), "palisade.db")), testLogger(t))
	sink := &flakySink{next: st, failReplaces: 1}
	s, err := sensor.New(sensor.Config{Cluster: cluster, Rest: cp.RestConfig(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx, sink) }()
	t.Cleanup(func() { cancel(); <-done })
	l := &live{sensor: s, state: st}
	sc := scope{namespace: env.NS}
	waitInSync(t, cs, l, sc, false, "inventory arrives after a refused first Replace")

	sink.mu.Lock()
	sink.failApplies = 2
	sink.mu.Unlock()
	deletePod(ctx, t, cs, env.NS, "debug")
	if err := cs.CoreV1().Services(env.NS).Delete(ctx, "web-lb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, cs, l, sc, false, "changes arrive after refused Applies")
	if st := s.Status(); !strings.Contains(st.LastError, "sink unavailable") {
		t.Errorf("Status().LastError = %q, want the sink's error", st.LastError)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.replaces < 2 {
		t.Errorf("%d successful Replaces, want at least 2 (the first, and one after the refused Apply)", sink.replaces)
	}
}
