package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	k8sauthn "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/palisade-project/palisade/internal/activity"
	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/auth/tokenreview"
	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/config"
	"github.com/palisade-project/palisade/internal/demo"
	"github.com/palisade-project/palisade/internal/environment"
	"github.com/palisade-project/palisade/internal/extractor/list"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/procrules"
	"github.com/palisade-project/palisade/internal/scanqueue"
	"github.com/palisade-project/palisade/internal/sensor"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/postgres"
	"github.com/palisade-project/palisade/internal/store/sqlite"
)

type serverOptions struct {
	cfg        config.Server
	configFile string
	demo       bool
	// tokenFile receives a newly created admin token instead of stderr.
	tokenFile string
	// memoryLimit is the Go runtime's soft memory limit (e.g. 300Mi).
	memoryLimit string
	// dbPoll is how often the scanner checks for newly imported
	// vulnerability data (hidden; tests shorten it).
	dbPoll time.Duration
	// agentServiceAccount (NAMESPACE/NAME) and agentAudience: node agents
	// of the watched cluster may authenticate with projected tokens of
	// that service account, issued for that audience. Empty
	// agentServiceAccount turns it off.
	agentServiceAccount, agentAudience string
}

func newServerCmd(e *env) *cobra.Command {
	o := &serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Palisade server: store, live inventory, HTTP API",
		Long: `The server keeps the inventory of its sources in its database and answers
questions over the HTTP API (/api/v1). Sources: a cluster through a
kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config or in-cluster), manifests
(--manifests), or the built-in example (--demo). With no source it serves
what its database already holds.

The first start prints an admin API token once; keep it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.configFile != "" {
				var file config.Server
				if err := config.LoadFile(o.configFile, &file); err != nil {
					return err
				}
				mergeServer(cmd, &file, &o.cfg)
			}
			return runServer(cmd.Context(), e, o)
		},
	}
	addServerFlags(cmd, o)
	return cmd
}

func addServerFlags(cmd *cobra.Command, o *serverOptions) {
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "YAML config file (flags override it)")
	f.StringVar(&o.cfg.Listen, "listen", "", "address of the HTTP API (default 127.0.0.1:8080)")
	f.StringVar(&o.cfg.Database, "database", "", "SQLite file or postgres:// URL (default: palisade.db in the user's data directory)")
	f.StringVar(&o.cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster to watch (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.cfg.Context, "context", "", "kubeconfig context")
	f.StringVar(&o.cfg.Cluster, "cluster", "", "name of the watched cluster in answers (default \"default\")")
	f.StringArrayVar(&o.cfg.Manifests, "manifests", nil, "load manifests as the cluster's inventory instead of watching it (repeatable)")
	f.StringVar(&o.cfg.TLSCert, "tls-cert", "", "TLS certificate file (enables HTTPS)")
	f.StringVar(&o.cfg.TLSKey, "tls-key", "", "TLS key file")
	f.BoolVar(&o.demo, "demo", false, "load the built-in EXAMPLE environment (cluster \"example\")")
	f.StringVar(&o.memoryLimit, "memory-limit", "", "soft memory limit of the server, e.g. 300Mi (default: none, or GOMEMLIMIT); set it a little under the container's limit")
	f.StringVar(&o.tokenFile, "token-file", "", "write a newly created admin token to this file (mode 0600) instead of printing it")
	f.BoolVar(&o.cfg.Scan.Disabled, "no-scan", false, "do not scan running images")
	f.StringVar(&o.cfg.Scan.MaxAge, "scan-max-age", "", "rescan a running image when its SBOM is older than this (default 24h)")
	f.IntVar(&o.cfg.Scan.Workers, "scan-workers", 0, "images scanned at once (default 2)")
	f.DurationVar(&o.dbPoll, "scan-db-poll", scanqueue.DefaultDBPoll, "how often to look for newly imported vulnerability data")
	_ = f.MarkHidden("scan-db-poll")
	f.StringVar(&o.cfg.Flows.Window, "flow-window", "", "how far back used traffic counts in answers, e.g. 7d or 36h (default 7d)")
	f.StringVar(&o.cfg.Flows.Retention, "flow-retention", "", "how long used traffic is kept in the database (default 30d, at least the window)")
	f.StringVar(&o.agentServiceAccount, "agent-service-account", tokenreview.DefaultServiceAccount,
		"NAMESPACE/NAME: node agents of the watched cluster may send this service account's projected tokens instead of agent tokens (\"\" turns it off)")
	f.StringVar(&o.agentAudience, "agent-token-audience", tokenreview.DefaultAudience,
		"audience the agents' service account tokens must be issued for (\"\" accepts tokens for the API server itself, which this server could then replay: keep one)")
	addAnalysisFlags(cmd, &o.cfg.Analysis)
}

// mergeServer fills every flag that was not set from the config file.
func mergeServer(cmd *cobra.Command, file, flags *config.Server) {
	set := func(name string, dst *string, v string) {
		if !cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("listen", &flags.Listen, file.Listen)
	set("database", &flags.Database, file.Database)
	set("kubeconfig", &flags.Kubeconfig, file.Kubeconfig)
	set("context", &flags.Context, file.Context)
	set("cluster", &flags.Cluster, file.Cluster)
	set("tls-cert", &flags.TLSCert, file.TLSCert)
	set("tls-key", &flags.TLSKey, file.TLSKey)
	if !cmd.Flags().Changed("manifests") {
		flags.Manifests = file.Manifests
	}
	flags.Tokens = file.Tokens
	if !cmd.Flags().Changed("no-scan") {
		flags.Scan.Disabled = file.Scan.Disabled
	}
	set("scan-max-age", &flags.Scan.MaxAge, file.Scan.MaxAge)
	if !cmd.Flags().Changed("scan-workers") {
		flags.Scan.Workers = file.Scan.Workers
	}
	set("flow-window", &flags.Flows.Window, file.Flows.Window)
	set("flow-retention", &flags.Flows.Retention, file.Flows.Retention)
	mergeAnalysis(cmd, file.Analysis, &flags.Analysis)
}

// openStore opens the configured database. readOnly callers (ask) get a
// clear error instead of a new empty SQLite file.
func openStore(ctx context.Context, e *env, db string, readOnly bool) (store.Store, error) {
	if db == "" {
		def, err := config.DefaultDatabase()
		if err != nil {
			return nil, err
		}
		db = def
	}
	if config.IsPostgres(db) {
		return postgres.Open(ctx, db, e.log)
	}
	if readOnly {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no Palisade database at %s: start \"palisade server\" (or \"palisade demo\") first, or ask with --manifests or --server", db)
		}
	}
	return sqlite.Open(ctx, db, e.log)
}

func runServer(ctx context.Context, e *env, o *serverOptions) error {
	cfg := &o.cfg
	if err := cfg.SetDefaults(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError("invalid configuration: %v", err)
	}
	if err := setMemoryLimit(e, o.memoryLimit); err != nil {
		return err
	}
	if o.dbPoll < 0 {
		return usageError("--scan-db-poll must be positive")
	}
	if o.agentServiceAccount != "" {
		if _, _, err := auth.ParseServiceAccount(o.agentServiceAccount); err != nil {
			return usageError("--agent-service-account: %v", err)
		}
	}
	if sources := btoi(o.demo) + btoi(len(cfg.Manifests) > 0) + btoi(cfg.Kubeconfig != ""); sources > 1 {
		return usageError("choose one source: --demo, --manifests or --kubeconfig")
	}
	eng, err := answer.NewEngine(engineConfig(cfg.Analysis))
	if err != nil {
		return usageError("%v", err)
	}
	// Everything that can fail on configuration fails before anything is
	// written, so a bad flag never leaves a token nobody saw.
	ln, tlsCfg, err := listen(e, cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	var (
		sens *sensor.Sensor
		rc   *rest.Config
	)
	if !o.demo && len(cfg.Manifests) == 0 {
		if sens, rc, err = startSensor(ctx, e, cfg); err != nil {
			return err
		}
	}
	maxAge, _ := cfg.Scan.MaxAgeDuration() // validated above

	st, err := openStore(ctx, e, cfg.Database, false)
	if err != nil {
		return err
	}
	defer st.Close()
	e.log.Info("database open", "database", config.Redact(cfg.Database))

	live := state.New(st, e.log)
	if err := live.Load(ctx); err != nil {
		return fmt.Errorf("loading the stored inventory: %w", err)
	}
	switch {
	case o.demo:
		if err := loadDemo(ctx, live); err != nil {
			return err
		}
	case len(cfg.Manifests) > 0:
		if err := loadManifests(ctx, e, live, cfg.Cluster, cfg.Manifests); err != nil {
			return err
		}
	}
	if err := bootstrapTokens(ctx, e, st, cfg.Tokens, o.demo, o.tokenFile); err != nil {
		return err
	}
	if o.demo {
		// The demo's token opens only the demo's run.
		defer st.DeleteToken(context.WithoutCancel(ctx), "demo") //nolint:errcheck // best effort on the way out
	}

	ready := readiness(e, st, sens)
	envs, err := environment.New(cfg.Production)
	if err != nil {
		return usageError("%v", err)
	}
	learned := baseline.NewSet(baseline.Options{})
	baselineStore, persistBaselines := st.(store.Baselines)
	if persistBaselines {
		// Without the stored baselines, saving fresh ones would overwrite
		// locked ones: save only after a successful restore.
		persistBaselines = restoreBaselines(ctx, e.log, baselineStore, learned)
	}
	observeFlows, importFlows, keepFlows := startFlows(ctx, e, st, live, cfg.Flows)
	observed := activity.New(activity.Options{
		Inventory:    live,
		Baselines:    baselines{learned},
		Rules:        rules{procrules.Builtin()},
		Environments: envs,
		Publish:      live.SetActivity,
		PublishEvery: time.Second,
		Flows:        observeFlows,
	})
	// Agent tokens stored without a cluster report for this server's.
	ownCluster := cfg.Cluster
	if o.demo {
		ownCluster = demo.Cluster
	}
	agentAccounts, err := agentServiceAccounts(e, rc, cfg.Cluster, o)
	if err != nil {
		return err
	}
	handler := api.New(api.Options{Inventory: live, Answers: eng, Tokens: st, Observations: observed, Flows: importFlows, Ready: ready, Logger: e.log, Version: Version,
		Cluster: ownCluster, ServiceAccounts: agentAccounts})

	// Background work: the state's store catch-up, the API's answer
	// refresh, the sensor. All of it ends, and is waited for, before the
	// store closes, so nothing writes to a closed database.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { live.RunResync(bgCtx, 10*time.Second) })
	bg.Go(func() {
		if err := handler.Run(bgCtx); err != nil && bgCtx.Err() == nil {
			e.log.Error("API background work stopped", "err", err)
		}
	})
	if sens != nil {
		bg.Go(func() {
			if err := sens.Run(bgCtx, live); err != nil && bgCtx.Err() == nil {
				e.log.Error("sensor stopped", "err", err)
			}
		})
	}
	if persistBaselines {
		bg.Go(func() { saveBaselines(bgCtx, e.log, baselineStore, learned, time.Minute) })
	}
	bg.Go(func() { keepFlows(bgCtx) })
	if scans, ok := st.(scanqueue.Store); ok && !cfg.Scan.Disabled && !o.demo {
		q := scanqueue.New(scanqueue.Options{
			Inventory:  live,
			Store:      scans,
			Publish:    live.SetImages,
			Keychain:   pullKeychain(rc, cfg.Cluster),
			Extractors: list.All(),
			Workers:    cfg.Scan.Workers,
			MaxAge:     maxAge,
			DBPoll:     o.dbPoll,
			Logger:     e.log.With("component", "scanner"),
		})
		bg.Go(func() {
			if err := q.Run(bgCtx); err != nil && bgCtx.Err() == nil {
				e.log.Error("image scanner stopped", "err", err)
			}
		})
	}
	serveErr := serve(ctx, e, ln, tlsCfg, handler, o.demo)
	stopBackground()
	bg.Wait()
	if len(live.Unsynced()) > 0 {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := live.Resync(flushCtx); err != nil {
			e.log.Error("changes not written to the database before exit; they will be read again from the cluster at the next start", "err", err)
		}
		cancel()
	}
	return serveErr
}

// agentServiceAccounts returns the reviewer of node agents' service
// account tokens for the watched cluster, or nil without a cluster (the
// mode is off: nothing could review them) or with the mode turned off.
func agentServiceAccounts(e *env, rc *rest.Config, cluster string, o *serverOptions) (api.ServiceAccounts, error) {
	if rc == nil || o.agentServiceAccount == "" {
		return nil, nil
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "palisade-server"
	// About one review per agent and minute (the cache's TTL): more than
	// client-go's default 5 per second on large clusters.
	rc.QPS, rc.Burst = 50, 100
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("configuring the Kubernetes client for token reviews: %w", err)
	}
	r, err := tokenreview.New(tokenreview.Options{
		Client:          client.AuthenticationV1().TokenReviews(),
		Keys:            client.AuthenticationV1().RESTClient(), // GET /openid/v1/jwks
		Logger:          e.log,
		Cluster:         cluster,
		ServiceAccounts: []string{o.agentServiceAccount},
		Audience:        o.agentAudience,
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	if o.agentAudience == "" {
		e.log.Warn("agents' service account tokens are accepted without an audience: this server could replay them against the Kubernetes API server; set --agent-token-audience")
	}
	e.log.Info("node agents may authenticate with service account tokens", "serviceAccount", o.agentServiceAccount, "audience", o.agentAudience, "cluster", cluster)
	return r, nil
}

// readiness returns the /readyz check. /readyz is unauthenticated and may
// be polled hard: the database is pinged at most once a second, changes
// are logged once, and the reason given says little.
func readiness(e *env, st store.Store, sens *sensor.Sensor) func(context.Context) error {
	var (
		mu     sync.Mutex
		at     time.Time
		dbErr  error
		logged bool
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) >= time.Second {
			dbErr, at = st.Ping(ctx), time.Now()
			switch {
			case dbErr != nil && !logged:
				e.log.Warn("readiness: database unavailable", "err", dbErr)
				logged = true
			case dbErr == nil && logged:
				e.log.Info("readiness: database available again")
				logged = false
			}
		}
		if dbErr != nil {
			return errors.New("database unavailable")
		}
		if sens != nil && !sens.Synced() {
			return errors.New("the cluster inventory has not synced yet")
		}
		return nil
	}
}

func startSensor(ctx context.Context, e *env, cfg *config.Server) (*sensor.Sensor, *rest.Config, error) {
	rc, where, err := sensor.LoadRestConfig(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		if cfg.Kubeconfig != "" {
			return nil, nil, err
		}
		e.log.Info("no cluster configured; serving the stored inventory", "reason", err)
		return nil, nil, nil
	}
	if err := sensor.Check(ctx, rc); err != nil {
		if errors.Is(err, sensor.ErrUnauthorized) || errors.Is(err, sensor.ErrForbidden) {
			// Credentials do not fix themselves: stop and say so.
			return nil, nil, fmt.Errorf("cluster %q (%s): %w", cfg.Cluster, where, err)
		}
		// Unreachable: the server still answers from what it stored; the
		// sensor keeps retrying in the background.
		e.log.Error("cluster unavailable; serving the stored inventory and retrying", "cluster", cfg.Cluster, "kubeconfig", where, "err", err)
	}
	sens, err := sensor.New(sensor.Config{Cluster: cfg.Cluster, Rest: rc, Logger: e.log})
	return sens, rc, err
}

// pullKeychain returns the credentials the scanner pulls an image with:
// the pod's imagePullSecrets and its service account's, read from the
// watched cluster (only for that cluster's pods), then the docker config
// (config.json) of the server.
// Without a cluster only the docker config applies. When the secrets
// cannot be read (RBAC), the docker config is still tried and the reason
// is returned with it, so a failed pull says why.
func pullKeychain(rc *rest.Config, cluster string) func(ctx context.Context, src scanqueue.Source) (authn.Keychain, error) {
	if rc == nil {
		return nil
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return func(context.Context, scanqueue.Source) (authn.Keychain, error) {
			return authn.DefaultKeychain, fmt.Errorf("no Kubernetes client for pull secrets: %w", err)
		}
	}
	return func(ctx context.Context, src scanqueue.Source) (authn.Keychain, error) {
		if src.Cluster != cluster {
			// Pods of other clusters (stored by earlier runs or other
			// sensors) must never be pulled with this cluster's secrets.
			return authn.DefaultKeychain, nil
		}
		kc, err := k8sauthn.New(ctx, client, k8sauthn.Options{
			Namespace:          src.Namespace,
			ServiceAccountName: src.ServiceAccount,
			ImagePullSecrets:   src.PullSecrets,
		})
		if err != nil {
			return authn.DefaultKeychain, fmt.Errorf("reading the pull secrets of %s: %w", src.Namespace, err)
		}
		return authn.NewMultiKeychain(kc, authn.DefaultKeychain), nil
	}
}

func loadDemo(ctx context.Context, live *state.State) error {
	res, err := manifest.LoadFS(ctx, demo.Environment(), manifest.Options{Cluster: demo.Cluster})
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("the built-in example environment does not load: %w", res.Errors[0])
	}
	objs := res.Snapshot.Objects()
	pods := demo.RunningPods(objs)
	if err := live.Replace(ctx, demo.Cluster, model.AllKinds, append(objs, pods...)); err != nil {
		return fmt.Errorf("storing the example environment: %w", err)
	}
	// Example scan results: the example's registries are made up, so the
	// demo pulls nothing (its scan queue does not run).
	live.SetImages(demo.Scans(pods, time.Now()))
	live.SetActivity(demo.Activity(pods, time.Now()))
	return nil
}

func loadManifests(ctx context.Context, e *env, live *state.State, cluster string, paths []string) error {
	res, err := manifest.Load(ctx, paths, manifest.Options{Cluster: cluster, Stdin: e.stdin})
	if err != nil {
		return err
	}
	for _, de := range res.Errors {
		e.log.Warn("manifest not loaded", "err", de)
	}
	if res.Snapshot.Len() == 0 && len(res.Errors) > 0 {
		return fmt.Errorf("no Kubernetes objects could be loaded from the manifests (%d errors logged)", len(res.Errors))
	}
	if err := live.Replace(ctx, cluster, model.AllKinds, res.Snapshot.Objects()); err != nil {
		return fmt.Errorf("storing the manifests' inventory: %w", err)
	}
	e.log.Info("manifests loaded", "cluster", cluster, "objects", res.Snapshot.Len(), "errors", len(res.Errors))
	return nil
}

// bootstrapTokens stores tokens from the config file and, when the store
// has none, creates an admin token and prints it once. The demo always
// creates a fresh admin token named "demo".
func bootstrapTokens(ctx context.Context, e *env, st store.Store, configured []config.Token, demoMode bool, tokenFile string) error {
	listed := map[string]bool{}
	for _, t := range configured {
		role, err := auth.ParseRole(t.Role)
		if err != nil {
			return usageError("token %q: %v", t.Name, err)
		}
		if err := st.PutToken(ctx, store.Token{Name: t.Name, Role: string(role), Hash: t.SHA256, CreatedAt: time.Now().UTC(), Source: store.TokenFromConfig}); err != nil {
			return fmt.Errorf("storing token %q: %w", t.Name, err)
		}
		listed[t.Name] = true
	}
	stored, err := st.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("reading API tokens: %w", err)
	}
	// An admin token is created while none exists: agent and viewer
	// tokens made before the first start do not count.
	admins := 0
	for _, t := range stored {
		// A token removed from the config file is revoked.
		if t.Source == store.TokenFromConfig && !listed[t.Name] {
			if err := st.DeleteToken(ctx, t.Name); err != nil {
				return fmt.Errorf("revoking token %q, no longer in the config file: %w", t.Name, err)
			}
			e.log.Info("token revoked: no longer in the config file", "token", t.Name)
			continue
		}
		if t.Role == string(auth.RoleAdmin) {
			admins++
		}
	}
	remaining := admins
	name := "admin"
	switch {
	case demoMode:
		name = "demo"
	case remaining > 0:
		return nil
	}
	// Never replace a token of another role that happens to bear the name.
	taken := func(n string) bool {
		return slices.ContainsFunc(stored, func(t store.Token) bool { return t.Name == n })
	}
	for i := 2; !demoMode && taken(name); i++ {
		name = fmt.Sprintf("admin-%d", i)
	}
	secret, hash, err := auth.Generate()
	if err != nil {
		return err
	}
	if err := st.PutToken(ctx, store.Token{Name: name, Role: string(auth.RoleAdmin), Hash: hash, CreatedAt: time.Now().UTC()}); err != nil {
		return fmt.Errorf("storing the %s token: %w", name, err)
	}
	if tokenFile != "" {
		if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
			_ = st.DeleteToken(ctx, name) // nobody can read it: do not keep it
			return fmt.Errorf("writing the %s token to --token-file: %w", name, err)
		}
		fmt.Fprintf(e.stderr, "\nCreated API token %q with role admin in %s (mode 0600).\n\n", name, tokenFile)
		return nil
	}
	fmt.Fprintf(e.stderr, "\nCreated API token %q with role admin. It is shown only now; keep it:\n\n    export PALISADE_TOKEN=%s\n\n", name, secret)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listen opens the API's listener and loads its TLS certificate.
func listen(e *env, cfg *config.Server) (net.Listener, *tls.Config, error) {
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the TLS certificate: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w (choose another address with --listen)", cfg.Listen, err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); tlsCfg == nil && !net.ParseIP(host).IsLoopback() {
		e.log.Warn("serving plain HTTP on a non-loopback address: API tokens cross the network unencrypted; set --tls-cert and --tls-key")
	}
	return ln, tlsCfg, nil
}

func serve(ctx context.Context, e *env, ln net.Listener, tlsCfg *tls.Config, handler http.Handler, demoMode bool) error {
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	e.log.Info("serving", "url", url)
	printWelcome(e, url, demoMode)

	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func printWelcome(e *env, url string, demoMode bool) {
	if demoMode {
		fmt.Fprintf(e.stderr, "\n%s\n", demo.Notice)
	}
	fmt.Fprintf(e.stderr, "\nPalisade is serving at %s  (Ctrl-C stops it)\nAsk it, with an API token in PALISADE_TOKEN:\n\n", url)
	for _, q := range answer.Questions {
		fmt.Fprintf(e.stderr, "    palisade ask %-14s --server %s\n", q.Name, url)
	}
	fmt.Fprintf(e.stderr, "    palisade ask vulnerable     --server %s --cve CVE-2021-44228\n", url)
	fmt.Fprintf(e.stderr, "    palisade report             --server %s   # all ten questions in brief\n", url)
	fmt.Fprintf(e.stderr, "    curl -H \"Authorization: Bearer $PALISADE_TOKEN\" %s/api/v1/questions/exposed\n\n", url)
}
