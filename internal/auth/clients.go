package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// APIClient is a resource server allowed to call token introspection and the
// revocation feed, with HTTP Basic authentication (RFC 7662 §2.1).
//
// Its secret is 256 random bits from the CSPRNG, never chosen by a person
// (OWASP ASVS 5.0 7.2.3 and 11.5.1: at least 128 bits), so only its SHA-256
// is stored, as for every other token of Bulwark: the work factor ASVS 11.4.2
// asks of password storage protects low-entropy secrets against guessing,
// which a 256-bit random value does not need, and a reader of the database
// learns nothing it can present. The digest is compared in constant time
// (ASVS 11.2.4).
type APIClient struct {
	ID         string // public client_id, "cli_" + 128 random bits
	Name       string
	SecretHash []byte // SHA-256 of the secret as sent
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while active
}

// Revoked reports whether the client has been revoked.
func (c *APIClient) Revoked() bool { return !c.RevokedAt.IsZero() }

// APIClientStore keeps API clients.
type APIClientStore interface {
	// CreateAPIClient inserts c (ErrConflict if its id exists).
	CreateAPIClient(ctx context.Context, c *APIClient) error
	// APIClientByID returns the client, revoked or not, or ErrNotFound.
	APIClientByID(ctx context.Context, id string) (*APIClient, error)
	// ListAPIClients returns every client, revoked ones included, oldest
	// first.
	ListAPIClients(ctx context.Context) ([]APIClient, error)
	// RevokeAPIClient sets revoked_at on an active client; ErrNotFound if
	// there is no such client or it is already revoked.
	RevokeAPIClient(ctx context.Context, id string, now time.Time) error
}

// maxClientName bounds a client's display name.
const maxClientName = 100

// NewAPIClient makes a client named name with a fresh id and secret, read
// from r (crypto/rand in production). The secret is returned once and only
// its hash is in the client.
func NewAPIClient(r io.Reader, name string, now time.Time) (*APIClient, Secret, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxClientName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, "", fmt.Errorf("client name must be 1 to %d printable characters", maxClientName)
	}
	id, err := newID(r, "cli_")
	if err != nil {
		return nil, "", err
	}
	secret, err := newToken(r) // 256 bits
	if err != nil {
		return nil, "", err
	}
	c := &APIClient{ID: id, Name: name, SecretHash: HashToken(secret.Reveal()), CreatedAt: now.UTC()}
	return c, secret, nil
}

// dummyClientHash is compared against when the client id is unknown or
// revoked, so that every failure costs one lookup and one comparison.
var dummyClientHash = HashToken("bulwark: no such client")

// maxClientCredential bounds the id and the secret before any work.
const maxClientCredential = 256

// AuthenticateClient checks an API client's id and secret (HTTP Basic,
// RFC 7662 §2.1). Every failure is the same unauthenticated error, whichever
// part was wrong. Failed attempts are counted per client address; past
// ClientAuthFailures in a window the answer is rate_limited. The secret has
// 256 bits, so the limit is not what keeps it from being guessed: it bounds
// the work and the log noise of a client that keeps failing. A good
// secret is accepted whatever the count, so a flood from a shared address
// does not lock out a legitimate resource server.
func (s *Service) AuthenticateClient(ctx context.Context, cl Client, id, secret string) (*APIClient, error) {
	cs, ok := s.store.(APIClientStore)
	if !ok {
		return nil, storeErr("authenticate client", errors.New("store keeps no API clients"))
	}
	var c *APIClient
	want := dummyClientHash
	if id != "" && len(id) <= maxClientCredential && len(secret) <= maxClientCredential {
		var err error
		c, err = cs.APIClientByID(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			c = nil
		case err != nil:
			return nil, storeErr("authenticate client", err)
		case !c.Revoked():
			want = c.SecretHash
		}
	}
	got := HashToken(secret)
	if subtle.ConstantTimeCompare(got, want) == 1 && c != nil && !c.Revoked() && secret != "" {
		return c, nil
	}
	if err := s.limit(ctx, cl, "client_auth_ip", cl.IPKey, ClientAuthFailures, ""); err != nil {
		return nil, err
	}
	s.audit(ctx, cl, Event{Name: EventClientAuthFailed})
	return nil, unauthenticated()
}

// ClientAuthFailures is how many failed client authentications one address
// may make before it is answered rate_limited.
var ClientAuthFailures = Limit{N: 20, Per: time.Minute}

// EventClientAuthFailed is audited on every failed API client authentication.
const EventClientAuthFailed = "client_auth_failed"

// Introspect answers whether token is an access token the server would accept
// right now, with exactly the checks of BearerByToken (signature, expiry,
// deny list, epoch, credential version, disabled account), so introspection
// and the server's own authentication never disagree. It changes nothing.
// ok is false for any token BearerByToken refuses, and for refresh tokens:
// checking one without spending it is not something the refresh store
// offers, and a resource server has no use for one (RFC 7662 §2.2 lets the
// server answer inactive for tokens it will not describe).
func (s *Service) Introspect(ctx context.Context, token string) (claims *AccessClaims, ok bool, err error) {
	if token == "" || len(token) > maxAuthorizationToken || !looksLikeJWT(token) {
		return nil, false, nil
	}
	cur, _, err := s.BearerByToken(ctx, token)
	if err != nil {
		if ErrorCode(err) == CodeUnauthenticated {
			return nil, false, nil
		}
		return nil, false, err
	}
	return cur.Claims, true, nil
}

// maxAuthorizationToken bounds a token given to Introspect.
const maxAuthorizationToken = 8 << 10
