// Package testenv starts a real Kubernetes control plane from the binaries
// that hack/build-controlplane.sh builds and caches: etcd and kube-apiserver,
// and on request kube-controller-manager, kube-scheduler and kwok, so that
// Deployments get pods and pods "run" on fake nodes with IPs and statuses.
// Integration tests use it through StartT; the lab (internal/lab) runs the
// same processes detached in a fixed directory.
//
// Everything listens on loopback ports chosen at start. Certificates are
// generated with crypto/x509; no openssl is needed. In tests, children die
// with the test process (Pdeathsig) and their logs are printed when a test
// fails.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Component names, which are also the binaries' names.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
)

// FakeNodeAnnotation marks the Nodes kwok manages: create a Node with this
// annotation set to "fake" and kwok makes it Ready and runs its pods.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// KwokModule is the kwok module whose stage files configure kwok.
const KwokModule = "sigs.k8s.io/kwok@v0.8.0"

// ServiceCIDR is the range kube-apiserver allocates cluster IPs from.
const ServiceCIDR = "10.96.0.0/16"

// Options configure Start. Zero values take the defaults.
type Options struct {
	// BinDir holds the binaries. Default: CachedBinDir, which never builds.
	BinDir string
	// Dir holds certificates, etcd data, kubeconfigs, pid and log files.
	// Default: a new temporary directory, removed by Stop. A Dir that
	// already holds a control plane's files (the lab after a restart) is
	// reused: same CA, same etcd data, same ports when they are free.
	Dir string
	// Cluster also starts kube-controller-manager, kube-scheduler and kwok.
	Cluster bool
	// Detached children run in their own session and outlive the process
	// that started them (the lab). Otherwise they die with it.
	Detached bool
	// Fsync keeps etcd's fsync. Tests run without (--unsafe-no-fsync).
	Fsync bool
	// Logger receives progress messages. Default: discarded.
	Logger *slog.Logger
}

// ErrNoBinaries is wrapped by CachedBinDir and Start when the control-plane
// binaries are not built yet.
var ErrNoBinaries = errors.New("control-plane binaries are not built: run hack/build-controlplane.sh (about 10 minutes on a fresh machine, cached afterwards)")

// BinDirEnv overrides where the binaries are found.
const BinDirEnv = "PALISADE_CONTROLPLANE_BIN"

const buildScript = "hack/build-controlplane.sh"

// RepoRoot walks up from the working directory to the Palisade module's root.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/palisade-project/palisade\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Palisade source tree (no go.mod of github.com/palisade-project/palisade above the working directory); set " + BinDirEnv + " to a directory with the control-plane binaries")
		}
		dir = parent
	}
}

// BinDir runs hack/build-controlplane.sh, which builds the binaries that are
// missing (minutes on a fresh machine) and prints their directory. The
// script is locked, so concurrent callers wait for one build.
func BinDir(ctx context.Context) (string, error) {
	return runBuildScript(ctx, false)
}

// CachedBinDir returns the binaries' directory if every binary is built,
// and an error wrapping ErrNoBinaries otherwise. It never builds.
func CachedBinDir(ctx context.Context) (string, error) {
	return runBuildScript(ctx, true)
}

