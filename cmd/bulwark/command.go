package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Operator subcommands (migrate, keys, and the ones to come: clients,
// users) share serve's settings. Each reads the same BULWARK_* environment
// and the same --setting-name=value flags, and takes --dev with the same
// meaning (dev defaults: the SQLite file and the key-encryption key in the
// data directory), anywhere on its command line: `bulwark keys rotate
// --dev` and `bulwark keys --dev rotate` are one command. Each names the
// settings it uses (uses): without --dev only those are required, so
// `bulwark migrate` needs the database URL and not the mail URL.
//
// A new subcommand is one case in run and one function:
//
//	case "clients":
//		return clientsCommand(ctx, rest, getenv, stdout)
//
//	func clientsCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
//		cmd, err := loadCommand("clients", args, getenv, stdout, usesDatabase|usesKEK, "force")
//		if err != nil {
//			return err
//		}
//		db, err := cmd.openDatabase(ctx) // sealed under the KEK, migrated as serve would
//		if err != nil {
//			return err
//		}
//		defer db.Close()
//		// cmd.args are the positional arguments ("add", a name…),
//		// cmd.bools["force"] is --force, cmd.cfg the settings, cmd.log
//		// a JSON logger on stdout.
//	}
type command struct {
	name  string
	cfg   *Config
	args  []string
	bools map[string]bool
	log   *slog.Logger
}

// loadCommand parses the command line of the subcommand name: --dev, the
// subcommand's own boolean flags (boolFlags, such as "force"), settings
// flags (--name=value or --name value), and positional arguments (also
// everything after "--", and words that begin with one dash but are not a
// boolean flag, such as a kid "-Xa…"); then loads the configuration
// requiring what need names.
func loadCommand(name string, args []string, getenv func(string) string, stdout io.Writer, need uses, boolFlags ...string) (*command, error) {
	cmd := &command{name: name, bools: map[string]bool{}}
	dev := false
	settings := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" { // the rest is positional
			cmd.args = append(cmd.args, args[i+1:]...)
			break
		}
		// A kid (base64url) may begin with "-": with one dash, only the
		// boolean flags are flags (-dev, -force); settings take two.
		single := strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--")
		if name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "="); !strings.HasPrefix(a, "-") ||
			(single && name != "dev" && !slices.Contains(boolFlags, name)) {
			cmd.args = append(cmd.args, a)
			continue
		}
		flag := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if n, v, ok := strings.Cut(flag, "="); ok {
			flag, value, hasValue = n, v, true
		}
		if flag == "dev" || slices.Contains(boolFlags, flag) {
			on := true
			if hasValue {
				var err error
				if on, err = strconv.ParseBool(value); err != nil {
					return nil, usagef("%s: flag --%s takes true or false", name, flag)
				}
			}
			if flag == "dev" {
				dev = on
			} else {
				cmd.bools[flag] = on
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("%s: flag --%s needs a value", name, flag)
			}
			i++
			value = args[i]
		}
		settings[flag] = value
	}
	if err := checkSettingFlags(name, settings); err != nil {
		return nil, err
	}
	cfg, err := loadConfig(getenv, settings, dev, need)
	if err != nil {
		return nil, newConfigError(err)
	}
	cmd.cfg = cfg
	cmd.log = newLogger(stdout, cfg.LogLevel)
	return cmd, nil
}

// openDatabase opens the configured database with the key-encryption key
// as serve does: pending migrations are applied when BULWARK_AUTO_MIGRATE
// is on (the default) and refused otherwise.
func (c *command) openDatabase(ctx context.Context) (database, auth.Sealer, error) {
	keys, err := keyEncryptionKeys(c.cfg, c.log)
	if err != nil {
		return nil, nil, err
	}
	db, err := openMigrated(ctx, c.cfg, keys)
	if err != nil {
		return nil, nil, err
	}
	return db, keys, nil
}
