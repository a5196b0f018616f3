// Package sensor is the live source of the inventory: it watches one
// cluster's API server with client-go shared informers, converts every
// object with internal/kubemodel, and writes the changes to a Sink (the
// server's *state.State).
//
// The protocol with the sink is: one Replace of every modelled kind once all
// informers have synced (which also removes objects deleted while the sensor
// was away), then batched Applies of adds, updates and deletes. When a watch
// breaks (the API server restarts, or the watch expires with 410 Gone),
// client-go relists; the informers turn the relist into updates for the
// objects that changed and deletes (tombstones) for those that vanished, and
// those reach the sink like any other event, so nothing is lost or
// duplicated. A failed sink write is logged and followed by a full Replace
// from the informers' caches, with backoff.
//
// Secrets are never watched.
package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/model"
)

// Sink receives the inventory of a cluster. *state.State implements it.
type Sink interface {
	Apply(ctx context.Context, upserts []model.Object, deletes []model.Key) error
	Replace(ctx context.Context, cluster string, kinds []model.Kind, objs []model.Object) error
}

// UserAgent identifies the sensor's requests in the API server's logs and
// audit events.
const UserAgent = "palisade-sensor"

// Source is recorded in the metadata of every object the sensor produces.
const Source = "live"

// Config configures a Sensor.
type Config struct {
	// Cluster names the cluster in the inventory (default model.DefaultCluster).
	Cluster string
	// Rest reaches the API server (see LoadRestConfig).
	Rest *rest.Config
	// Resync is how often the sensor writes its whole cache to the sink
	// again, healing any drift between them (default 30 minutes; negative
	// disables it). Changes flow continuously regardless.
	Resync time.Duration
	// Logger receives the sensor's logs (default: discarded).
	Logger *slog.Logger

	// BatchWait is how long changes are collected before one Apply
	// (default 100 ms).
	BatchWait time.Duration
	// BatchSize is how many pending changes make an Apply at once, before
	// BatchWait is over (default 500).
	BatchSize int
	// ProbeInterval is how often the sensor checks that the API server
	// answers, for Status (default 15 s).
	ProbeInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.Rest == nil {
		return errors.New("sensor: no API server configuration (Config.Rest)")
	}
	if c.Cluster == "" {
		c.Cluster = model.DefaultCluster
	}
	if c.Resync == 0 {
		c.Resync = 30 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 100 * time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = 15 * time.Second
	}
	return nil
}

