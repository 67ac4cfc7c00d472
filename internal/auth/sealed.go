package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Sealer encrypts secrets kept at rest (the key-encryption key, package
// kek). aad binds a ciphertext to its purpose: it opens only with the same
// aad. Stores take one through their Open options.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Associated data of the values sealed at rest: one per purpose, so a
// ciphertext copied to another column or table does not open there.
var (
	AADMailPayload = []byte("bulwark mail_outbox payload v1")
	AADSecret      = []byte("bulwark server_secrets value v1:") // + the secret's name
)

// SealMail seals the content of m: every field but the outbox's bookkeeping
// (ID, CreatedAt, Attempts), as JSON, so a field added to Mail is covered
// without a change here. A mail may carry a live token (reset, verify link):
// OWASP ASVS 5.0 V13.3 (secrets at rest are encrypted).
func SealMail(s Sealer, m *Mail) ([]byte, error) {
	c := *m
	c.ID, c.Attempts = 0, 0
	c.CreatedAt = Mail{}.CreatedAt
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("seal mail: %w", err)
	}
	return s.Seal(b, AADMailPayload)
}

// OpenMail fills the content of m from a value made by SealMail, keeping
// m's bookkeeping fields.
func OpenMail(s Sealer, sealed []byte, m *Mail) error {
	b, err := s.Open(sealed, AADMailPayload)
	if err != nil {
		return fmt.Errorf("open mail %d: %w", m.ID, err)
	}
	id, created, attempts := m.ID, m.CreatedAt, m.Attempts
	*m = Mail{}
	if err := json.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode mail %d: %w", m.ID, err)
	}
	m.ID, m.CreatedAt, m.Attempts = id, created, attempts
	return nil
}

// sealedSecretPrefix marks a server secret stored sealed; a value without it
// was stored in plain text before sealing and is sealed on its next read.
// A random 32-byte key starts with these 15 bytes with probability 2^-120.
var sealedSecretPrefix = []byte("bulwark-sealed:")

// SealSecret seals the value of the server secret name for storage, bound to
// its name (a sealed value moved to another name does not open).
func SealSecret(s Sealer, name string, value []byte) ([]byte, error) {
	sealed, err := s.Seal(value, append(AADSecret[:len(AADSecret):len(AADSecret)], name...))
	if err != nil {
		return nil, fmt.Errorf("seal secret %s: %w", name, err)
	}
	return append(sealedSecretPrefix[:len(sealedSecretPrefix):len(sealedSecretPrefix)], sealed...), nil
}

// OpenSecret returns the value of the server secret name as stored. reseal
// reports that the store should seal the value again: it was stored in plain
// text before sealing (returned as is), or sealed under a previous key (when
// s can tell, with a NeedsReseal method), so a rotation completes.
func OpenSecret(s Sealer, name string, stored []byte) (value []byte, reseal bool, err error) {
	sealed, ok := bytes.CutPrefix(stored, sealedSecretPrefix)
	if !ok {
		return stored, true, nil
	}
	value, err = s.Open(sealed, append(AADSecret[:len(AADSecret):len(AADSecret)], name...))
	if err != nil {
		return nil, false, fmt.Errorf("open secret %s (is BULWARK_KEY_ENCRYPTION_KEY, or one of the previous keys, the key it was sealed with?): %w", name, err)
	}
	if r, ok := s.(interface{ NeedsReseal([]byte) bool }); ok && r.NeedsReseal(sealed) {
		return value, true, nil
	}
	return value, false, nil
}

// AADTOTP binds a sealed TOTP secret to its user: a ciphertext copied to
// another user's row does not open (OWASP ASVS 5.0 13.3.1: TOTP seeds are
// managed secrets; RFC 6238 §5.1: keys stored encrypted).
const AADTOTP = "bulwark mfa_totp secret v1:" // + the user id

// SealTOTP seals a TOTP secret for userID; with a nil Sealer it is kept as
// is (stores without a key-encryption key, in tests).
func SealTOTP(s Sealer, userID string, secret []byte) ([]byte, error) {
	if s == nil {
		return secret, nil
	}
	return s.Seal(secret, []byte(AADTOTP+userID))
}

// OpenTOTP opens what SealTOTP stored.
func OpenTOTP(s Sealer, userID string, stored []byte) ([]byte, error) {
	if s == nil {
		return stored, nil
	}
	return s.Open(stored, []byte(AADTOTP+userID))
}
