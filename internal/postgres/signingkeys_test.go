package postgres_test

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

func TestSigningKeyStore(t *testing.T) {
	storetest.SigningKeys(t, func(t *testing.T) auth.SigningKeyStore { return openFresh(t) })
}
