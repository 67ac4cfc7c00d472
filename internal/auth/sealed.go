package auth

import (
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
