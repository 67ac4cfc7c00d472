package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Deps is what bench needs of the command that runs it: the server it
// starts in-process is the command's own, configured as the command
// configures it, so that bench measures what `bulwark serve` runs.
type Deps struct {
	// Version is the program's version, for the report.
	Version string
	// ParseFlags reads the setting flags (--dev, --name=value or --name
	// value) that bench does not know.
	ParseFlags func(args []string) (dev bool, flags map[string]string, err error)
	// LoadConfig loads a dev-mode configuration from the environment and
	// the setting flags; its errors are the configuration's problems.
	LoadConfig func(getenv func(string) string, flags map[string]string) (*Config, error)
	// ReadHeaderTimeout is the server's, which the bare baseline's handler
	// shares.
	ReadHeaderTimeout time.Duration
	// ShutdownTimeout bounds the server's graceful shutdown.
	ShutdownTimeout time.Duration
	// IsTerminal reports whether a writer is a terminal: progress is
	// redrawn in place there. Optional (nil: never).
	IsTerminal func(io.Writer) bool
}

// Config is what bench reads of a loaded configuration, and the server it
// configures. The fields mean what the server's configuration fields of the
// same names mean.
type Config struct {
	DatabaseDriver            string // "sqlite" or "postgres"
	SQLitePath                string
	EmailVerificationRequired bool
	LoginLimitPerIP           auth.Limit
	LoginLimitPerEmail        auth.Limit
	TrustedProxies            []netip.Prefix
	PasswordHasher            string // "argon2id" or "bcrypt"
	BcryptCost                int
	JWTSecret                 []byte // nil when the server manages signing keys
	PublicURL                 *url.URL
	TokenAudience             string
	AccessTokenTTL            time.Duration
	SessionTTL                time.Duration
	SessionIdleTTL            time.Duration

	// Serve runs the server of this configuration until ctx is done,
	// writing its JSON log records to stdout; bench reads the address it
	// listens on from the "listening" record.
	Serve func(ctx context.Context, stdout, stderr io.Writer) error
}

// ErrUsage is wrapped by the errors of Run that are mistakes on the command
// line, which the command reports as such.
var ErrUsage = errors.New("usage error")

// usageError is a mistake on the command line: its message is the whole
// error, and it is ErrUsage for errors.Is.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }
