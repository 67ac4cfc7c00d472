package auth

import (
	"context"
	"time"
)

// States of a managed signing key. A key moves one way only:
//
//	next → current → previous → retired
//
// next is published but signs nothing yet, so verifiers learn it before the
// first token it signs; current signs; previous only verifies the tokens it
// signed while current; retired is neither published nor accepted, and its
// private key is erased.
const (
	KeyNext     = "next"
	KeyCurrent  = "current"
	KeyPrevious = "previous"
	KeyRetired  = "retired"
)

// SigningKey is one managed access-token signing key as stored.
type SigningKey struct {
	// KID is the key id: the RFC 7638 JWK thumbprint of the public key.
	KID string
	// Alg is the one JWS algorithm the key is used with: "EdDSA" or "ES256".
	Alg   string
	State string
	// Public is the public key (Ed25519: 32 bytes; P-256: the 65-byte
	// uncompressed point). Informational: verifiers derive the public key
	// from the sealed private key.
	Public []byte
	// Sealed is the private key sealed under the key-encryption key (the
	// token package knows its format); nil once the key is retired.
	Sealed []byte
	// CreatedAt is when the key was made (as next); ActivatedAt when it
	// became current (zero before); RetiredAt when it was retired.
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
}

// SigningKeyChange is one conditional state change: the key KID moves from
// state From to state To, and the whole change fails unless it is in From.
type SigningKeyChange struct {
	KID      string
	From, To string
}

// SigningKeyStore keeps the managed signing keys (internal/token's
// Manager). Every instance of a deployment reads them from it.
type SigningKeyStore interface {
	// SigningKeys returns the keys, oldest first: all of them, or only those
	// not retired.
	SigningKeys(ctx context.Context, withRetired bool) ([]SigningKey, error)
	// ChangeSigningKeys applies, in one transaction serialised with every
	// other ChangeSigningKeys of the deployment, the changes in order and
	// then inserts add. A change to KeyCurrent sets ActivatedAt to now; a
	// change to KeyRetired sets RetiredAt to now and erases Sealed. If a
	// change finds its key in another state than From, or an insert would
	// make a second key of one state other than retired (or reuse a kid),
	// nothing is changed and the error is ErrConflict: another instance
	// changed the keys first.
	ChangeSigningKeys(ctx context.Context, changes []SigningKeyChange, add []SigningKey, now time.Time) error
	// ResealSigningKey replaces the sealed private key of kid by sealed if
	// it is still old (after a rotation of the key-encryption key). A key
	// that changed meanwhile (resealed by another instance, retired) is left
	// as it is, without error.
	ResealSigningKey(ctx context.Context, kid string, old, sealed []byte) error
}
