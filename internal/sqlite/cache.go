package sqlite

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The read cache holds the answers of the two reads every authenticated
// request makes (SessionWithUser for a cookie, UserForAccess for a bearer
// token), so that a request whose answer has not changed costs no SQL
// (the query was 60 % of a bearer /v1/me in the profile).
//
// It is exact for this process: every write goes through writeTx, which
// moves the generation after it ends, and an entry is used only while the
// generation is the one read before its query. A revocation, a disabled
// account, a password change or a new deny-list entry is therefore seen by
// the very next request, as without the cache (ASVS 7.4.1; the deny list
// and the revocation epoch are still checked on every request, against
// data as fresh as a query's). A write from another process (an operator's
// sqlite3 disabling an account) is seen within walRecheck (1 ms): in WAL
// mode every commit writes to the -wal file, so its size and modification
// time are part of the version an entry must match. An entry is never used
// for more than readCacheTTL either.
// PostgreSQL serves many instances and has no such cache.
type readCache struct {
	wal     string // the -wal file; "" for an in-memory database
	gen     atomic.Uint64
	hits    atomic.Uint64
	walSeen atomic.Pointer[walStat]
	mu      sync.Mutex
	entries map[string]readEntry
}

// version identifies the database's content as far as the cache can tell.
type version struct {
	gen       uint64
	walSize   int64
	walModNS  int64
	walExists bool
}

type readEntry struct {
	ver     version
	at      time.Time // monotonic
	user    auth.User
	session auth.Session
	denied  bool
}

const (
	readCacheMax = 16384 // entries; then the cache starts over (bounded: ASVS 2.4.1)
	readCacheTTL = time.Second
	walRecheck   = time.Millisecond
)

// walStat is the -wal file's size and modification time, as of at.
type walStat struct {
	at      time.Time // monotonic
	exists  bool
	size    int64
	modNano int64
}

// version is read before the query whose answer put stores. The -wal
// file is looked at again once walRecheck has passed since the last look
// (a stat costs ~10 µs here, a sixth of a cached request): this process's
// own writes are seen through gen at once, other processes' within
// walRecheck.
func (c *readCache) version() version {
	v := version{gen: c.gen.Load()}
	if c.wal == "" {
		return v
	}
	w := c.walSeen.Load()
	if w == nil || time.Since(w.at) >= walRecheck {
		w = &walStat{at: time.Now()}
		if fi, err := os.Stat(c.wal); err == nil {
			w.exists, w.size, w.modNano = true, fi.Size(), fi.ModTime().UnixNano()
		}
		c.walSeen.Store(w)
	}
	v.walExists, v.walSize, v.walModNS = w.exists, w.size, w.modNano
	return v
}

// invalidate ends every entry: called after each write transaction.
func (c *readCache) invalidate() { c.gen.Add(1) }

func (c *readCache) get(key string) (readEntry, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if !ok || time.Since(e.at) > readCacheTTL || e.ver != c.version() {
		return readEntry{}, false
	}
	c.hits.Add(1)
	return e, true
}

func (c *readCache) put(key string, e readEntry) {
	if e.ver.gen != c.gen.Load() {
		return // a write ended meanwhile: the answer may be stale already
	}
	e.at = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= readCacheMax {
		c.entries = make(map[string]readEntry, 256)
	}
	c.entries[key] = e
}

func accessKey(userID string, denyKeys []string) string {
	return "a\x00" + userID + "\x00" + strings.Join(denyKeys, "\x00")
}

func sessionKey(hash []byte) string { return "s\x00" + string(hash) }
