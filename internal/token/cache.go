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
	m  map[[sha256.Size]byte]auth.AccessClaims
}

func (v *verified) get(token string, now time.Time) (auth.AccessClaims, bool) {
	key := sha256.Sum256([]byte(token))
	v.mu.RLock()
	c, ok := v.m[key]
	v.mu.RUnlock()
	if !ok || !validAt(c, now) {
		return auth.AccessClaims{}, false
	}
	return c, true
}

func (v *verified) put(token string, c auth.AccessClaims, now time.Time) {
	key := sha256.Sum256([]byte(token))
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[sha256.Size]byte]auth.AccessClaims)
	}
	if len(v.m) >= maxCached {
		for k, old := range v.m {
			if !validAt(old, now) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxCached {
			clear(v.m)
		}
	}
	v.m[key] = c
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
