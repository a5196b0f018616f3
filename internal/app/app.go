// Package app wires Palisade together: it defines the command line, builds
// the concrete stores, sources and servers, and is the only package that
// does so.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/palisade-project/palisade/internal/agentcmd"
	"github.com/palisade-project/palisade/internal/answer"
)

// Version is set at build time with -ldflags "-X .../internal/app.Version=…".
var Version = "dev"

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitFinding = 3
)

// ExitError carries an exit code for errors that are not failures of the
// command itself (a policy gate that found something, a usage mistake).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

var errTargetsMissed = errors.New("benchmark targets missed")

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// env is what every command gets from main.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	getenv         func(string) string
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	level := new(slog.LevelVar)
	level.Set(logLevel(os.Getenv("PALISADE_LOG_LEVEL")))
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// client-go logs through klog; send it to the same structured logger.
	klog.SetSlogLogger(e.log)
	root := newRootCmd(e)
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		// Client commands print answers; their logs are only for trouble.
		if os.Getenv("PALISADE_LOG_LEVEL") == "" && clientCommand(cmd) {
			level.Set(slog.LevelWarn)
		}
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code != ExitFinding {
			fmt.Fprintf(stderr, "palisade: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "palisade: %v\n", err)
	var ue *agentcmd.UsageError
	if errors.As(err, &ue) || isUsage(err) {
		return ExitUsage
	}
	return ExitError
}

// isUsage recognises cobra's own argument and flag errors.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires ", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// clientCommand reports whether cmd is a client command (ask, report,
// token, db, scan, sbom, flows): their output is the answer, logs only matter for
// trouble.
func clientCommand(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "ask", "report", "token", "db", "scan", "sbom", "flows":
			return true
		}
	}
	return false
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// rootLong lists the questions this build answers, from the registry.
func rootLong() string {
	var b strings.Builder
	b.WriteString("Palisade watches Kubernetes clusters (live, or offline from manifests) and answers:\n")
	for _, q := range answer.Questions {
		fmt.Fprintf(&b, "  %-2d %-14s %s\n", q.Number, q.Name, q.Title)
	}
	b.WriteString("\n\"palisade report\" prints every question in brief, \"palisade ask\" one in full.\nStart with \"palisade demo\" to see the answers on example data.")
	return b.String()
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "palisade",
		Short:         "Palisade answers the security questions a team running Kubernetes asks every day",
		Long:          rootLong(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newAskCmd(e),
		newNetpolCmd(e),
		newReportCmd(e),
		newServerCmd(e),
		newAgentCmd(e),
		newDemoCmd(e),
		newTokenCmd(e),
		newBenchCmd(e),
		newLabCmd(e),
		newScanCmd(e),
		newSBOMCmd(e),
		newDBCmd(e),
		newFlowsCmd(e),
		newVersionCmd(e),
	)
	return root
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(e.stdout, "palisade %s\n", Version)
			return err
		},
	}
}
