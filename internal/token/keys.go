package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Managed signing keys.
//
// Besides one HS256 secret, an Issuer can sign with managed asymmetric keys
// whose public halves are published in the JWKS, so resource servers verify
// tokens offline and no verifier can mint one:
//
//   - EdDSA: Ed25519 (RFC 8037), the default;
//   - ES256: ECDSA on P-256 with SHA-256 (RFC 7518 §3.4); the JWS signature
//     is R || S, 64 bytes, not DER.
//
// The header is then {"alg":"EdDSA"|"ES256","kid":<kid>,"typ":"at+jwt"} and
// verification differs from the HS256 rules of the package doc in steps 4,
// 7 and 8 only: kid is required, is looked up among the server's own
// published keys and nowhere else (RFC 8725 §3.10, ASVS 9.1.3); alg must be
// the one algorithm of that key (RFC 8725 §3.1: "each key MUST be used with
// exactly one algorithm"), so HS256 with a public key as the HMAC secret,
// "none" and every other value fail; and the signature is checked with that
// key's public half.
//
// The kid of a managed key is its RFC 7638 JWK thumbprint (SHA-256,
// base64url): it names the public key and nothing else.

// Algorithms of managed keys.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
)

// Key is a managed signing key with its private half. Build one with
// GenerateKey or OpenKey.
type Key struct {
	KID   string
	Alg   string
	State string
	priv  crypto.Signer // ed25519.PrivateKey or *ecdsa.PrivateKey (P-256)
	// Stored is the key as stored, when it came from the store.
	Stored auth.SigningKey
}

// GenerateKey makes a new key for alg (EdDSA or ES256) from crypto/rand.
func GenerateKey(alg string) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("generate signing key: unsupported algorithm %q (EdDSA or ES256)", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return newKey(alg, priv)
}

func newKey(alg string, priv crypto.Signer) (*Key, error) {
	jwk, err := publicJWK(alg, priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{KID: thumbprint(jwk), Alg: alg, priv: priv}, nil
}

// PublicBytes returns the public key: 32 bytes for Ed25519, the 65-byte
// uncompressed point for P-256.
func (k *Key) PublicBytes() []byte { return publicBytes(k.priv.Public()) }

func publicBytes(pub crypto.PublicKey) []byte {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return slices.Clone(p)
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			return nil
		}
		return b
	}
	return nil
}

// aadKey is the associated data of a sealed private key: bound to its kid
// and algorithm, so a sealed key moved to another row does not open there
// (and an attacker who can write the table cannot pass off a key of their
// own without the key-encryption key).
func aadKey(kid, alg string) []byte {
	return []byte("bulwark signing_keys private_key v1:" + alg + ":" + kid)
}

// Seal returns the key as stored, in state state, created at now: the
// private key as PKCS #8 sealed under s (OWASP ASVS 5.0 V13.3).
func (k *Key) Seal(s auth.Sealer, state string, now time.Time) (auth.SigningKey, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return auth.SigningKey{}, fmt.Errorf("seal signing key: %w", err)
	}
	sealed, err := s.Seal(der, aadKey(k.KID, k.Alg))
	clear(der)
	if err != nil {
		return auth.SigningKey{}, fmt.Errorf("seal signing key: %w", err)
	}
	return auth.SigningKey{KID: k.KID, Alg: k.Alg, State: state, Public: k.PublicBytes(), Sealed: sealed, CreatedAt: now.UTC()}, nil
}