func runBuildScript(ctx context.Context, checkOnly bool) (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		for _, b := range []string{Etcd, APIServer, ControllerManager, Scheduler, Kwok} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return "", fmt.Errorf("%s=%s: %w: %v", BinDirEnv, dir, ErrNoBinaries, err)
			}
		}
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	args := []string{filepath.Join(root, buildScript)}
	if checkOnly {
		args = append(args, "--check")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if checkOnly && errors.As(err, &exit) && exit.ExitCode() == 3 {
			return "", fmt.Errorf("%w (%s)", ErrNoBinaries, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("%s: %w\n%s", buildScript, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// State is what a control-plane directory records about its processes, in
// <dir>/state.json.
type State struct {
	Dir        string    `json:"dir"`
	BinDir     string    `json:"binDir"`
	Kubeconfig string    `json:"kubeconfig"`
	URL        string    `json:"url"`
	EtcdURL    string    `json:"etcdURL"`
	Components []string  `json:"components"`
	Ports      Ports     `json:"ports"`
	StartedAt  time.Time `json:"startedAt"`
}

// Ports are the loopback ports a control plane listens on.
type Ports struct {
	EtcdClient int `json:"etcdClient"`
	EtcdPeer   int `json:"etcdPeer"`
	APIServer  int `json:"apiServer"`
}

// ControlPlane is a running control plane. Its methods are safe for
// concurrent use.
type ControlPlane struct {
	// Dir holds the control plane's files.
	Dir string
	// Kubeconfig is the path of an admin kubeconfig (group system:masters).
	Kubeconfig string
	// URL is kube-apiserver's address, https://127.0.0.1:<port>.
	URL string
	// EtcdURL is etcd's client address.
	EtcdURL string

	opts   Options
	log    *slog.Logger
	ca     *ca
	pki    string
	admin  keyPair
	ports  Ports
	ownDir bool

	mu    sync.Mutex
	procs map[string]*process
	order []string
}

// Start starts a control plane and waits until kube-apiserver is ready
// (about 3 s; a few more with Cluster).
func Start(ctx context.Context, opts Options) (_ *ControlPlane, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BinDir == "" {
		if opts.BinDir, err = CachedBinDir(ctx); err != nil {
			return nil, err
		}
	}
	cp := &ControlPlane{opts: opts, log: opts.Logger, procs: map[string]*process{}}
	if opts.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "palisade-testenv-"); err != nil {
			return nil, err
		}
		cp.ownDir = true
	} else {
		cp.Dir = opts.Dir
		if err := os.MkdirAll(cp.Dir, 0o755); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, cp.Logs())
			_ = cp.Stop()
		}
	}()
	if err := cp.setupPKI(); err != nil {
		return nil, fmt.Errorf("creating certificates: %w", err)
	}
	var prev State
	if b, err := os.ReadFile(filepath.Join(cp.Dir, "state.json")); err == nil {
		_ = json.Unmarshal(b, &prev)
	}
	// A port picked free may be taken before the component binds it:
	// retry with new ports.
	for attempt := 0; ; attempt++ {
		cp.ports = pickPorts(prev.Ports, attempt > 0)
		err = cp.startEtcd(ctx)
		if err == nil {
			err = cp.startAPIServer(ctx)
		}
		if err == nil || attempt == 2 || ctx.Err() != nil || !strings.Contains(cp.Logs(), "address already in use") {
			break
		}
		cp.log.Info("port taken, retrying with others", "err", err)
		cp.stopAll()
	}
	if err != nil {
		return nil, err
	}
	if opts.Cluster {
		if err := cp.startCluster(ctx); err != nil {
			return nil, err
		}
	}
	if err := cp.writeState(); err != nil {
		return nil, err
	}
	return cp, nil
}

func pickPorts(prev Ports, fresh bool) Ports {
	pick := func(p int) int {
		if p != 0 && !fresh {
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				l.Close()
				return p
			}
		}
		return freePort()
	}
	return Ports{EtcdClient: pick(prev.EtcdClient), EtcdPeer: pick(prev.EtcdPeer), APIServer: pick(prev.APIServer)}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("testenv: no free loopback port: %v", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (cp *ControlPlane) path(name string) string { return filepath.Join(cp.Dir, name) }

func (cp *ControlPlane) setupPKI() error {
	cp.pki = cp.path("pki")
	if err := os.MkdirAll(cp.pki, 0o700); err != nil {
		return err
	}
	var err error
	if cp.ca, err = loadCA(cp.pki); err != nil {
		if cp.ca, err = newCA(); err != nil {
			return err
		}
		if err := cp.ca.write(cp.pki); err != nil {
			return err
		}
		if _, _, err := writeServiceAccountKeys(cp.pki); err != nil {
			return err
		}
	}
	serving, err := cp.ca.issue("kube-apiserver", nil, []string{"127.0.0.1", "::1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"}, false)
	if err != nil {
		return err
	}
	if _, _, err := serving.write(cp.pki, "apiserver"); err != nil {
		return err
	}
	cp.admin, err = cp.ca.issue("admin", []string{"system:masters"}, nil, true)
	return err
}

func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	peer := fmt.Sprintf("http://127.0.0.1:%d", cp.ports.EtcdPeer)
	cp.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", cp.ports.EtcdClient)
	args := []string{
		"--name=testenv",
		"--data-dir=" + cp.path("etcd"),
		"--listen-client-urls=" + cp.EtcdURL,
		"--advertise-client-urls=" + cp.EtcdURL,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=testenv=" + peer,
		"--log-level=warn",
	}
	if !cp.opts.Fsync {
		args = append(args, "--unsafe-no-fsync")
	}
	p, err := cp.start(Etcd, args)
	if err != nil {
		return err
	}
	return cp.waitReady(ctx, p, 30*time.Second, func(ctx context.Context) error {
		return httpGetOK(ctx, http.DefaultClient, cp.EtcdURL+"/health")
	})
}

