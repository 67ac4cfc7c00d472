// Command bulwark is the Bulwark authentication server.
//
//	bulwark serve [--dev] [--setting-name=value …]
//	bulwark migrate [--dev]
//	bulwark keys list|rotate [--force]|retire KID [--dev]
//	bulwark clients create|list|revoke [--dev] [NAME|ID]
//	bulwark users list|show|disable|enable|unlock|revoke-sessions|delete|grant-admin|revoke-admin|import|export [--dev] …
//	bulwark bench [--scenario=…] …
//	bulwark version
//	bulwark help [COMMAND]
//
// Every setting is a BULWARK_* environment variable; a flag of the same name
// in kebab-case overrides it (bulwark help serve lists them; see
// docs/configuration.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// The logs on standard output are JSON; this last word is for the
		// person at the terminal: exit 2 for a usage error, 1 otherwise.
		os.Exit(printError(os.Stderr, err))
	}
}
