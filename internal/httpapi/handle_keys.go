package httpapi

import (
	"net/http"
	"strconv"

	"github.com/bulwarkauth/bulwark/internal/token"
)

// SigningKeys is what /.well-known/jwks.json and the discovery document say
// about the access-token signing keys. *token.Issuer implements it; the
// answers change when the keys rotate.
type SigningKeys interface {
	// JWKS is the JSON Web Key Set of the published keys.
	JWKS() []byte
	// Algorithms are the JWS algorithms of the published keys.
	Algorithms() []string
	// Published reports managed keys, whose public halves are in the JWKS
	// (false for an HS256 secret, which must never be published).
	Published() bool
}

// jwksCacheControl lets resource servers cache the key set for
// token.JWKSMaxAge: shorter than the time a key is published as next
// before it signs (token.MinRotationInterval), so a cached set always
// holds the key of a fresh token.
var jwksCacheControl = "public, max-age=" + strconv.Itoa(int(token.JWKSMaxAge.Seconds()))

func (s *Server) handleJWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", jwksCacheControl)
		body := []byte(`{"keys":[]}`)
		if s.opt.Keys != nil {
			body = s.opt.Keys.JWKS()
		}
		_, _ = w.Write(body)
	})
}

// handleDiscovery answers the OpenID Connect Discovery 1.0 / RFC 8414
// metadata. jwks_uri and the signing algorithms appear only with managed
// keys: with an HS256 secret there is nothing a resource server could
// verify offline, and it must use introspection.
func (s *Server) handleDiscovery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := s.opt.PublicURL
		doc := map[string]any{
			"issuer":                                base,
			"token_endpoint":                        base + "/v1/token",
			"revocation_endpoint":                   base + "/v1/token/revoke",
			"introspection_endpoint":                base + "/v1/token/introspect",
			"grant_types_supported":                 []string{"password", "refresh_token"},
			"token_endpoint_auth_methods_supported": []string{"none"},
			"response_types_supported":              []string{},
			"subject_types_supported":               []string{"public"},
		}
		if k := s.opt.Keys; k != nil && k.Published() {
			doc["jwks_uri"] = base + "/.well-known/jwks.json"
			// Bulwark issues access tokens, not ID tokens. OpenID Connect
			// Discovery requires this member, and verifiers read it to
			// choose the algorithms they accept with the JWKS: it lists
			// those of the published keys (RFC 8725 §3.1).
			doc["id_token_signing_alg_values_supported"] = k.Algorithms()
		}
		encode(w, http.StatusOK, doc)
	})
}
