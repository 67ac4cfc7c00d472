// Command bulwark is the Bulwark authentication server.
//
//	bulwark serve [--dev] [--setting-name=value …]
//	bulwark migrate [--dev]
//	bulwark version
//
// Every setting is a BULWARK_* environment variable; a flag of the same name
// in kebab-case overrides it (docs/configuration.md).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// Every line Bulwark writes is one JSON object, this one too.
		line, _ := json.Marshal(map[string]string{"level": "ERROR", "msg": "bulwark failed", "error": err.Error()})
		fmt.Fprintln(os.Stderr, string(line))
		os.Exit(1)
	}
}
