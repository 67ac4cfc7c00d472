// Package postgres implements auth.Store on PostgreSQL, through the pgx
// driver and its connection pool (github.com/jackc/pgx/v5/pgxpool), for
// deployments where several Bulwark instances share one database.
//
// # Connections
//
// Open takes a PostgreSQL URL or keyword/value string (anything pgx accepts,
// including sslmode and the PG* environment variables for what it leaves
// out). A DB holds one pool, bounded as follows:
//
//   - MaxConns: at most MaxConns(n) connections, default 2×GOMAXPROCS+2 and
//     never more than 64 (MaxConns(n) is clamped to [1, 256]). Several
//     instances multiply it: keep instances × MaxConns below the server's
//     max_connections minus what administrators need.
//   - MaxConnLifetime 30 minutes (with up to 5 minutes of jitter, so an
//     instance does not reconnect all at once) and MaxConnIdleTime 5
//     minutes: connections follow a failover or a DNS change and do not pile
//     up on a quiet server.
//   - HealthCheckPeriod 15 s: the pool closes dead idle connections in the
//     background, and pings any connection idle for more than a second
//     before handing it out, so a restarted server costs at most the requests
//     already in flight.
//   - ConnectTimeout 5 s unless the URL sets connect_timeout.
//   - Every session sets application_name "bulwark" (unless the URL does)
//     and idle_in_transaction_session_timeout 60 s, so a process that hangs
//     inside a transaction cannot hold row locks that other instances wait
//     for.
//
// Parameters in the URL the server understands (search_path, for one) are
// passed on; the pool_* parameters of pgxpool are overridden by the settings
// above.
//
// # Atomicity
//
// Each method is one statement or one transaction at READ COMMITTED, and
// every promise of internal/auth's store interfaces holds across processes,
// not only goroutines: compare-and-swap updates (RotateRefreshToken,
// ConsumeOneTimeToken), INSERT … ON CONFLICT for counters and first-writer-wins
// values (RecordLoginFailure, Deny, Secret), and SELECT … FOR UPDATE SKIP
// LOCKED for claiming mail (PendingMail). Rows are locked in one order,
// family before token, so rotation, revocation and Purge do not deadlock.
//
// # Time
//
// Times are timestamptz, which keeps microseconds: a time.Time is truncated
// to the microsecond, as internal/sqlite does. The zero time.Time is stored
// as NULL and read back as the zero time; every other time is read back in
// UTC.
//
// # Text
//
// PostgreSQL text holds neither NUL bytes nor invalid UTF-8, which a client's
// User-Agent may carry. The free-text fields (IP, UserAgent, and mail data)
// are stored with NUL and invalid bytes replaced by U+FFFD rather than making
// the insert, and so the login, fail.
//
// # Errors
//
// Errors wrap with "verb thing: %w". pgx.ErrNoRows becomes auth.ErrNotFound,
// a unique violation (23505) auth.ErrConflict, a foreign-key violation
// (23503: a parent user or family that does not exist) auth.ErrNotFound, and
// a failure of the database rather than of the request auth.ErrUnavailable:
// a closed DB or pool, a connection that cannot be made or was lost, a
// deadline exceeded, a server shutting down or starting (57P01–57P03), too
// many connections or other missing resources (53xxx), a read-only server
// (25006, a standby after failover), a cancelled statement (57014), a lock
// or deadlock timeout (55P03, 40P01) and a serialization failure (40001).
// The driver's error stays in the chain for the log.
//
// # Migrations
//
// The schema is in migrations/*.sql, embedded in the binary and applied in
// lexical order of file name, each in its own transaction together with its
// row in schema_migrations. A run holds a session-level advisory lock (keyed
// on the current schema) from start to end, so instances that start at once
// apply each migration exactly once; the others wait and then find nothing
// to do. See Migrate, Pending and AutoMigrate.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Pool bounds (see the package documentation).
const (
	maxDefaultConns   = 64
	maxConnsLimit     = 256
	maxConnLifetime   = 30 * time.Minute
	maxConnJitter     = 5 * time.Minute
	maxConnIdleTime   = 5 * time.Minute
	healthCheckPeriod = 15 * time.Second
	connectTimeout    = 5 * time.Second
	idleInTxTimeout   = "60s"
)

// DB is a Bulwark database on PostgreSQL. It implements auth.Store and is
// safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	closed atomic.Bool
	sealer auth.Sealer // nil: secrets at rest in plain text
}

var _ auth.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	autoMigrate bool
	maxConns    int
	sealer      auth.Sealer
}

// WithSealer makes the store seal what it keeps of secrets at rest (mail
// content, server secrets) with s, the key-encryption key. Without it they
// are stored in plain text, as before (tests only; serve always sets it).
func WithSealer(s auth.Sealer) Option {
	return func(o *options) { o.sealer = s }
}

// AutoMigrate makes Open apply pending migrations before it returns. Without
// it Open leaves the schema alone; call Pending and Migrate yourself.
func AutoMigrate(on bool) Option {
	return func(o *options) { o.autoMigrate = on }
}

