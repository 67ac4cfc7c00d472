// Package sqlite implements auth.Store on SQLite, through the pure-Go driver
// modernc.org/sqlite (no cgo).
//
// # Connections
//
// SQLite allows one writer at a time. A DB therefore holds two pools on the
// same file:
//
//   - a write pool of exactly one connection, whose transactions start with
//     BEGIN IMMEDIATE (DSN _txlock=immediate). Every method that writes, and
//     every read-then-write, runs on it. Writers of this process queue in
//     database/sql for that one connection instead of failing with
//     SQLITE_BUSY, and because the write lock is taken at BEGIN, a
//     transaction never has to upgrade a read lock to a write lock (the case
//     where SQLite cannot wait and returns SQLITE_BUSY at once).
//   - a read pool of several connections (ReadConns, default
//     max(4, GOMAXPROCS)) set to query_only. In WAL mode they read a
//     consistent snapshot concurrently with the writer.
//
// Every connection of both pools gets, through _pragma DSN parameters:
// journal_mode=WAL, foreign_keys=ON, busy_timeout (BusyTimeout, default 5 s:
// how long to wait for another process's write lock) and synchronous=NORMAL
// (durable across process crashes; a power loss may lose the last
// transactions but never corrupts the file).
//
// The path ":memory:" opens a private in-memory database on a single
// connection shared by reads and writes; it is for tests and experiments.
//
// # Time
//
// Times are stored as INTEGER Unix microseconds UTC, the precision of
// PostgreSQL's timestamptz, so both backends round alike. The zero time.Time
// is stored as NULL and read back as the zero time; every other time is read
// back in UTC.
//
// # Errors
//
// Errors wrap with "verb thing: %w". sql.ErrNoRows becomes auth.ErrNotFound,
// a unique or primary-key violation auth.ErrConflict, a foreign-key violation
// (a parent user or family that does not exist) auth.ErrNotFound, and a
// connection-level failure (closed database, I/O error, lock timeout, full
// disk, corrupt file, deadline exceeded) auth.ErrUnavailable; the driver's
// error stays in the chain for the log.
//
// # Migrations
//
// The schema is in migrations/*.sql, embedded in the binary and applied in
// lexical order of file name (hence the zero-padded numbers), each in its own
// write transaction, and recorded by name in schema_migrations. See Migrate,
// Pending and AutoMigrate.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"

	sqlitedriver "modernc.org/sqlite"
)

// DB is a Bulwark database on SQLite. It implements auth.Store and is safe
// for concurrent use.
type DB struct {
	path   string
	write  *sql.DB // one connection, BEGIN IMMEDIATE
	read   *sql.DB // several query_only connections; == write for ":memory:"
	closed atomic.Bool

	readStmts sync.Map // query text → *sql.Stmt on the read pool (stmt.go)
	// writeStmts: query text → *sql.Stmt on the write pool, prepared
	// between transactions from pendingWrites (stmt.go).
	writeStmts     sync.Map
	writeStmtCount atomic.Int64
	pendingWrites  sync.Map
	writing        atomic.Pointer[sql.Tx] // the write transaction in progress
	sealer         auth.Sealer            // nil: secrets at rest in plain text
	cache          readCache
	revWatch       watcherSet // wakes of WatchRevocations (revocations.go)
}

var _ auth.Store = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	autoMigrate bool
	readConns   int
	busyTimeout time.Duration
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

// ReadConns sets the size of the read pool (default max(4, GOMAXPROCS)).
func ReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

// BusyTimeout sets how long a connection waits for a lock held by another
// process before it fails with SQLITE_BUSY (default 5 s).
func BusyTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.busyTimeout = d
		}
	}
}

