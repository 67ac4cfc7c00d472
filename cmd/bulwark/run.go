package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/bulwarkauth/bulwark/internal/password"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module version from the build info is used.
var version = ""

// run is the whole program: main only wires the process to it, so tests can
// start a real server in-process with their own arguments and environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || isHelp(args[1]) {
		if len(args) > 2 && args[1] == "help" {
			u, ok := commandUsage(args[2])
			if !ok {
				return usagef("no help for %q", args[2])
			}
			_, err := io.WriteString(stdout, u)
			return err
		}
		_, err := io.WriteString(stdout, topUsage)
		return err
	}
	cmd, rest := args[1], args[2:]
	for _, a := range rest {
		if a == "-h" || a == "--help" || a == "-help" {
			u, ok := commandUsage(cmd)
			if !ok {
				break
			}
			_, err := io.WriteString(stdout, u)
			return err
		}
	}
	switch cmd {
	case "version", "--version":
		if len(rest) > 0 {
			return usagef("version takes no arguments")
		}
		_, err := fmt.Fprintln(stdout, versionLine())
		return err
	case "bench":
		return bench(ctx, rest, getenv, stdout, stderr)
	case "clients":
		return clients(ctx, rest, getenv, stdout)
	case "hash-worker":
		// Internal: the child process serve starts to compute password
		// hashes (BULWARK_HASH_WORKER=process); it speaks on its standard
		// input and output to its parent only, so it refuses a terminal
		// and is not listed in the help.
		// It ends when its input does: a signal (a Ctrl-C reaches the
		// whole process group) must not cut hashes the parent still waits
		// for while it shuts down gracefully.
		// A character device (a terminal, or /dev/null) is no parent.
		if isTerminal(os.Stdin) {
			return usagef("hash-worker is internal: bulwark serve starts it")
		}
		return password.ServeWorker(context.WithoutCancel(ctx), os.Stdin, stdout)
	case "migrate":
		// Operator subcommands: see command.go.
		c, err := loadCommand(cmd, rest, getenv, stdout, usesDatabase)
		if err != nil {
			return err
		}
		if len(c.args) > 0 {
			return usagef("migrate: unexpected argument %q", c.args[0])
		}
		return migrate(ctx, c.cfg, stdout)
	case "keys":
		return keysCommand(ctx, rest, getenv, stdout)
	case "users":
		return usersCommand(ctx, rest, getenv, stdout)
	case "serve":
	default:
		return usagef("unknown command %q", cmd)
	}
	dev, flags, err := parseFlags(rest)
	if err != nil {
		return &usageError{err.Error()}
	}
	if err := checkSettingFlags("serve", flags); err != nil {
		return err
	}
	cfg, err := LoadConfig(getenv, flags, dev)
	if err != nil {
		return newConfigError(err)
	}
	return serve(ctx, cfg, stdout, stderr)
}

// versionLine is "bulwark VERSION (revision REV[, modified], GO)" from the
// build information the Go toolchain embeds.
func versionLine() string {
	rev, modified, goVersion := "unknown", false, runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	line := "bulwark " + buildVersion() + " (revision " + rev
	if modified {
		line += ", modified"
	}
	return line + ", " + goVersion + ")"
}

// parseFlags reads --dev and --name=value or --name value pairs.
func parseFlags(args []string) (dev bool, flags map[string]string, err error) {
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return false, nil, fmt.Errorf("unexpected argument %q", a)
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if n, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = n, v, true
		}
		if name == "dev" {
			dev = true
			if hasValue {
				if dev, err = strconv.ParseBool(value); err != nil {
					return false, nil, fmt.Errorf("flag --dev takes true or false")
				}
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return false, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		flags[name] = value
	}
	return dev, flags, nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}
