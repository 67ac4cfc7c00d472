package token

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// BenchmarkVerifyUncached is one full verification (format, header, the
// signature, claims) without the verified-token cache, per algorithm.
func BenchmarkVerifyUncached(b *testing.B) {
	issuers := map[string]*Issuer{"HS256": newTestIssuer(b)}
	for _, alg := range []string{EdDSA, ES256} {
		issuers[alg] = newManaged(b, testKey(b, alg, auth.KeyCurrent))
	}
	for _, name := range []string{"HS256", EdDSA, ES256} {
		iss := issuers[name]
		b.Run(name, func(b *testing.B) {
			tok, err := iss.Issue(testClaims())
			if err != nil {
				b.Fatal(err)
			}
			ring := iss.ring.Load()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.verify(ring, tok, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssueByAlgorithm is one access token signed, per algorithm.
func BenchmarkIssueByAlgorithm(b *testing.B) {
	issuers := map[string]*Issuer{"HS256": newTestIssuer(b)}
	for _, alg := range []string{EdDSA, ES256} {
		issuers[alg] = newManaged(b, testKey(b, alg, auth.KeyCurrent))
	}
	for _, name := range []string{"HS256", EdDSA, ES256} {
		iss := issuers[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Issue(testClaims()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
