// Package lab runs a local Kubernetes lab for people trying Palisade: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok in the
// background (internal/testenv, detached), a few fake nodes, and an example
// environment applied to it, so that Deployments get pods that "run" with
// IPs and statuses. Everything lives in one directory (default
// ~/.cache/palisade/lab): certificates, etcd data, pid and log files, and
// the kubeconfig to give `palisade server --kubeconfig`.
//
// The lab keeps its data between Down and Up; Purge removes it.
package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-project/palisade/internal/testenv"
)

// DefaultEnvironment is the example environment applied by default,
// relative to the repository root.
const DefaultEnvironment = "internal/demo/environment"

// FieldManager owns what the lab applies (server-side apply).
const FieldManager = "palisade-lab"

// Options configure Up. Zero values take the defaults.
type Options struct {
	// Dir holds the lab (default DefaultDir()).
	Dir string
	// Environment is a directory (or file) of YAML manifests to apply.
	// Default: DefaultEnvironment in the source tree, skipped when absent.
	// "-" applies nothing.
	Environment string
	// Nodes is how many fake nodes to create besides those the
	// environment declares (default 3).
	Nodes int
	// Logger receives progress messages (default: discarded).
	Logger *slog.Logger
}

// DefaultDir returns ~/.cache/palisade/lab (or $PALISADE_CACHE/lab).
func DefaultDir() (string, error) {
	if c := os.Getenv("PALISADE_CACHE"); c != "" {
		return filepath.Join(c, "lab"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "palisade", "lab"), nil
}

// Info describes a running lab.
type Info struct {
	Dir        string
	Kubeconfig string
	URL        string
	BinDir     string
	// Environment is what was applied ("" when nothing was).
	Environment string
	Applied     int
	// AlreadyRunning is set when Up found the lab running.
	AlreadyRunning bool
	Nodes          int
	Pods           int
	PodsRunning    int
}

// Instructions tells a person what they can do with the lab.
func (i *Info) Instructions() string {
	var b strings.Builder
	if i.AlreadyRunning {
		fmt.Fprintf(&b, "The Palisade lab was already running.\n")
	} else {
		fmt.Fprintf(&b, "The Palisade lab is up.\n")
	}
	fmt.Fprintf(&b, "  API server:  %s\n  kubeconfig:  %s\n  files:       %s (logs: *.log)\n", i.URL, i.Kubeconfig, i.Dir)
	fmt.Fprintf(&b, "  nodes:       %d fake (kwok)\n  pods:        %d of %d running\n", i.Nodes, i.PodsRunning, i.Pods)
	if i.Environment != "" {
		fmt.Fprintf(&b, "  applied:     %d objects from %s\n", i.Applied, i.Environment)
	}
	fmt.Fprintf(&b, "\nRun Palisade against it:\n  go run ./cmd/palisade server --kubeconfig %s\n", i.Kubeconfig)
	fmt.Fprintf(&b, "\nLook around with kubectl:\n  export KUBECONFIG=%s\n  %s get pods -A -o wide\n", i.Kubeconfig, filepath.Join(i.BinDir, "kubectl"))
	fmt.Fprintf(&b, "\nStop it with hack/lab.sh down (add --purge to delete its data).\n")
	return b.String()
}

// Up starts the lab, or finds it running, and applies the environment. The
// first run builds the control-plane binaries (about 10 minutes; cached).
func Up(ctx context.Context, opts Options) (*Info, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	log := opts.Logger
	var err error
	if opts.Dir == "" {
		if opts.Dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	env, err := environmentPath(opts.Environment)
	if err != nil {
		return nil, err
	}

	info := &Info{Dir: opts.Dir}
	st, running, err := testenv.LoadState(opts.Dir)
	switch {
	case err == nil && len(running) == 5:
		info.AlreadyRunning = true
		info.Kubeconfig, info.URL, info.BinDir = st.Kubeconfig, st.URL, st.BinDir
		log.Info("lab already running", "dir", opts.Dir, "url", st.URL)
	case err == nil && len(running) > 0:
		log.Info("lab partly running; restarting it", "running", keys(running))
		if err := testenv.StopDir(opts.Dir); err != nil {
			return nil, err
		}
		fallthrough
	default:
		log.Info("locating the control-plane binaries (the first run builds them: about 10 minutes)")
		bin, err := testenv.BinDir(ctx)
		if err != nil {
			return nil, err
		}
		log.Info("starting the control plane", "dir", opts.Dir)
		cp, err := testenv.Start(ctx, testenv.Options{BinDir: bin, Dir: opts.Dir, Cluster: true, Detached: true, Fsync: true, Logger: log})
		if err != nil {
			return nil, err
		}
		info.Kubeconfig, info.URL, info.BinDir = cp.Kubeconfig, cp.URL, bin
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", info.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading the lab's kubeconfig: %w", err)
	}
	cfg.UserAgent = FieldManager
	cfg.WarningHandler = warningLogger{log}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := createNodes(ctx, cs, opts.Nodes); err != nil {
		return nil, err
	}
	if env != "" {
		n, err := Apply(ctx, cfg, env, log)
		if err != nil {
			return nil, err
		}
		info.Environment, info.Applied = env, n
	}
	waitForPods(ctx, cs, 60*time.Second, log)
	info.Nodes, info.Pods, info.PodsRunning = count(ctx, cs)
	return info, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// environmentPath resolves Options.Environment.
func environmentPath(p string) (string, error) {
	switch p {
	case "-":
		return "", nil
	case "":
		root, err := testenv.RepoRoot()
		if err != nil {
			return "", nil
		}
		p = filepath.Join(root, DefaultEnvironment)
		if _, err := os.Stat(p); err != nil {
			return "", nil
		}
		return p, nil
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("environment: %w", err)
	}
	return filepath.Abs(p)
}

// createNodes creates n fake nodes kwok manages, if they do not exist.
func createNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := 1; i <= n; i++ {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("lab-node-%d", i),
				Annotations: map[string]string{testenv.FakeNodeAnnotation: "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": fmt.Sprintf("lab-node-%d", i)},
			},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"), corev1.ResourcePods: resource.MustParse("110"),
			}},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", node.Name, err)
		}
	}
	return nil
}

