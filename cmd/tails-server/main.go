// Command tails-server hosts group services as Tor v3 onion services and
// sets up Tor stream isolation. See README.md, or run `tails-server help`.
package main

import (
	"context"
	"os"

	"tails-server/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
