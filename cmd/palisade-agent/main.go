// Command palisade-agent is Palisade's node agent alone ("palisade agent"
// without the server, the Kubernetes client and the databases linked in),
// so that what runs on every node stays small: about 7 MB of binary and
// 15 MB resident instead of the full binary's 65 MB and 45 MB.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/palisade-project/palisade/internal/agentcmd"
)

// Version is set at build time (-ldflags "-X main.Version=...").
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	level := slog.LevelInfo
	switch strings.ToLower(os.Getenv("PALISADE_LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cmd := agentcmd.New(agentcmd.Env{Stderr: os.Stderr, Log: log, Getenv: os.Getenv, Version: Version})
	cmd.Use = "palisade-agent"
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	// "palisade-agent agent …" works as "palisade agent …" does, so that
	// either binary can be dropped into the same command line.
	if len(args) > 0 && args[0] == "agent" {
		args = args[1:]
	}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "palisade-agent: %v\n", err)
	var ue *agentcmd.UsageError
	if errors.As(err, &ue) || strings.Contains(err.Error(), "unknown flag") || strings.Contains(err.Error(), "flag needs an argument") {
		return 2
	}
	return 1
}
