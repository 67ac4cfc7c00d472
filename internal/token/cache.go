package token

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// maxCached bounds the verified-token cache.
const maxCached = 16384

// verified caches the claims of tokens that passed every check, keyed by the
// SHA-256 of the whole token string, so a client that sends the same token on
// every request pays for parsing and the HMAC once. Only an identical string
// hits; an entry is never used outside the token's own validity window; and
// what may change while a token lives (the deny list, the user's revocation
// epoch, the account state) is checked by the caller on every request, cached
// or not. The map is bounded: when full, expired entries are dropped, and if
// none are, the whole map.
type verified struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]cached
}

// cached is an entry: the claims, and the generation of the key set that
// verified them.
type cached struct {
	auth.AccessClaims
	gen uint64
}

// get returns the claims of token if it was verified under the key set of
// generation gen and is valid at now.
func (v *verified) get(token string, now time.Time, gen uint64) (auth.AccessClaims, bool) {
	key := sha256.Sum256([]byte(token))
	v.mu.RLock()
	c, ok := v.m[key]
	v.mu.RUnlock()
	if !ok || c.gen != gen || !validAt(c.AccessClaims, now) {
		return auth.AccessClaims{}, false
	}
	return c.AccessClaims, true
}

func (v *verified) put(token string, c auth.AccessClaims, now time.Time, gen uint64) {
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[sha256.Size]byte]cached)
	}
	if len(v.m) >= maxCached {
		for k, old := range v.m {
			if !validAt(old.AccessClaims, now) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxCached {
			clear(v.m)
		}
	}
	v.m[key] = cached{AccessClaims: c, gen: gen}
}

func (v *verified) len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.m)
}

// validAt applies the parser's time checks, with the same leeway.
func validAt(c auth.AccessClaims, now time.Time) bool {
	return now.Before(c.ExpiresAt.Add(Leeway)) && !now.Before(c.IssuedAt.Add(-Leeway))
}
