package sqlite_test

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) auth.Store { return openTemp(b) })
}
