package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxJWKSSize bounds the key set document read from the network.
	maxJWKSSize = 1 << 20

	// defaultCacheAge is how long a key set is used when its response has
	// no max-age (Bulwark always sends one).
	defaultCacheAge = 5 * time.Minute

	// maxCacheAge caps the max-age honoured, so that a key the issuer has
	// withdrawn is refused within an hour even if a cache header said
	// "a year" (RFC 8725 §3.10: keys come from the issuer, and follow it).
	maxCacheAge = time.Hour

	// maxStale is how long past its expiry a key set is still used while
	// every refresh fails. After it, Verify answers ErrUnavailable rather
	// than trusting keys the issuer may long have withdrawn.
	maxStale = 24 * time.Hour

	// fetchTimeout bounds one key set request, whatever the caller's
	// context (the fetch is shared by every caller waiting on it).
	fetchTimeout = 10 * time.Second
)

// key is a public key pinned to exactly one algorithm (RFC 8725 §3.1).
type key struct {
	kid, alg string
	ed25519  ed25519.PublicKey // alg EdDSA
	ecdsa    *ecdsa.PublicKey  // alg ES256
}

// keySet is one fetched JWKS. It is never modified after it is built.
type keySet struct {
	keys    map[string]*key
	expires time.Time // fetch time + honoured max-age
}

