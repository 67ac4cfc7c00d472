// Package verify checks Bulwark access tokens inside a Go resource server,
// without a call to Bulwark per request: signatures against the issuer's
// published keys (JWKS), claims against the configuration, and, optionally,
// revocations pushed by Bulwark's revocation feed.
//
// It imports only the standard library.
//
//	v, err := verify.New(ctx, verify.Config{
//		Issuer:   "https://auth.example.com",
//		Audience: "https://api.example.com",
//	})
//	...
//	http.Handle("/api/", v.Middleware(api))
//	// in api: c, _ := verify.ClaimsFrom(r.Context()); c.Subject
//
// # Token format
//
// An access token is a JWS in the compact serialization (RFC 7515 §7.1)
// following the JWT profile for OAuth 2.0 access tokens (RFC 9068). Its
// protected header is exactly
//
//	{"alg":"EdDSA"|"ES256","kid":<key id>,"typ":"at+jwt"}
//
// and its claims are
//
//	{"iss","sub","aud","exp","iat","jti","sid","cv","amr","auth_time"}
//
// with aud a single string, cv the user's credential version (an integer;
// absent means 0), amr the RFC 8176 methods of the sign-in (Claims.AMR,
// Claims.MultiFactor) and auth_time when it happened.
//
// # Keys
//
// Keys come only from the JWKS URL of the configuration (RFC 8725 §3.10,
// ASVS 9.1.3), never from a token. Each JWK is pinned to its own alg
// (RFC 8725 §3.1): an EdDSA key must be kty "OKP", crv "Ed25519"; an ES256
// key kty "EC", crv "P-256" with a point on the curve. A key with another
// alg, a use other than "sig", key_ops without "verify", private or
// symmetric members, or a kid that appears twice is skipped.
//
// The key set is kept for the max-age of its response's Cache-Control,
// bounded to [RefreshInterval, 1 h] (5 min without one), then fetched
// again. A token whose kid is not in the set triggers a fetch too, so new
// keys work at once. Fetches, whatever triggers them, start at most once
// per RefreshInterval and never two at a time: a flood of tokens with
// made-up kids costs one request per interval. A fetch that fails keeps
// the previous set; a set more than 24 h past its expiry is no longer used
// (ErrUnavailable). A key the issuer drops is refused from the next
// successful fetch on.
//
// # Verification
//
// Verify accepts a token only if every one of these holds, in this order,
// so that cheap checks on untrusted input come first. They are the checks
// Bulwark itself applies.
//
//  1. It is at most MaxTokenLen bytes, checked before any decoding.
//  2. It has only the characters [A-Za-z0-9-_.] and exactly two dots
//     (RFC 8725bis "Check JWT Format Type"): this refuses the JSON
//     serialization, JWE (five segments), '=' padding and whitespace.
//  3. Every segment is canonical base64url: the unused trailing bits of the
//     last character are zero (RFC 4648 §3.5), so no two strings decode to
//     one token.
//  4. The header is a JSON object in valid UTF-8 without duplicate members
//     (RFC 7515 §4) and has no member but alg, typ and kid: jku, jwk, x5u,
//     x5c, crit and the rest are refused (RFC 8725 §3.10).
//  5. alg is exactly one of Config.Algorithms: an allowlist, so "none" in
//     any letter case, HS256 and the rest fail (RFC 8725 §3.1, §3.2; ASVS
//     9.1.2).
//  6. typ is exactly "at+jwt" or "application/at+jwt" (RFC 9068 §4, RFC
//     8725 §3.11, §3.12; ASVS 9.2.2).
//  7. kid is a non-empty string of at most 256 bytes naming a key of the
//     set whose alg is the header's alg.
//  8. The signature is valid under that key (RFC 8725 §3.3, ASVS 9.1.1):
//     Ed25519 (RFC 8037 §3.1) or ECDSA P-256 SHA-256 with the 64-byte R||S
//     encoding (RFC 7518 §3.4). Nothing of the claims is read before.
//     An ECDSA signature is malleable (with (r, s) valid, so is (r, n−s)),
//     so a token is identified by its jti, never by its bytes.
//  9. The claims set is a JSON object as in 4 whose registered claims have
//     their types: iss, sub, aud, jti, sid strings (aud never an array),
//     exp, iat, nbf numbers, cv an integer.
//  10. iss equals Config.Issuer and aud Config.Audience (RFC 8725 §3.8,
//     §3.9; ASVS 9.2.3, 9.2.4). A missing aud is refused.
//  11. exp is present and now < exp + Leeway; nbf, if present, is at or
//     before now + Leeway; iat is present and at or before now + Leeway
//     (RFC 7519 §4.1.4–4.1.6, ASVS 9.2.1).
//  12. sub, jti and sid are present and not empty, and exp − iat is
//     positive and at most Config.MaxLifetime.
//  13. With a revocation feed: the token is not revoked (below).
//
// Every refusal is ErrInvalid; the wrapped reason is a fixed description
// that never quotes the token.
//
// # Revocation feed
//
// Access tokens are short-lived; a resource server that must honour a
// logout, a password change or a disabled account before they expire
// subscribes to Bulwark's revocation feed (Config.Revocations): a
// server-sent event stream (WHATWG HTML §9.2) at /v1/token/revocations,
// authenticated with HTTP Basic and a client id and secret from
// `bulwark clients create NAME`. The first event is a snapshot of every
// revocation in force; later "revoked" events add a revoked jti, a revoked
// sid, or a user's new state. The client resumes with Last-Event-ID after a
// disconnection, reconnects with jittered exponential backoff, and treats
// a connection silent for IdleTimeout (the server sends keepalives every
// 15 s) as dead. A token is refused (ErrRevoked) if its jti or sid is
// revoked, or its user is disabled, or its iat is before the user's
// not_before, or its cv is not the user's credential version. A revoked jti
// or sid is forgotten once its exp plus the leeway has passed, as no token
// it denies can verify any more.
//
// If the feed is cut off, Verify goes on with the last state it received,
// unless FeedConfig.MaxStaleness is set: then, once nothing has been read
// for that long, Verify fails closed with ErrUnavailable.
package verify