func (cp *ControlPlane) apiServerArgs() []string {
	pki := func(f string) string { return filepath.Join(cp.pki, f) }
	return []string{
		"--etcd-servers=" + cp.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cp.ports.APIServer),
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--client-ca-file=" + pki("ca.crt"),
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.pub"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--cert-dir=" + cp.path("apiserver-certs"),
		"--profiling=false",
		// Close watches at shutdown within a second: by default kube-apiserver
		// waits for them until it is killed.
		"--shutdown-watch-termination-grace-period=1s",
	}
}

func (cp *ControlPlane) startAPIServer(ctx context.Context) error {
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", cp.ports.APIServer)
	cp.Kubeconfig = cp.path("kubeconfig")
	if err := writeKubeconfig(cp.Kubeconfig, cp.URL, cp.ca.certPEM, cp.admin); err != nil {
		return err
	}
	p, err := cp.start(APIServer, cp.apiServerArgs())
	if err != nil {
		return err
	}
	client, err := rest.HTTPClientFor(cp.RestConfig())
	if err != nil {
		return err
	}
	return cp.waitReady(ctx, p, 60*time.Second, func(ctx context.Context) error {
		return httpGetOK(ctx, client, cp.URL+"/readyz")
	})
}

// StopAPIServer stops kube-apiserver gracefully (SIGTERM), leaving etcd and
// the other components running.
func (cp *ControlPlane) StopAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	p := cp.procs[APIServer]
	cp.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop(15 * time.Second)
}

// StartAPIServer starts kube-apiserver again on the same port with the same
// etcd, and waits until it is ready.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	if err := cp.startAPIServer(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(cp.path(APIServer+".log"), 4<<10))
	}
	return nil
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port
// with the same etcd: what clients see when the API server is upgraded.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context) error {
	if err := cp.StopAPIServer(ctx); err != nil {
		return err
	}
	return cp.StartAPIServer(ctx)
}

func (cp *ControlPlane) startCluster(ctx context.Context) error {
	kc := func(name, user string) (string, error) {
		kp, err := cp.ca.issue(user, []string{"system:masters"}, nil, true)
		if err != nil {
			return "", err
		}
		path := cp.path(name + ".kubeconfig")
		return path, writeKubeconfig(path, cp.URL, cp.ca.certPEM, kp)
	}
	kcmConfig, err := kc(ControllerManager, "system:kube-controller-manager")
	if err != nil {
		return err
	}
	schedConfig, err := kc(Scheduler, "system:kube-scheduler")
	if err != nil {
		return err
	}
	kwokConfig, err := kc(Kwok, "kwok")
	if err != nil {
		return err
	}
	stages, err := writeKwokStages(ctx, cp.path("kwok.yaml"))
	if err != nil {
		return err
	}
	comps := []struct {
		name string
		args []string
	}{
		{ControllerManager, []string{
			"--kubeconfig=" + kcmConfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + filepath.Join(cp.pki, "sa.key"),
			"--root-ca-file=" + filepath.Join(cp.pki, "ca.crt"),
			"--service-cluster-ip-range=" + ServiceCIDR,
			"--profiling=false",
		}},
		{Scheduler, []string{
			"--kubeconfig=" + schedConfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--profiling=false",
		}},
		{Kwok, []string{
			"--kubeconfig=" + kwokConfig,
			"--config=" + stages,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=fake",
			"--cidr=10.244.0.1/16",
			"--node-ip=10.1.0.1",
			"--node-lease-duration-seconds=40",
		}},
	}
	var started []*process
	for _, c := range comps {
		p, err := cp.start(c.name, c.args)
		if err != nil {
			return err
		}
		started = append(started, p)
	}
	// None of them serves a health endpoint here (--secure-port=0): check
	// they survive their start-up, where bad flags or configs fail.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
	}
	for _, p := range started {
		if done, err := p.exited(); done {
			return fmt.Errorf("%w\n%s", err, tail(p.logPath, 4<<10))
		}
	}
	return nil
}