// maxManifestBytes bounds one manifest file.
const maxManifestBytes = 16 << 20

// Apply applies every object of the YAML files under path with server-side
// apply, namespaces and nodes first, retrying objects that fail because
// something they need is not there yet (a namespace's default service
// account, for example). Nodes get kwok's annotation so that pods run on
// them; the status of Services and Ingresses (load-balancer addresses,
// which no controller writes in the lab) is applied too. It returns how
// many objects it applied.
func Apply(ctx context.Context, cfg *rest.Config, path string, log *slog.Logger) (int, error) {
	objs, err := readObjects(path)
	if err != nil {
		return 0, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.WarningHandler == nil {
		cfg.WarningHandler = warningLogger{log}
	}
	dc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	groups, err := restmapper.GetAPIGroupResources(dc.Discovery())
	if err != nil {
		return 0, fmt.Errorf("discovering the API: %w", err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	rank := func(o *unstructured.Unstructured) int {
		switch o.GetKind() {
		case "Namespace":
			return 0
		case "Node":
			return 1
		}
		return 2
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })

	applyOne := func(o *unstructured.Unstructured) error {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if o.GetNamespace() == "" {
				o.SetNamespace("default")
			}
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if o.GetKind() == "Node" {
			a := o.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			a[testenv.FakeNodeAnnotation] = "fake"
			o.SetAnnotations(a)
		}
		opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
		if _, err := ri.Apply(ctx, o.GetName(), o, opts); err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, describe(o), err)
		}
		if _, ok := o.Object["status"]; ok && (o.GetKind() == "Service" || o.GetKind() == "Ingress") {
			if _, err := ri.ApplyStatus(ctx, o.GetName(), o, opts); err != nil {
				return fmt.Errorf("applying the status of %s %s: %w", gvk.Kind, describe(o), err)
			}
		}
		return nil
	}

	pending := objs
	deadline := time.Now().Add(60 * time.Second)
	for {
		var failed []*unstructured.Unstructured
		var errs []error
		for _, o := range pending {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if err := applyOne(o); err != nil {
				failed = append(failed, o)
				errs = append(errs, err)
			}
		}
		if len(failed) == 0 {
			log.Info("environment applied", "path", path, "objects", len(objs))
			return len(objs), nil
		}
		if time.Now().After(deadline) {
			return 0, errors.Join(errs...)
		}
		log.Info("some objects are not applied yet; retrying", "objects", len(failed), "first", errs[0])
		pending = failed
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// warningLogger passes the API server's warnings (deprecated fields, for
// example) to the logger instead of klog.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeader(code int, agent, text string) {
	w.log.Warn("API server warning", "warning", text)
}

func describe(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// readObjects reads the YAML or JSON documents of a file or a directory.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	var files []string
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if d.Type().IsRegular() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		data, err := readBounded(f)
		if err != nil {
			return nil, err
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for doc := 1; ; doc++ {
			raw, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f, doc, err)
			}
			var m map[string]any
			if err := k8syaml.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f, doc, err)
			}
			if len(m) == 0 {
				continue
			}
			o := &unstructured.Unstructured{Object: m}
			if o.GetKind() == "" || o.GetAPIVersion() == "" || o.GetName() == "" {
				return nil, fmt.Errorf("%s: document %d: apiVersion, kind and metadata.name are required", f, doc)
			}
			if o.IsList() {
				return nil, fmt.Errorf("%s: document %d: List kinds are not supported by the lab; write one object per document", f, doc)
			}
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Kubernetes objects found", path)
	}
	return out, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxManifestBytes)
	}
	return data, nil
}

// waitForPods waits, at most timeout, until the cluster has settled: every
// node Ready, every Deployment, StatefulSet and DaemonSet with all its
// replicas ready, and no pod Pending. kwok runs pods within seconds once
// the scheduler has placed them.
func waitForPods(ctx context.Context, cs kubernetes.Interface, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	why := ""
	for {
		if why = unsettled(ctx, cs); why == "" {
			return
		}
		select {
		case <-ctx.Done():
			log.Warn("the lab has not settled", "after", timeout, "waiting for", why)
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// unsettled says what the cluster is still doing, or "" when it is done.
func unsettled(ctx context.Context, cs kubernetes.Interface) string {
	opts := metav1.ListOptions{}
	nodes, err := cs.CoreV1().Nodes().List(ctx, opts)
	if err != nil {
		return err.Error()
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return "node " + n.Name + " to be Ready"
		}
	}
	deps, err := cs.AppsV1().Deployments("").List(ctx, opts)
	if err != nil {
		return err.Error()
	}
	for _, d := range deps.Items {
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas != want {
			return "Deployment " + d.Namespace + "/" + d.Name
		}
	}
	sets, err := cs.AppsV1().StatefulSets("").List(ctx, opts)
	if err != nil {
		return err.Error()
	}
	for _, s := range sets.Items {
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != want {
			return "StatefulSet " + s.Namespace + "/" + s.Name
		}
	}
	daemons, err := cs.AppsV1().DaemonSets("").List(ctx, opts)
	if err != nil {
		return err.Error()
	}
	for _, d := range daemons.Items {
		if d.Status.ObservedGeneration < d.Generation || d.Status.DesiredNumberScheduled == 0 || d.Status.NumberReady != d.Status.DesiredNumberScheduled {
			return "DaemonSet " + d.Namespace + "/" + d.Name
		}
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, opts)
	if err != nil {
		return err.Error()
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
			return "pod " + p.Namespace + "/" + p.Name
		}
	}
	return ""
}

func count(ctx context.Context, cs kubernetes.Interface) (nodes, pods, running int) {
	if l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		nodes = len(l.Items)
	}
	if l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
		pods = len(l.Items)
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
	}
	return nodes, pods, running
}

// Down stops the lab's processes, keeping its data for the next Up.
func Down(ctx context.Context, dir string) error {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return err
		}
	}
	return testenv.StopDir(dir)
}

// Purge stops the lab and deletes its directory. It refuses a directory
// that does not look like a lab's.
func Purge(ctx context.Context, dir string) error {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return err
		}
	}
	if err := Down(ctx, dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if entries, rerr := os.ReadDir(dir); rerr == nil && len(entries) > 0 {
				return fmt.Errorf("%s does not look like a Palisade lab (no state.json): not deleting it", dir)
			}
			return os.RemoveAll(dir)
		}
		return err
	}
	return os.RemoveAll(dir)
}

// StatusInfo is what Status reports.
type StatusInfo struct {
	Dir        string
	Kubeconfig string
	URL        string
	// Components maps each component to its pid; absent ones are stopped.
	Components map[string]int
	// Ready is true when kube-apiserver answers /readyz.
	Ready       bool
	Nodes       int
	Pods        int
	PodsRunning int
}

// Running reports whether every component runs.
func (s *StatusInfo) Running() bool { return len(s.Components) == 5 }

func (s *StatusInfo) String() string {
	var b strings.Builder
	switch {
	case s.Running() && s.Ready:
		fmt.Fprintf(&b, "The Palisade lab is running.\n")
	case len(s.Components) == 0:
		fmt.Fprintf(&b, "The Palisade lab is stopped (start it with hack/lab.sh up).\n")
		return b.String()
	default:
		fmt.Fprintf(&b, "The Palisade lab is only partly running (hack/lab.sh up restarts it).\n")
	}
	fmt.Fprintf(&b, "  API server:  %s (ready: %v)\n  kubeconfig:  %s\n  files:       %s\n", s.URL, s.Ready, s.Kubeconfig, s.Dir)
	for _, c := range []string{testenv.Etcd, testenv.APIServer, testenv.ControllerManager, testenv.Scheduler, testenv.Kwok} {
		if pid, ok := s.Components[c]; ok {
			fmt.Fprintf(&b, "  %-24s pid %d\n", c, pid)
		} else {
			fmt.Fprintf(&b, "  %-24s stopped\n", c)
		}
	}
	if s.Ready {
		fmt.Fprintf(&b, "  nodes: %d, pods: %d of %d running\n", s.Nodes, s.PodsRunning, s.Pods)
	}
	return b.String()
}

// Status reports which of the lab's processes run and whether its API
// server answers.
func Status(ctx context.Context, dir string) (*StatusInfo, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	st, running, err := testenv.LoadState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return &StatusInfo{Dir: dir, Components: map[string]int{}}, nil
	}
	if err != nil {
		return nil, err
	}
	s := &StatusInfo{Dir: dir, Kubeconfig: st.Kubeconfig, URL: st.URL, Components: running}
	if _, ok := running[testenv.APIServer]; !ok {
		return s, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return s, nil
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return s, nil
	}
	if err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error(); err == nil {
		s.Ready = true
		s.Nodes, s.Pods, s.PodsRunning = count(ctx, cs)
	}
	return s, nil
}
