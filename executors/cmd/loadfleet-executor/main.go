// Command loadfleet-executor runs one shard of a loadfleet run with the
// plan's tool: standalone (`run PLAN`, the whole plan as one shard) or for
// the control plane (`agent`). It is the binary of the executor images; the
// command line itself lives in package command.
package main

import (
	"context"
	"os"

	"github.com/loadfleet/loadfleet/executors/command"
)

func main() {
	ctx, stop := command.NotifyContext(context.Background())
	code := command.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