// writeKwokStages concatenates the stage files of the kwok module that make
// nodes Ready, keep their leases, and run, complete and delete pods.
func writeKwokStages(ctx context.Context, path string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", KwokModule)
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		return "", fmt.Errorf("locating %s: go mod download: %w", KwokModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("locating %s: unexpected go mod download output %q", KwokModule, out)
	}
	stageDir := filepath.Join(mod.Dir, "kustomize", "stage")
	files := []string{filepath.Join(stageDir, "node", "fast", "node-initialize.yaml")}
	hb, err := filepath.Glob(filepath.Join(stageDir, "node", "heartbeat-with-lease", "*.yaml"))
	if err != nil {
		return "", err
	}
	for _, f := range hb {
		if filepath.Base(f) != "kustomization.yaml" {
			files = append(files, f)
		}
	}
	for _, s := range []string{"pod-ready", "pod-complete", "pod-delete"} {
		files = append(files, filepath.Join(stageDir, "pod", "fast", s+".yaml"))
	}
	var buf bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		buf.WriteString("---\n")
		buf.Write(b)
		if !bytes.HasSuffix(b, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

func (cp *ControlPlane) start(name string, args []string) (*process, error) {
	p, err := startProcess(cp.Dir, name, filepath.Join(cp.opts.BinDir, name), args, cp.opts.Detached)
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	if _, ok := cp.procs[name]; !ok {
		cp.order = append(cp.order, name)
	}
	cp.procs[name] = p
	cp.mu.Unlock()
	cp.log.Info("started", "component", name, "pid", p.cmd.Process.Pid, "log", p.logPath)
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or timeout.
func (cp *ControlPlane) waitReady(ctx context.Context, p *process, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var last error
	for {
		if done, err := p.exited(); done {
			return err
		}
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(rctx)
		rcancel()
		if last == nil {
			cp.log.Info("ready", "component", p.name, "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w", p.name, time.Since(start).Round(time.Second), last)
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func httpGetOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// RestConfig returns a new admin client configuration.
func (cp *ControlPlane) RestConfig() *rest.Config {
	return &rest.Config{
		Host: cp.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cp.ca.certPEM,
			CertData: cp.admin.CertPEM,
			KeyData:  cp.admin.KeyPEM,
		},
		QPS:   100,
		Burst: 200,
	}
}

// UserConfig returns a client configuration that authenticates as user in
// groups with a certificate from the control plane's CA. RBAC grants such a
// user nothing unless a binding names it: use it to test Forbidden.
func (cp *ControlPlane) UserConfig(user string, groups ...string) (*rest.Config, error) {
	kp, err := cp.ca.issue(user, groups, nil, true)
	if err != nil {
		return nil, err
	}
	cfg := cp.RestConfig()
	cfg.CertData, cfg.KeyData = kp.CertPEM, kp.KeyPEM
	return cfg, nil
}

func writeKubeconfig(path, server string, caPEM []byte, kp keyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["palisade"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts["palisade"] = &clientcmdapi.Context{Cluster: "palisade", AuthInfo: "admin"}
	cfg.CurrentContext = "palisade"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func (cp *ControlPlane) writeState() error {
	cp.mu.Lock()
	st := State{
		Dir: cp.Dir, BinDir: cp.opts.BinDir, Kubeconfig: cp.Kubeconfig, URL: cp.URL, EtcdURL: cp.EtcdURL,
		Components: append([]string(nil), cp.order...), Ports: cp.ports, StartedAt: time.Now().UTC(),
	}
	cp.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(cp.path("state.json"), append(b, '\n'), 0o644)
}

// Logs returns the last lines of every component's log.
func (cp *ControlPlane) Logs() string {
	cp.mu.Lock()
	order := append([]string(nil), cp.order...)
	cp.mu.Unlock()
	var b strings.Builder
	for _, name := range order {
		fmt.Fprintf(&b, "----- %s (%s)\n%s\n", name, cp.path(name+".log"), tail(cp.path(name+".log"), 8<<10))
	}
	return b.String()
}

// stopAll stops the components in reverse start order: kwok and the
// controllers first, then kube-apiserver, then etcd.
func (cp *ControlPlane) stopAll() error {
	cp.mu.Lock()
	order := append([]string(nil), cp.order...)
	procs := cp.procs
	cp.procs, cp.order = map[string]*process{}, nil
	cp.mu.Unlock()
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		grace := 5 * time.Second
		if !cp.opts.Detached {
			// A test's data is thrown away: no need to wait politely.
			grace = time.Second
		}
		if err := procs[order[i]].stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stop stops every component (kube-apiserver before etcd) and removes the
// directory if Start created it.
func (cp *ControlPlane) Stop() error {
	err := cp.stopAll()
	if cp.ownDir {
		if rerr := os.RemoveAll(cp.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

// LoadState reads the state a control plane recorded in dir, and reports
// which of its components still run, by name with their pid.
func LoadState(dir string) (*State, map[string]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	running := map[string]int{}
	for _, c := range []string{Etcd, APIServer, ControllerManager, Scheduler, Kwok} {
		if pid, ok := runningPID(dir, c); ok {
			running[c] = pid
		}
	}
	return &st, running, nil
}

// StopDir stops the components a detached control plane (the lab) runs from
// dir, in reverse start order, by the pids it recorded.
func StopDir(dir string) error {
	var errs []error
	for _, c := range []string{Kwok, Scheduler, ControllerManager, APIServer, Etcd} {
		if err := stopPID(dir, c, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
