package sqlite_test

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/storetest"
)

func TestBenchSeed(t *testing.T) {
	storetest.BenchSeed(t, func(t *testing.T) storetest.Seeder { return openTemp(t) })
}