// OpenKey opens a stored key that is not retired. It checks that the
// private key is of the stored algorithm, that its public key has the
// stored kid (the thumbprint) and matches the stored public key: a row
// altered in the database is refused, not used.
func OpenKey(s auth.Sealer, sk auth.SigningKey) (*Key, error) {
	if sk.State == auth.KeyRetired || len(sk.Sealed) == 0 {
		return nil, fmt.Errorf("open signing key %s: retired", sk.KID)
	}
	der, err := s.Open(sk.Sealed, aadKey(sk.KID, sk.Alg))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s (is BULWARK_KEY_ENCRYPTION_KEY, or one of the previous keys, the key it was sealed with?): %w", sk.KID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", sk.KID, err)
	}
	var priv crypto.Signer
	switch p := parsed.(type) {
	case ed25519.PrivateKey:
		if sk.Alg == EdDSA {
			priv = p
		}
	case *ecdsa.PrivateKey:
		if sk.Alg == ES256 && p.Curve == elliptic.P256() {
			priv = p
		}
	}
	if priv == nil {
		return nil, fmt.Errorf("open signing key %s: not an %s key", sk.KID, sk.Alg)
	}
	k, err := newKey(sk.Alg, priv)
	if err != nil {
		return nil, err
	}
	if k.KID != sk.KID || !bytes.Equal(k.PublicBytes(), sk.Public) {
		return nil, fmt.Errorf("open signing key %s: kid or public key does not match the private key", sk.KID)
	}
	k.State, k.Stored = sk.State, sk
	return k, nil
}

// jwk is a public JSON Web Key (RFC 7517 §4; RFC 8037 §2 for OKP, RFC 7518
// §6.2.1 for EC).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

func publicJWK(alg string, pub crypto.PublicKey) (jwk, error) {
	enc := base64.RawURLEncoding
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if alg == EdDSA {
			return jwk{Kty: "OKP", Crv: "Ed25519", X: enc.EncodeToString(p)}, nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 && p.Curve == elliptic.P256() {
			b, err := p.Bytes() // 0x04 || X || Y, each 32 bytes (RFC 7518 §6.2.1.2)
			if err != nil {
				return jwk{}, err
			}
			return jwk{Kty: "EC", Crv: "P-256", X: enc.EncodeToString(b[1:33]), Y: enc.EncodeToString(b[33:])}, nil
		}
	}
	return jwk{}, fmt.Errorf("signing key is not an %s key", alg)
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 of the required
// members in lexicographic order, without white space (§3.2, §3.3; RFC 8037
// §2 lists crv, kty and x for OKP).
func thumbprint(k jwk) string {
	var s string
	if k.Kty == "EC" {
		s = `{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`
	} else {
		s = `{"crv":"` + k.Crv + `","kty":"OKP","x":"` + k.X + `"}`
	}
	h := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// signer is the key Issue signs with.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    any // []byte (HS256), ed25519.PrivateKey, *ecdsa.PrivateKey
	header map[string]any
}

// verifier is a key Verify accepts, with its one algorithm.
type verifier struct {
	kid    string
	method jwt.SigningMethod
	key    any // []byte (HS256), ed25519.PublicKey, *ecdsa.PublicKey
}

// keyring is one immutable set of keys. SetKeys replaces the whole ring.
type keyring struct {
	gen     uint64
	signer  *signer
	verify  map[string]verifier
	options []jwt.ParserOption
	// kidRequired is true for managed keys; an HS256 token may omit kid.
	kidRequired bool
	published   bool
	algs        []string
	jwks        []byte
}

// generations numbers key rings, so a verified-token cache entry names the
// ring that verified it.
var generations atomic.Uint64

func newKeyring(i *Issuer, s *signer, vs []verifier, published bool, jwks []jwk) *keyring {
	r := &keyring{gen: generations.Add(1), signer: s, verify: map[string]verifier{}, kidRequired: published, published: published}
	s.header = map[string]any{"alg": s.method.Alg(), "typ": Type, "kid": s.kid}
	algs := []string{s.method.Alg()}
	for _, v := range vs {
		r.verify[v.kid] = v
		if !slices.Contains(algs, v.method.Alg()) {
			algs = append(algs, v.method.Alg())
		}
	}
	if published {
		r.algs = algs
	}
	if jwks == nil {
		jwks = []jwk{}
	}
	r.jwks, _ = json.Marshal(map[string][]jwk{"keys": jwks}) // cannot fail
	r.options = []jwt.ParserOption{
		// The allowlist: only the algorithms of this ring's keys; the
		// Keyfunc then pins each kid to its own (RFC 8725 §3.1, §3.2).
		jwt.WithValidMethods(algs),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.audience),
	}
	return r
}