// Open opens (creating if needed) the SQLite database at path, a file name
// (not a URI). With AutoMigrate(true) it also applies pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{readConns: max(4, runtime.GOMAXPROCS(0)), busyTimeout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open database %q: want a plain file name, not a URI", path)
	}

	db := &DB{path: path, sealer: o.sealer}
	memory := path == ":memory:"
	if !memory {
		db.cache.wal = path + "-wal"
	}

	var err error
	db.write, err = sql.Open("sqlite", dsn(path, o, !memory, true))
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	// One writer: the single connection must never be closed for idleness,
	// and for ":memory:" it is the database.
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	// Connecting the writer first switches the file to WAL before any reader
	// opens it.
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return nil, wrapErr(fmt.Sprintf("open database %q", path), err)
	}

	if memory {
		db.read = db.write
	} else {
		db.read, err = sql.Open("sqlite", dsn(path, o, false, false))
		if err != nil {
			db.write.Close()
			return nil, fmt.Errorf("open database %q: %w", path, err)
		}
		db.read.SetMaxOpenConns(o.readConns)
		db.read.SetMaxIdleConns(o.readConns)
		if err := db.read.PingContext(ctx); err != nil {
			db.Close()
			return nil, wrapErr(fmt.Sprintf("open database %q", path), err)
		}
	}

	if o.autoMigrate {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// dsn builds the data source name of one pool. wal sets journal_mode (it is
// persistent, so the writer sets it once for every reader); writer selects
// BEGIN IMMEDIATE, a reader is query_only.
func dsn(path string, o options, wal, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Deleted rows are overwritten with zeros: a sent mail (whose link holds
	// a token) or a deleted session leaves nothing in free pages.
	q.Add("_pragma", "secure_delete(1)")
	if wal {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// Path returns the file name the database was opened with.
func (db *DB) Path() string { return db.path }

// Ping reports whether the database answers, on both pools.
func (db *DB) Ping(ctx context.Context) error {
	if db.closed.Load() {
		return fmt.Errorf("ping database: %w: database is closed", auth.ErrUnavailable)
	}
	if err := db.write.PingContext(ctx); err != nil {
		return wrapErr("ping database", err)
	}
	if err := db.read.PingContext(ctx); err != nil {
		return wrapErr("ping database", err)
	}
	// PingContext does not touch the file; a query does.
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT 1`).Scan(&n); err != nil {
		return wrapErr("ping database", err)
	}
	return nil
}

// Close closes both pools. Calling it again does nothing.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	db.closeStmts()
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE on the one write
// connection) and commits it if fn returns nil.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	// After the transaction ends, committed or not: no cached read
	// answer from before it is used again (cache.go).
	defer db.cache.invalidate()
	db.preparePending(ctx)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// One write transaction at a time (one connection): this is it.
	db.writing.Store(tx)
	defer db.writing.Store(nil)
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Wake the revocation feed (revocations.go): this transaction may
	// have written an event.
	db.notifyWrite()
	return nil
}

// readTx runs fn in a read transaction on the read pool: every query in it
// sees one snapshot.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.closed.Load() {
		return errClosed
	}
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// errClosed is returned, wrapped as auth.ErrUnavailable by wrapErr, after
// Close.
var errClosed = errors.New("database is closed")

// SQLite result codes (primary codes are the low byte of extended ones).
const (
	codeBusy      = 5
	codeLocked    = 6
	codeNoMem     = 7
	codeReadOnly  = 8
	codeIOErr     = 10
	codeCorrupt   = 11
	codeFull      = 13
	codeCantOpen  = 14
	codeProtocol  = 15
	codeNotADB    = 26
	codeFKey      = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	codePrimary   = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	codeUnique    = 2067 // SQLITE_CONSTRAINT_UNIQUE
	codeRowIDPKey = 2579 // SQLITE_CONSTRAINT_ROWID
)

// wrapErr wraps err as "op: ..." and maps it onto the auth sentinels. It is
// called once, by the exported method.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, auth.ErrNotFound)
	}
	if errors.Is(err, auth.ErrNotFound) || errors.Is(err, auth.ErrConflict) || errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrCredentialChanged) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		switch code := se.Code(); code {
		case codeUnique, codePrimary, codeRowIDPKey:
			return fmt.Errorf("%s: %w: %w", op, auth.ErrConflict, err)
		case codeFKey:
			return fmt.Errorf("%s: %w: %w", op, auth.ErrNotFound, err)
		default:
			switch code & 0xff {
			case codeBusy, codeLocked, codeNoMem, codeReadOnly, codeIOErr, codeCorrupt,
				codeFull, codeCantOpen, codeProtocol, codeNotADB:
				return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
			}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, errClosed) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) ||
		// database/sql does not export its "database is closed" error.
		strings.Contains(err.Error(), "sql: database is closed") {
		return fmt.Errorf("%s: %w: %w", op, auth.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// timeArg is the stored form of t: Unix microseconds, or NULL for the zero
// time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeCol scans a column written by timeArg into *T.
type timeCol struct{ T *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.T = time.Time{}
	case int64:
		*c.T = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
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

// rowsAffected returns auth.ErrNotFound when res changed no row.
func rowsAffected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return auth.ErrNotFound
	}
	return nil
}
