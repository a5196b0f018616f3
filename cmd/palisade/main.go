// Command palisade is Palisade's single binary: server, sensor, client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/palisade-project/palisade/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