// MaxConns sets the most connections the pool opens (default 2×GOMAXPROCS+2,
// at most 64). n is clamped to [1, 256]; 0 or less keeps the default.
func MaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = min(n, maxConnsLimit)
		}
	}
}

// DefaultMaxConns is the pool size without MaxConns: 2×GOMAXPROCS+2, at most
// 64. Requests spend most of their database time waiting on the network, so
// a few connections per processor keep it busy.
func DefaultMaxConns() int {
	return min(2*runtime.GOMAXPROCS(0)+2, maxDefaultConns)
}

// Open connects to the PostgreSQL database at url and checks that it
// answers. With AutoMigrate(true) it also applies pending migrations. A
// server that does not answer is auth.ErrUnavailable.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{maxConns: DefaultMaxConns()}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error may quote the URL, password included: keep it out.
		return nil, errors.New("open database: invalid PostgreSQL URL")
	}
	cfg.MaxConns = int32(o.maxConns)
	cfg.MinConns = 0
	cfg.MaxConnLifetime = maxConnLifetime
	cfg.MaxConnLifetimeJitter = maxConnJitter
	cfg.MaxConnIdleTime = maxConnIdleTime
	cfg.HealthCheckPeriod = healthCheckPeriod
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "bulwark"
	}
	if rp["idle_in_transaction_session_timeout"] == "" {
		rp["idle_in_transaction_session_timeout"] = idleInTxTimeout
	}

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrapErr("open database", err)
	}
	db := &DB{pool: pool, sealer: o.sealer}
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	if o.autoMigrate {
		if err := db.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return db, nil
}

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return wrapErr("ping database", errClosed)
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT 1`).Scan(&n); err != nil {
		return wrapErr("ping database", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
// Calling it again does nothing.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.pool.Close()
	return nil
}

// tx runs fn in a transaction and commits it if fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// exec runs one statement and returns how many rows it changed.
func (db *DB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if db.closed.Load() {
		return 0, errClosed
	}
	tag, err := db.pool.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

// queryRow runs a one-row query.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) pgx.Row {
	if db.closed.Load() {
		return errRow{errClosed}
	}
	return db.pool.QueryRow(ctx, query, args...)
}

// query runs a query.
func (db *DB) query(ctx context.Context, query string, args ...any) (pgx.Rows, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	return db.pool.Query(ctx, query, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// errClosed is returned, wrapped as auth.ErrUnavailable by wrapErr, after
// Close.
var errClosed = errors.New("database is closed")

// unavailableCodes are the SQLSTATEs of a database that cannot serve now but
// may later (see the package documentation). Classes 08 (connection
// exception), 53 (insufficient resources) and 58 (system error) are matched
// by their first two characters.
var unavailableCodes = map[string]bool{
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"57P05": true, // idle_session_timeout
	"57014": true, // query_canceled (statement_timeout)
	"25006": true, // read_only_sql_transaction
	"25P03": true, // idle_in_transaction_session_timeout
	"55P03": true, // lock_not_available
	"40P01": true, // deadlock_detected
	"40001": true, // serialization_failure
}

// wrapErr wraps err as "op: ..." and maps it onto the auth sentinels. It is
// called once, by the exported method.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, auth.ErrNotFound)
	}
	if errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrConflict) || errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrCredentialChanged) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return fmt.Errorf("%s: %w: %w", op, auth.ErrConflict, err)
		case pe.Code == "23503":
			return fmt.Errorf("%s: %w: %w", op, auth.ErrNotFound, err)
		case unavailableCodes[pe.Code], strings.HasPrefix(pe.Code, "08"),
			strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "58"):
			return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err, which is not a server error, means that
// the database could not be reached or the connection was lost.
func unavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(err, errClosed),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &connectErr),
		errors.As(err, &netErr),
		errors.As(err, &errno),
		pgconn.Timeout(err),
		// Nothing reached the server: the connection was closed or busy.
		pgconn.SafeToRetry(err):
		return true
	}
	// Neither pgxpool nor puddle wraps these in a type of their own.
	msg := err.Error()
	return strings.Contains(msg, "closed pool") || strings.Contains(msg, "conn closed")
}

// timeArg is the stored form of t: t itself, or NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeCol scans a timestamptz column into *T: NULL as the zero time, any
// other value in UTC.
type timeCol struct{ T *time.Time }

func (c timeCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*c.T = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("scan time: infinite timestamp")
	default:
		*c.T = v.Time.UTC()
	}
	return nil
}

// blobArg stores a nil or empty slice as NULL.
func blobArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// text makes s storable in a text column: NUL bytes and invalid UTF-8
// become U+FFFD. Valid text, the usual case, is returned as it is.
func text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// notFoundIfNone returns auth.ErrNotFound when a statement changed no row.
func notFoundIfNone(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return auth.ErrNotFound
	}
	return nil
}