// Status is the sensor's health, for readiness checks and the UI.
type Status struct {
	Cluster string `json:"cluster"`
	// Server is the API server's URL.
	Server string `json:"server"`
	// Connected is false after a failed request or watch, until the API
	// server answers again.
	Connected bool `json:"connected"`
	// Synced is true once every informer has listed its kind.
	Synced bool `json:"synced"`
	// Waiting lists the kinds not synced yet (often: RBAC forbids them).
	Waiting     []string  `json:"waiting,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	// LastSync is when the sink last accepted the whole inventory.
	LastSync time.Time `json:"lastSync,omitzero"`
	// LastApply is when the sink last accepted a batch of changes.
	LastApply time.Time `json:"lastApply,omitzero"`
}

// Sensor watches one cluster. Create it with New and call Run once.
type Sensor struct {
	cfg     Config
	log     *slog.Logger
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	kinds   []*kindInformer
	started atomic.Bool
	// live is set once the first Replace is under way: before, events are
	// covered by the Replace and dropped.
	live atomic.Bool

	// connected mirrors Status.Connected, cheap to read for every event.
	connected atomic.Bool

	mu      sync.Mutex
	pending map[model.Key]model.Object // nil value: delete
	status  Status

	kick chan struct{} // something is pending
	full chan struct{} // a batch is full
}

type kindInformer struct {
	kind     model.Kind
	resource string // for messages: "deployments.apps"
	informer cache.SharedIndexInformer
}

// New prepares a sensor; nothing is contacted until Run.
func New(cfg Config) (*Sensor, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	rc := rest.CopyConfig(cfg.Rest)
	rc.UserAgent = UserAgent
	rc.WarningHandler = warningLogger{cfg.Logger}
	if rc.QPS == 0 {
		// Thirteen informers list at start: the client default (5/s,
		// burst 10) would queue them.
		rc.QPS, rc.Burst = 50, 100
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client for %s: %w", cfg.Rest.Host, err)
	}
	s := &Sensor{
		cfg:     cfg,
		log:     cfg.Logger.With("cluster", cfg.Cluster),
		client:  client,
		pending: map[model.Key]model.Object{},
		kick:    make(chan struct{}, 1),
		full:    make(chan struct{}, 1),
		status:  Status{Cluster: cfg.Cluster, Server: cfg.Rest.Host},
	}
	// Informer resync is off: it would only replay the cache to the
	// handlers. Config.Resync replaces the sink's copy instead.
	s.factory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripObject))
	f := s.factory
	s.kinds = []*kindInformer{
		{model.KindDeployment, "deployments.apps", f.Apps().V1().Deployments().Informer()},
		{model.KindStatefulSet, "statefulsets.apps", f.Apps().V1().StatefulSets().Informer()},
		{model.KindDaemonSet, "daemonsets.apps", f.Apps().V1().DaemonSets().Informer()},
		{model.KindReplicaSet, "replicasets.apps", f.Apps().V1().ReplicaSets().Informer()},
		{model.KindReplicationController, "replicationcontrollers", f.Core().V1().ReplicationControllers().Informer()},
		{model.KindJob, "jobs.batch", f.Batch().V1().Jobs().Informer()},
		{model.KindCronJob, "cronjobs.batch", f.Batch().V1().CronJobs().Informer()},
		{model.KindPod, "pods", f.Core().V1().Pods().Informer()},
		{model.KindService, "services", f.Core().V1().Services().Informer()},
		{model.KindIngress, "ingresses.networking.k8s.io", f.Networking().V1().Ingresses().Informer()},
		{model.KindNetworkPolicy, "networkpolicies.networking.k8s.io", f.Networking().V1().NetworkPolicies().Informer()},
		{model.KindNamespace, "namespaces", f.Core().V1().Namespaces().Informer()},
		{model.KindNode, "nodes", f.Core().V1().Nodes().Informer()},
	}
	for _, k := range s.kinds {
		if err := k.informer.SetWatchErrorHandlerWithContext(s.watchError(k)); err != nil {
			return nil, err
		}
		if _, err := k.informer.AddEventHandler(s.handler(k)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// warningLogger sends the API server's warnings (a deprecated API, for
// example) to the sensor's logger instead of client-go's klog.
type warningLogger struct{ log *slog.Logger }

func (w warningLogger) HandleWarningHeader(code int, agent, text string) {
	w.log.Warn("API server warning", "warning", text)
}

// stripObject drops what the sensor never reads before an object enters an
// informer's cache: managed fields and kubectl's last-applied annotation
// are often the larger part of an object.
func stripObject(obj any) (any, error) {
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetManagedFields(nil)
		if a := acc.GetAnnotations(); a != nil {
			if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				delete(a, "kubectl.kubernetes.io/last-applied-configuration")
				acc.SetAnnotations(a)
			}
		}
	}
	return obj, nil
}

// Run watches the cluster and writes to sink until ctx ends. It returns nil
// when ctx ends, and an error only if it cannot start.
func (s *Sensor) Run(ctx context.Context, sink Sink) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("sensor: Run called twice")
	}
	s.log.Info("sensor starting", "server", s.cfg.Rest.Host)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		s.factory.Shutdown()
	}()
	s.factory.Start(ctx.Done())
	wg.Go(func() { s.probe(ctx) })

	synced := make([]cache.InformerSynced, len(s.kinds))
	for i, k := range s.kinds {
		synced[i] = k.informer.HasSynced
	}
	start := time.Now()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	s.setConnected(true)
	s.log.Info("informers synced", "after", time.Since(start).Round(time.Millisecond))
	s.live.Store(true)
	s.write(ctx, sink)
	return nil
}

// Synced reports whether every informer has listed its kind at least once.
func (s *Sensor) Synced() bool {
	for _, k := range s.kinds {
		if !k.informer.HasSynced() {
			return false
		}
	}
	return true
}

// Status returns the sensor's current health.
func (s *Sensor) Status() Status {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.Connected = s.connected.Load()
	st.Waiting = nil
	for _, k := range s.kinds {
		if !k.informer.HasSynced() {
			st.Waiting = append(st.Waiting, k.resource)
		}
	}
	st.Synced = len(st.Waiting) == 0
	return st
}

func (s *Sensor) setConnected(ok bool) {
	if s.connected.Swap(ok) != ok && ok {
		s.log.Info("connected to the API server", "server", s.cfg.Rest.Host)
	}
}

func (s *Sensor) recordError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.LastError = err.Error()
	s.status.LastErrorAt = time.Now().UTC()
}

// watchError replaces client-go's default handler, which logs through klog:
// it records the error in Status. The reflector backs off and retries.
func (s *Sensor) watchError(k *kindInformer) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *cache.Reflector, err error) {
		switch {
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
			// The watch expired (410): the reflector relists; the handlers
			// see the differences. Nothing is wrong with the connection.
			s.log.Debug("watch expired, relisting", "resource", k.resource, "err", err)
			return
		case errors.Is(err, context.Canceled) || ctx.Err() != nil:
			return
		}
		if isEOF(err) {
			return
		}
		err = describeWatchError(s.cfg.Rest.Host, k.resource, err)
		s.recordError(err)
		s.setConnected(false)
		s.log.Warn("watch failed, retrying", "resource", k.resource, "err", err)
	}
}

// isEOF reports a watch the server closed, which the reflector simply
// reopens.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func describeWatchError(host, resource string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("missing RBAC permission to list and watch %s: %w", resource, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server at %s rejects the sensor's credentials: %w", host, err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) || strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("cannot reach the Kubernetes API server at %s: %w", host, err)
	}
	return err
}

// probe keeps Status.Connected current while the cluster is quiet.
func (s *Sensor) probe(ctx context.Context) {
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.client.Discovery().RESTClient().Get().AbsPath("/version").Do(pctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.recordError(describeWatchError(s.cfg.Rest.Host, "version", err))
			s.setConnected(false)
			continue
		}
		s.setConnected(true)
	}
}

// handler turns informer notifications into pending changes.
func (s *Sensor) handler(k *kindInformer) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.upsert(k, obj) },
		UpdateFunc: func(oldObj, newObj any) {
			// A relist or resync replays objects the sink already has.
			if o, err := meta.Accessor(oldObj); err == nil {
				if n, err := meta.Accessor(newObj); err == nil && o.GetResourceVersion() == n.GetResourceVersion() {
					return
				}
			}
			s.upsert(k, newObj)
		},
		DeleteFunc: func(obj any) { s.delete(k, obj) },
	}
}

func (s *Sensor) upsert(k *kindInformer, obj any) {
	if !s.live.Load() {
		return
	}
	m, err := kubemodel.Convert(s.cfg.Cluster, Source, obj)
	if err != nil {
		s.log.Error("cannot convert object", "kind", k.kind, "err", err)
		return
	}
	s.enqueue(m.ObjectKey(), m)
}

func (s *Sensor) delete(k *kindInformer, obj any) {
	if !s.live.Load() {
		return
	}
	var ns, name string
	switch o := obj.(type) {
	case cache.DeletedFinalStateUnknown:
		// The object vanished while the watch was down; the relist noticed.
		var err error
		if ns, name, err = cache.SplitMetaNamespaceKey(o.Key); err != nil {
			s.log.Error("bad tombstone key", "kind", k.kind, "key", o.Key, "err", err)
			return
		}
	default:
		acc, err := meta.Accessor(obj)
		if err != nil {
			s.log.Error("deleted object without metadata", "kind", k.kind, "type", fmt.Sprintf("%T", obj))
			return
		}
		ns, name = acc.GetNamespace(), acc.GetName()
	}
	s.enqueue(model.Key{Cluster: s.cfg.Cluster, Kind: k.kind, Namespace: ns, Name: name}, nil)
}

func (s *Sensor) enqueue(key model.Key, obj model.Object) {
	if !s.connected.Load() {
		// An event: the watch works again.
		s.setConnected(true)
	}
	s.mu.Lock()
	s.pending[key] = obj
	n := len(s.pending)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if n >= s.cfg.BatchSize {
		select {
		case s.full <- struct{}{}:
		default:
		}
	}
}

// take removes and returns the pending changes.
func (s *Sensor) take() (upserts []model.Object, deletes []model.Key) {
	s.mu.Lock()
	p := s.pending
	s.pending = make(map[model.Key]model.Object, len(p))
	s.mu.Unlock()
	for k, o := range p {
		if o == nil {
			deletes = append(deletes, k)
		} else {
			upserts = append(upserts, o)
		}
	}
	return upserts, deletes
}

// write is the only goroutine that writes to the sink: one Replace, then
// batches of changes, and a Replace again every Resync and after a failed
// write (with backoff, retried until it succeeds).
func (s *Sensor) write(ctx context.Context, sink Sink) {
	const maxBackoff = time.Minute
	backoff := time.Second
	needReplace := true
	var retry <-chan time.Time
	var resync <-chan time.Time
	if s.cfg.Resync > 0 {
		t := time.NewTicker(s.cfg.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		if needReplace && retry == nil {
			if err := s.replace(ctx, sink); err != nil {
				if ctx.Err() != nil {
					return
				}
				retry = time.After(backoff)
				backoff = min(2*backoff, maxBackoff)
			} else {
				needReplace, backoff = false, time.Second
			}
		}
		select {
		case <-ctx.Done():
			s.flush(context.WithoutCancel(ctx), sink, true)
			return
		case <-retry:
			retry = nil
			continue
		case <-resync:
			needReplace = true
			continue
		case <-s.kick:
		}
		// Collect changes for a moment, unless a batch fills first.
		wait := time.NewTimer(s.cfg.BatchWait)
		select {
		case <-ctx.Done():
		case <-wait.C:
		case <-s.full:
		}
		wait.Stop()
		if ctx.Err() != nil {
			s.flush(context.WithoutCancel(ctx), sink, true)
			return
		}
		// Changes keep flowing while a Replace is due: a sink like
		// *state.State takes them in memory even when its store fails.
		if err := s.flush(ctx, sink, false); err != nil && ctx.Err() == nil && !needReplace {
			needReplace = true
			retry = time.After(backoff)
			backoff = min(2*backoff, maxBackoff)
		}
	}
}

func (s *Sensor) flush(ctx context.Context, sink Sink, final bool) error {
	upserts, deletes := s.take()
	if len(upserts)+len(deletes) == 0 {
		return nil
	}
	if final {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	if err := sink.Apply(ctx, upserts, deletes); err != nil {
		s.recordError(fmt.Errorf("writing %d changes to the inventory: %w", len(upserts)+len(deletes), err))
		s.log.Warn("sink rejected changes; will write the whole cluster again", "upserts", len(upserts), "deletes", len(deletes), "err", err)
		return err
	}
	s.mu.Lock()
	s.status.LastApply = time.Now().UTC()
	s.mu.Unlock()
	s.log.Debug("changes written", "upserts", len(upserts), "deletes", len(deletes))
	return nil
}

// replace writes the informers' whole caches to the sink. Pending changes
// are dropped first: the caches already hold them (an informer updates its
// cache before it notifies handlers), and changes that arrive while the
// caches are read are written again afterwards, which is harmless.
func (s *Sensor) replace(ctx context.Context, sink Sink) error {
	s.take()
	var objs []model.Object
	for _, k := range s.kinds {
		for _, obj := range k.informer.GetStore().List() {
			m, err := kubemodel.Convert(s.cfg.Cluster, Source, obj)
			if err != nil {
				s.log.Error("cannot convert object", "kind", k.kind, "err", err)
				continue
			}
			objs = append(objs, m)
		}
	}
	start := time.Now()
	if err := sink.Replace(ctx, s.cfg.Cluster, model.AllKinds, objs); err != nil {
		s.recordError(fmt.Errorf("writing the inventory of %d objects: %w", len(objs), err))
		s.log.Warn("sink rejected the inventory; retrying", "objects", len(objs), "err", err)
		return err
	}
	s.mu.Lock()
	s.status.LastSync = time.Now().UTC()
	s.mu.Unlock()
	s.log.Info("inventory written", "objects", len(objs), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
