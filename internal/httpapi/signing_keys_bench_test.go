package httpapi_test

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/token"
)

// BenchmarkMeBearerEdDSA and BenchmarkMeBearerES256 are BenchmarkMeBearer
// with managed keys instead of the HS256 secret: compare the three (the
// verified-token cache makes a repeated token cost one signature check).
// internal/token's BenchmarkVerifyUncached compares the signatures alone.
func BenchmarkMeBearerEdDSA(b *testing.B) { benchMeBearerManaged(b, token.EdDSA) }
func BenchmarkMeBearerES256(b *testing.B) { benchMeBearerManaged(b, token.ES256) }

func benchMeBearerManaged(b *testing.B, alg string) {
	benchMeBearer(b, newBenchEnv(b, withManagedKeys(alg)))
}