// jwk is the subset of RFC 7517 §4 members this package reads.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
	K      string   `json:"k"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
}

// parseJWKS builds the keys of a JWK Set (RFC 7517 §5) usable with the
// allowed algorithms. A key that is unusable (another algorithm, a kty or
// crv that does not match its alg, an invalid point, use other than "sig",
// a private or symmetric member) is skipped and named in skipped; a kid
// that appears twice names no key at all, since either could be meant.
func parseJWKS(body []byte, allowed []string) (keys map[string]*key, skipped []string, err error) {
	var doc struct {
		Keys *[]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, errors.New("key set is not a JSON object")
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`key set has no "keys" array`)
	}
	keys = make(map[string]*key, len(*doc.Keys))
	dup := map[string]bool{}
	for i, raw := range *doc.Keys {
		k, err := parseJWK(raw, allowed)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		if _, seen := keys[k.kid]; seen || dup[k.kid] {
			dup[k.kid] = true
			delete(keys, k.kid)
			skipped = append(skipped, fmt.Sprintf("key %d: duplicate kid", i))
			continue
		}
		keys[k.kid] = k
	}
	return keys, skipped, nil
}

// parseJWK reads one public key. The key's own alg decides what it may
// verify, and its kty and crv must be the ones that alg requires (RFC 8037
// §2, RFC 7518 §6.2): a key is never used with an algorithm a token header
// picks for it.
func parseJWK(raw json.RawMessage, allowed []string) (*key, error) {
	var j jwk
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, errors.New("not a JWK object")
	}
	switch {
	case j.Kid == "" || len(j.Kid) > maxKeyIDLen:
		return nil, errors.New("kid missing or too long")
	case j.D != "" || j.K != "":
		// A private or symmetric key has no business in a public set.
		return nil, errors.New("private or symmetric key material")
	case j.Use != "" && j.Use != "sig":
		return nil, errors.New(`use is not "sig"`)
	case j.KeyOps != nil && !contains(j.KeyOps, "verify"):
		return nil, errors.New(`key_ops lacks "verify"`)
	case !contains(allowed, j.Alg):
		return nil, errors.New("alg missing or not allowed")
	}
	k := &key{kid: j.Kid, alg: j.Alg}
	switch j.Alg {
	case EdDSA:
		if j.Kty != "OKP" || j.Crv != "Ed25519" || j.Y != "" {
			return nil, errors.New("EdDSA key is not an OKP Ed25519 key")
		}
		x, err := b64.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 x is not 32 bytes of base64url")
		}
		k.ed25519 = ed25519.PublicKey(x)
	case ES256:
		if j.Kty != "EC" || j.Crv != "P-256" {
			return nil, errors.New("ES256 key is not an EC P-256 key")
		}
		// RFC 7518 §6.2.1.2–3: x and y are the full 32-byte coordinates.
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("P-256 x or y is not 32 bytes of base64url")
		}
		// Refuses a point that is not on the curve (invalid-curve attacks).
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, errors.New("P-256 point is invalid")
		}
		k.ecdsa = pub
	default:
		return nil, errors.New("alg not implemented")
	}
	return k, nil
}

// cacheAge reads max-age from a Cache-Control header (RFC 9111 §5.2.2.1)
// and bounds it to [floor, maxCacheAge]. no-store and no-cache mean floor.
func cacheAge(header string, floor time.Duration) time.Duration {
	age := defaultCacheAge
	for _, d := range strings.Split(header, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return floor
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n < 0 {
				return floor
			}
			if n > int64(maxCacheAge/time.Second) {
				n = int64(maxCacheAge / time.Second)
			}
			age = time.Duration(n) * time.Second
		}
	}
	return max(age, floor) // floor is at most maxCacheAge (newVerifier)
}

// keyCache holds the current key set and refreshes it: when it has expired,
// or when a token names an unknown kid (a key the issuer has just added).
// Every refresh, whatever triggers it, is rate-limited to one start per
// interval and single-flight: concurrent callers wait for the one request in
// flight, so a flood of tokens with made-up kids costs at most one fetch
// per interval (RFC 8725 §3.10: kid is untrusted input).
type keyCache struct {
	url      string
	client   *http.Client
	allowed  []string
	interval time.Duration
	log      *slog.Logger

	cur atomic.Pointer[keySet]

	mu          sync.Mutex
	lastAttempt time.Time     // start of the last fetch; guarded by mu
	inflight    chan struct{} // closed when the running fetch ends; guarded by mu
}

// lookup returns the key named kid.
func (c *keyCache) lookup(ctx context.Context, kid string, now time.Time) (*key, error) {
	s := c.cur.Load()
	if s != nil && now.Before(s.expires) {
		if k, ok := s.keys[kid]; ok {
			return k, nil
		}
	}
	c.refresh(ctx, now)
	s = c.cur.Load()
	if s == nil {
		return nil, errKeysStale
	}
	if now.Sub(s.expires) > maxStale {
		return nil, errKeysStale
	}
	k, ok := s.keys[kid]
	if !ok {
		return nil, errUnknownKey
	}
	return k, nil
}

// refresh fetches the key set unless a fetch started less than interval
// ago, and returns when the fetch it started or found running has ended,
// or ctx is done.
func (c *keyCache) refresh(ctx context.Context, now time.Time) {
	c.mu.Lock()
	ch := c.inflight
	if ch == nil {
		if !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < c.interval {
			c.mu.Unlock()
			return
		}
		ch = make(chan struct{})
		c.inflight = ch
		c.lastAttempt = now
		// The fetch outlives any one caller: it runs with its own timeout,
		// detached from ctx, so a caller that gives up does not fail the
		// others that wait for it.
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			defer cancel()
			s, err := c.fetch(fctx, now)
			c.mu.Lock()
			if err != nil {
				c.log.LogAttrs(fctx, slog.LevelWarn, "jwks_fetch_failed", slog.String("url", c.url), slog.String("error", err.Error()))
			} else {
				c.cur.Store(s)
			}
			c.inflight = nil
			close(ch)
			c.mu.Unlock()
		}()
	}
	c.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// fetch downloads and parses the key set.
func (c *keyCache) fetch(ctx context.Context, now time.Time) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "application/jwk-set+json") {
		return nil, errors.New("fetch jwks: response is not JSON")
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	if len(body) > maxJWKSSize {
		return nil, errors.New("fetch jwks: key set larger than 1 MiB")
	}
	keys, skipped, err := parseJWKS(body, c.allowed)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	for _, s := range skipped {
		c.log.LogAttrs(ctx, slog.LevelInfo, "jwks_key_skipped", slog.String("url", c.url), slog.String("reason", s))
	}
	return &keySet{keys: keys, expires: now.Add(cacheAge(resp.Header.Get("Cache-Control"), c.interval))}, nil
}
