package app

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procfs"
)

func newAgentCmd(e *env) *cobra.Command {
	var (
		server, token, tokenFile, caFile, node, cluster, procRoot string
		interval, reportInterval                                  time.Duration
		maxBuffered                                               int
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: report the processes and connections of the node's containers to a server",
		Long: `The agent runs on every node (a DaemonSet with hostPID and the host's /proc
mounted, e.g. at /host/proc). It reads the processes of the node's containers
and the connections of their network namespaces every --interval, and sends
what it saw to the server every --report-interval, with an agent token (role
agent: it can send observations and read nothing). While the server is away,
reports wait in a bounded buffer; the oldest are dropped, and counted.

Without eBPF the agent polls: a process shorter than the interval can be
missed, and every report says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("reading --token-file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			token = firstNonEmpty(token, e.getenv("PALISADE_TOKEN"))
			if token == "" {
				return usageError("the agent needs an agent token: --token-file, --token or PALISADE_TOKEN (palisade token create NODE --role agent)")
			}
			if server == "" {
				return usageError("--server is required")
			}
			base, err := serverURL(e, server)
			if err != nil {
				return err
			}
			client, err := serverClient(caFile, 30*time.Second)
			if err != nil {
				return err
			}
			node = firstNonEmpty(node, e.getenv("NODE_NAME"))
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
				return sendReport(ctx, client, endpoint, token, r)
			}
			fs := procfs.New(procRoot, procfs.Options{})
			a := agent.New(agent.Options{
				Proc: scanningProc{fs, fs.NewScanner()}, Node: node, Cluster: cluster, Version: Version, Send: send,
				Interval: interval, ReportInterval: reportInterval, MaxBuffered: maxBuffered,
				Degraded: []string{"no eBPF exec tracing: processes that live shorter than the poll interval can be missed"},
				Logger:   e.log,
			})
			e.log.Info("agent started", "node", node, "cluster", cluster, "server", base.Redacted(), "procRoot", procRoot, "interval", interval)
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "URL of the palisade server")
	f.StringVar(&token, "token", "", "agent token (prefer --token-file or PALISADE_TOKEN: arguments are visible to other processes)")
	f.StringVar(&tokenFile, "token-file", "", "file holding the agent token")
	f.StringVar(&caFile, "ca-file", "", "CA certificate to verify an HTTPS --server")
	f.StringVar(&node, "node", "", "this node's name (default $NODE_NAME, then the hostname)")
	f.StringVar(&cluster, "cluster", "default", "the cluster's name, as the server names it")
	f.StringVar(&procRoot, "proc-root", "/proc", "where the host's /proc is mounted")
	f.DurationVar(&interval, "interval", agent.DefaultInterval, "how often to read /proc")
	f.DurationVar(&reportInterval, "report-interval", agent.DefaultReportInterval, "how often to send a report")
	f.IntVar(&maxBuffered, "max-buffered", agent.DefaultMaxBuffered, "reports kept while the server is away")
	return cmd
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
