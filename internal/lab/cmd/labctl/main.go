// Command labctl starts, stops and reports on the local Palisade lab
// (internal/lab). hack/lab.sh runs it; `palisade lab` is meant to replace
// it once wired into the palisade binary.
//
//	labctl up [--dir DIR] [--nodes N] [ENVIRONMENT_DIR | -]
//	labctl down [--dir DIR] [--purge]
//	labctl status [--dir DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/palisade-project/palisade/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage:
  lab up [--dir DIR] [--nodes N] [ENVIRONMENT_DIR | -]
  lab down [--dir DIR] [--purge]
  lab status [--dir DIR]`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("lab "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "lab directory (default ~/.cache/palisade/lab)")
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch args[0] {
	case "up":
		nodes := fs.Int("nodes", 3, "fake nodes to create")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 1 {
			return errors.New(usage)
		}
		info, err := lab.Up(ctx, lab.Options{Dir: *dir, Environment: fs.Arg(0), Nodes: *nodes, Logger: log})
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, "\n"+info.Instructions())
		return nil
	case "down":
		purge := fs.Bool("purge", false, "also delete the lab's data")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *purge {
			return lab.Purge(ctx, *dir)
		}
		return lab.Down(ctx, *dir)
	case "status":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		st, err := lab.Status(ctx, *dir)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, st.String())
		return nil
	}
	return errors.New(usage)
}