// key is the jwt.Keyfunc. It runs after the algorithm allowlist and before
// the signature check, and vets the rest of the header: the only keys it
// ever returns are this ring's, chosen by kid, and only for their own
// algorithm.
func (r *keyring) key(t *jwt.Token) (any, error) {
	for name := range t.Header {
		switch name {
		case "alg", "typ", "kid":
		default:
			return nil, errHeaderMember
		}
	}
	if typ, ok := t.Header["typ"].(string); !ok || (typ != Type && typ != "application/"+Type) {
		return nil, errType
	}
	var v verifier
	if raw, present := t.Header["kid"]; present {
		kid, ok := raw.(string)
		if !ok {
			return nil, errKeyID
		}
		// A map lookup of the server's own keys: kid is never used as a
		// path, a query or a URL (RFC 8725 §3.10).
		if v, ok = r.verify[kid]; !ok {
			return nil, errKeyID
		}
	} else {
		if r.kidRequired || len(r.verify) != 1 {
			return nil, errKeyID
		}
		for _, only := range r.verify {
			v = only
		}
	}
	if t.Method == nil || t.Method.Alg() != v.method.Alg() {
		return nil, errKeyAlg
	}
	return v.key, nil
}

// NewManaged returns an Issuer that signs with the current one of keys and
// verifies with every one of them (see SetKeys), writes issuer as iss and
// audience as aud, and refuses tokens that live longer than ttl.
func NewManaged(keys []*Key, issuer, audience string, ttl time.Duration) (*Issuer, error) {
	i, err := newIssuer(issuer, audience, ttl)
	if err != nil {
		return nil, fmt.Errorf("new managed issuer: %w", err)
	}
	if err := i.SetKeys(keys); err != nil {
		return nil, err
	}
	return i, nil
}

// ErrNoCurrentKey is returned by SetKeys for a set without exactly one
// current key.
var ErrNoCurrentKey = errors.New("signing keys: not exactly one current key")

// SetKeys replaces the keys of a managed Issuer: the one key in state
// current signs, and the keys in states next, current and previous verify
// and are published. Retired keys are ignored. Tokens already verified
// under the old set are verified again under the new one.
func (i *Issuer) SetKeys(keys []*Key) error {
	if r := i.ring.Load(); r != nil && !r.published {
		return errors.New("signing keys: this issuer uses an HS256 secret")
	}
	var s *signer
	var vs []verifier
	var pub []jwk
	for _, k := range keys {
		if k.State == auth.KeyRetired {
			continue
		}
		method := jwt.GetSigningMethod(k.Alg)
		if method == nil || (k.Alg != EdDSA && k.Alg != ES256) {
			return fmt.Errorf("signing key %s: unsupported algorithm", k.KID)
		}
		if k.State == auth.KeyCurrent {
			if s != nil {
				return ErrNoCurrentKey
			}
			s = &signer{kid: k.KID, method: method, key: k.priv}
		}
		vs = append(vs, verifier{kid: k.KID, method: method, key: k.priv.Public()})
		j, err := publicJWK(k.Alg, k.priv.Public())
		if err != nil {
			return err
		}
		j.Kid, j.Alg, j.Use = k.KID, k.Alg, "sig"
		if k.State == auth.KeyCurrent {
			pub = append([]jwk{j}, pub...)
		} else {
			pub = append(pub, j)
		}
	}
	if s == nil {
		return ErrNoCurrentKey
	}
	i.ring.Store(newKeyring(i, s, vs, true, pub))
	return nil
}
