package auth

import (
	"context"
	"time"
)

// MaxCredentialIDBytes bounds a WebAuthn credential id (WebAuthn L3 §7.1
// step 28: a relying party should refuse credential ids longer than 1023
// bytes). Stores refuse longer ones too.
const MaxCredentialIDBytes = 1023

// Passkey is one registered WebAuthn public-key credential.
type Passkey struct {
	ID              string // public id, "pk_" + random
	UserID          string
	CredentialID    []byte // raw credential id, at most MaxCredentialIDBytes
	PublicKey       []byte // COSE_Key
	AttestationType string
	AAGUID          []byte
	SignCount       uint32
	BackupEligible  bool // BE flag at registration; never changes (WebAuthn L3 §6.1.3)
	BackupState     bool // BS flag of the last ceremony
	UserVerified    bool // UV flag at registration
	Transports      []string
	Name            string
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero until first used to sign in
}

// Ceremony kinds.
const (
	CeremonyCreate = "create" // registration (navigator.credentials.create)
	CeremonyGet    = "get"    // authentication (navigator.credentials.get)
)

// Ceremony is a WebAuthn challenge the server issued and has not yet seen
// answered. Only the SHA-256 of the challenge is its key.
type Ceremony struct {
	ChallengeHash []byte
	Kind          string // CeremonyCreate or CeremonyGet
	UserID        string // "" for a discoverable-credential sign-in
	Data          []byte // the library's session data (JSON)
	MFATokenHash  []byte // the pending login it completes, or nil
	ExpiresAt     time.Time
	Failures      int
}

// PasskeyStore keeps WebAuthn user handles, credentials and ceremonies.
// Every method is atomic.
type PasskeyStore interface {
	// WebAuthnUserHandle returns the user's WebAuthn user handle, first
	// storing candidate if the user has none. Concurrent callers all get the
	// same stored value. ErrNotFound if there is no such user.
	WebAuthnUserHandle(ctx context.Context, userID string, candidate []byte) ([]byte, error)
	// UserIDByWebAuthnHandle returns the id of the user with this handle.
	UserIDByWebAuthnHandle(ctx context.Context, handle []byte) (string, error)

	// CreatePasskey inserts p and adds one to the user's passkeys count in
	// the same transaction. ErrConflict when the credential id is
	// registered already (to any user), ErrNotFound when the user does not
	// exist; a credential id longer than MaxCredentialIDBytes is refused
	// with an error.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// Passkeys returns the user's passkeys, oldest first.
	Passkeys(ctx context.Context, userID string) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey with this credential id.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// RenamePasskey sets the name of the user's passkey with this public
	// id. Another user's passkey is ErrNotFound.
	RenamePasskey(ctx context.Context, userID, id, name string) error
	// DeletePasskey deletes the user's passkey with this public id and
	// takes one from the user's passkeys count in the same transaction.
	// Another user's passkey is ErrNotFound.
	DeletePasskey(ctx context.Context, userID, id string) error
	// UsePasskey records a successful assertion as a compare-and-swap: if
	// the passkey's sign count is still oldCount it sets it to newCount,
	// sets the backup state and last_used_at, and returns true; otherwise
	// it changes nothing and returns false. Of two concurrent assertions
	// read at the same count, at most one succeeds.
	UsePasskey(ctx context.Context, id string, oldCount, newCount uint32, backupState bool, at time.Time) (bool, error)

	// CreateCeremony inserts c (ErrConflict if its challenge hash exists).
	CreateCeremony(ctx context.Context, c *Ceremony) error
	// Ceremony returns the ceremony with this challenge hash if it has not
	// expired at now, without consuming it.
	Ceremony(ctx context.Context, challengeHash []byte, now time.Time) (*Ceremony, error)
	// ConsumeCeremony deletes and returns the ceremony with this challenge
	// hash if it has not expired at now (ErrNotFound otherwise). Of any
	// number of concurrent calls for one ceremony, exactly one succeeds.
	ConsumeCeremony(ctx context.Context, challengeHash []byte, now time.Time) (*Ceremony, error)
	// CeremonyFailed adds one to the ceremony's failures and deletes it when
	// they reach max, in one transaction; it returns the failures counted.
	// ErrNotFound when the ceremony does not exist.
	CeremonyFailed(ctx context.Context, challengeHash []byte, max int) (int, error)
}

// WebAuthnRP is the cryptographic half of WebAuthn ceremonies: option
// building and the verification steps of WebAuthn L3 §7.1 and §7.2
// (internal/passkey, over go-webauthn). The Service keeps the policy:
// where challenges are stored, who may finish which ceremony, counters,
// clones and what a success grants.
type WebAuthnRP interface {
	// BeginRegistration makes PublicKeyCredentialCreationOptions for u
	// (resident key and user verification required, no attestation),
	// excluding the given passkeys.
	BeginRegistration(u PasskeyUser, exclude []Passkey) (*PasskeyOptions, error)
	// ResponseChallenge reads the challenge a RegistrationResponseJSON or
	// AuthenticationResponseJSON answers, from its clientDataJSON, and
	// verifies nothing.
	ResponseChallenge(response []byte) ([]byte, error)
	// FinishRegistration verifies a RegistrationResponseJSON against the
	// ceremony's session data and returns the passkey to store (without
	// ID, Name or times).
	FinishRegistration(u PasskeyUser, session, response []byte) (*Passkey, error)
	// BeginLogin makes PublicKeyCredentialRequestOptions: allowCredentials
	// from allow (empty for discoverable credentials), userVerification
	// "required" or "preferred".
	BeginLogin(allow []Passkey, userVerification string) (*PasskeyOptions, error)
	// ParseAssertion parses an AuthenticationResponseJSON without
	// verifying it.
	ParseAssertion(response []byte) (*PasskeyAssertion, error)
	// VerifyAssertion verifies a parsed assertion against the ceremony's
	// session data and the stored passkey p of the user with handle, and
	// reports what the authenticator data says. It does not judge the
	// signature counter.
	VerifyAssertion(a *PasskeyAssertion, session, handle []byte, p *Passkey) (*PasskeyUse, error)
}

// PasskeyUser is the user entity of a registration (WebAuthn L3 §5.4.3).
type PasskeyUser struct {
	Handle      []byte // random, never personal data
	Name        string // what the authenticator shows: the email
	DisplayName string
}

// PasskeyOptions are the options of a new ceremony.
type PasskeyOptions struct {
	// Options is the PublicKeyCredentialCreationOptionsJSON or
	// PublicKeyCredentialRequestOptionsJSON given to the browser.
	Options []byte
	// Challenge is the raw challenge in Options.
	Challenge []byte
	// Session is what FinishRegistration and VerifyAssertion need again,
	// kept server-side in the ceremony.
	Session []byte
}

// PasskeyAssertion is a parsed, not yet verified, assertion.
type PasskeyAssertion struct {
	CredentialID []byte
	UserHandle   []byte // empty when the authenticator gave none
	Challenge    []byte
	Parsed       any // the WebAuthnRP's own parsed form
}

// PasskeyUse is what a verified assertion's authenticator data says.
type PasskeyUse struct {
	SignCount      uint32
	UserVerified   bool
	BackupEligible bool
	BackupState    bool
}
