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
	e := newBenchEnv(b, withManagedKeys(alg))
	e.signup(b, "bench@example.com")
	access, _, err := e.tokenLogin(e.client, "bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	u := e.srv.URL + "/v1/me"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchGet(e.client, u, nil, access); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOpsPerSec(b)
}
