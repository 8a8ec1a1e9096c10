// Command loadfleet is loadfleet's one binary: the servers (one target or
// all of them) and the command-line tools (validate; run, runs, report and
// executor come later).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
