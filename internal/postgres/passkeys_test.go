package postgres_test

import (
	"testing"

	"github.com/bulwarkauth/bulwark/internal/auth"
	"github.com/bulwarkauth/bulwark/internal/storetest"
)

func TestPasskeyStore(t *testing.T) {
	testURL(t)
	storetest.Passkeys(t, func(t *testing.T) auth.Store { return openFresh(t) })
}
