// Package agentcmd is the node agent's command line: flags, credentials,
// the exec tracer and the report sender around internal/agent. It is both
// "palisade agent" and the whole of the palisade-agent binary, which links
// nothing else (no Kubernetes client, no database), so that the agent on
// every node stays small.
package agentcmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/exectrace"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
	"github.com/palisade-project/palisade/internal/safetext"
	"github.com/palisade-project/palisade/internal/serverclient"
)

// Env is what the command gets from its main.
type Env struct {
	Stderr  io.Writer
	Log     *slog.Logger
	Getenv  func(string) string
	Version string
}

// UsageError is a mistake in the command line: mains exit with their usage
// code (2) for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageError(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// New returns the agent command ("palisade agent", and the whole of the
// palisade-agent binary).
func New(e Env) *cobra.Command {
	var (
		server, token, tokenFile, saTokenFile, caFile, node, cluster, procRoot string
		interval, reportInterval                                               time.Duration
		maxBuffered                                                            int
		noEBPF                                                                 bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: report the processes and connections of the node's containers to a server",
		Long: `The agent runs on every node (a DaemonSet with hostPID and the host's /proc
mounted, e.g. at /host/proc). It reads the processes of the node's containers
and the connections of their network namespaces every --interval, and sends
what it saw to the server every --report-interval, with an agent token (role
agent: it can send observations and read nothing) or, in a cluster the server
watches, the pod's projected service account token (--service-account-token),
which the server has the cluster review and which names the agent's node. While the server is away,
reports wait in a bounded buffer; the oldest are dropped, and counted.

Besides polling, the agent traces every exec on the node with an eBPF
program (a raw tracepoint; it needs CAP_BPF and CAP_PERFMON, or
CAP_SYS_ADMIN, and a kernel with BTF), so that processes shorter than the
interval are seen too. Without eBPF it polls only: a process shorter than the
interval can be missed, and every report says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			credential, err := agentCredential(e, token, tokenFile, saTokenFile)
			if err != nil {
				return err
			}
			if server == "" {
				return usageError("--server is required")
			}
			base, err := serverclient.ParseURL(server, e.Stderr)
			if err != nil {
				return usageError("%v", err)
			}
			client, err := serverclient.New(caFile, 30*time.Second)
			if err != nil {
				return err
			}
			node = firstNonEmpty(node, e.Getenv("NODE_NAME"))
			if node == "" {
				if node, err = os.Hostname(); err != nil {
					return usageError("--node is required (or NODE_NAME)")
				}
			}
			if st, err := os.Stat(procRoot); err != nil || !st.IsDir() {
				return usageError("--proc-root %s is not a directory: mount the host's /proc there", procRoot)
			}
			endpoint := base.JoinPath("api", "v1", "agent", "report").String()
			send := func(ctx context.Context, r *observation.Report) error {
				token, err := credential()
				if err != nil {
					return err
				}
				return sendReport(ctx, client, endpoint, token, r)
			}
			fs := procfs.New(procRoot, procfs.Options{})
			collection, degraded := "ebpf", []string(nil)
			var tracer *exectrace.Tracer
			if noEBPF {
				err = errors.New("turned off by --no-ebpf")
			} else {
				tracer, err = exectrace.Open(0)
			}
			if err != nil {
				collection = "polling"
				degraded = []string{"no eBPF exec tracing (" + truncateReason(err.Error()) +
					"): processes that live shorter than the poll interval can be missed"}
				e.Log.Warn("polling only: processes shorter than the interval can be missed", "err", err)
			}
			a := agent.New(agent.Options{
				Proc: scanningProc{fs, fs.NewScanner()}, Node: node, Cluster: cluster, Version: e.Version, Send: send,
				Interval: interval, ReportInterval: reportInterval, MaxBuffered: maxBuffered,
				Collection: collection, Degraded: degraded,
				Logger: e.Log,
			})
			if tracer != nil {
				go traceExecs(ctx, e, tracer, fs, a)
			}
			e.Log.Info("agent started", "node", node, "cluster", cluster, "server", base.Redacted(), "procRoot", procRoot,
				"interval", interval, "collection", collection)
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of the palisade server")
	f.StringVar(&token, "token", "", "agent token (prefer --token-file or PALISADE_TOKEN: arguments are visible to other processes)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the agent token")
	f.StringVar(&saTokenFile, "service-account-token", "", "send this file's Kubernetes service account token instead of an agent token, re-read for every report (the kubelet rotates it): a projected token with the audience palisade, e.g. /var/run/secrets/palisade/token")
	f.StringVar(&caFile, "ca-file", "", "CA certificate to verify an HTTPS --server")
	f.StringVar(&node, "node", "", "this node's name (default $NODE_NAME, then the hostname)")
	f.StringVar(&cluster, "cluster", "default", "the cluster's name, as the server names it")
	f.StringVar(&procRoot, "proc-root", "/proc", "where the host's /proc is mounted")
	f.DurationVar(&interval, "interval", agent.DefaultInterval, "how often to read /proc")
	f.DurationVar(&reportInterval, "report-interval", agent.DefaultReportInterval, "how often to send a report")
	f.IntVar(&maxBuffered, "max-buffered", agent.DefaultMaxBuffered, "reports kept while the server is away")
	f.BoolVar(&noEBPF, "no-ebpf", false, "do not trace execs with eBPF: poll /proc only (reports then say the agent is degraded)")
	return cmd
}

// traceExecs feeds the agent the node's execs as the kernel reports them,
// so that processes shorter than a poll are seen, and counts the execs the
// kernel could not queue as dropped. The host's /proc must be the one
// procRoot names (hostPID): exec records carry the node's pids. If tracing
// stops before ctx ends, the agent goes on polling and its reports say so.
func traceExecs(ctx context.Context, e Env, tr *exectrace.Tracer, fs *procfs.FS, a *agent.Agent) {
	resolve := agent.ExecResolver{FS: fs, Seq: tr.Seq}
	var lost uint64
	countLost := func() {
		if n := tr.Lost(); n > lost {
			a.Missed(n - lost)
			e.Log.Warn("exec events lost: the ring buffer was full", "lost", n-lost, "total", n)
			lost = n
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				countLost()
			}
		}
	}()
	err := tr.Run(runCtx, func(ex exectrace.Exec) {
		switch p, src := resolve.Resolve(ex); src {
		case agent.ExecFromProc:
			a.Observe(p, true)
		case agent.ExecFromRecord:
			a.Observe(p, false)
		}
	})
	if ctx.Err() == nil {
		e.Log.Error("exec tracing stopped; polling goes on", "err", err)
		a.Degrade("eBPF exec tracing stopped (" + truncateReason(fmt.Sprint(err)) +
			"): processes that live shorter than the poll interval can be missed")
	}
}

// truncateReason keeps a reason for a report short and on one line.
func truncateReason(s string) string {
	s = safetext.OneLine(s)
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// maxServiceAccountToken bounds the service account token file read.
const maxServiceAccountToken = 64 << 10

// agentCredential returns what the agent authenticates with: an agent
// token (--token-file, --token, PALISADE_TOKEN), read once, or the service
// account token in saFile, read now (so that a wrong path fails at start)
// and again at every call, since the kubelet replaces it before it
// expires.
func agentCredential(e Env, token, tokenFile, saFile string) (func() (string, error), error) {
	if saFile != "" {
		if token != "" || tokenFile != "" {
			return nil, usageError("choose one: --service-account-token or an agent token (--token, --token-file)")
		}
		read := func() (string, error) { return readServiceAccountToken(saFile) }
		if _, err := read(); err != nil {
			return nil, err
		}
		return read, nil
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	token = firstNonEmpty(token, e.Getenv("PALISADE_TOKEN"))
	if token == "" {
		return nil, usageError("the agent needs credentials: --service-account-token, or an agent token in --token-file, --token or PALISADE_TOKEN (palisade token create NODE --role agent --cluster CLUSTER)")
	}
	return func() (string, error) { return token, nil }, nil
}

func readServiceAccountToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading --service-account-token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxServiceAccountToken+1))
	if err != nil {
		return "", fmt.Errorf("reading --service-account-token %s: %w", path, err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxServiceAccountToken:
		return "", fmt.Errorf("--service-account-token %s is larger than %d bytes: is it a token?", path, maxServiceAccountToken)
	case token == "":
		return "", fmt.Errorf("--service-account-token %s is empty", path)
	}
	return token, nil
}

// sendReport posts one gzip-compressed report.
func sendReport(ctx context.Context, client *http.Client, endpoint, token string, r *observation.Report) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sending the report: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the server refused the report: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// scanningProc polls with a procfs.Scanner, which re-reads only what
// changed since the last scan.
type scanningProc struct {
	*procfs.FS
	scanner *procfs.Scanner
}

func (p scanningProc) Processes(ctx context.Context) ([]procfs.Process, procfs.Stats, error) {
	return p.scanner.Scan(ctx)
}
