// Package passkey implements auth.WebAuthnRP over go-webauthn: the option
// building and the verification steps of WebAuthn Level 3 §7.1
// (registration) and §7.2 (authentication). It keeps no state: the auth
// Service stores the ceremonies and the credentials and decides what a
// verified ceremony grants.
package passkey

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// Timeout is the ceremony timeout given to the browser and the lifetime of
// a stored challenge: WebAuthn L3 §15.1 recommends 300 000 ms for a
// ceremony with user verification.
const Timeout = 5 * time.Minute

// RP is a relying party. It is safe for concurrent use.
type RP struct {
	w *webauthn.WebAuthn
}

var _ auth.WebAuthnRP = (*RP)(nil)

// New returns the relying party rpID, named name, accepting ceremonies from
// origins. go-webauthn refuses an IP address as RP ID, as browsers do.
func New(rpID, name string, origins []string) (*RP, error) {
	w, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: name,
		RPOrigins:     origins,
		// "none": no attestation is asked for or kept (WebAuthn L3 §5.4.7).
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		// The Service enforces expiry with its own clock (the stored
		// ceremony's expires_at); these set the timeout sent to clients.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party: %w", err)
	}
	// Check the configuration now rather than at the first ceremony.
	if _, _, err := w.BeginDiscoverableLogin(); err != nil {
		return nil, fmt.Errorf("webauthn relying party: %w", err)
	}
	return &RP{w: w}, nil
}

// credParams are ES256, EdDSA and RS256, in that order of preference
// (WebAuthn L3 §5.4: -7 is what every platform authenticator supports).
var credParams = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

type user struct {
	u     auth.PasskeyUser
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.u.Handle }
func (u *user) WebAuthnName() string                       { return u.u.Name }
func (u *user) WebAuthnDisplayName() string                { return u.u.DisplayName }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func descriptors(ps []auth.Passkey) []protocol.CredentialDescriptor {
	out := make([]protocol.CredentialDescriptor, 0, len(ps))
	for _, p := range ps {
		d := protocol.CredentialDescriptor{Type: protocol.PublicKeyCredentialType, CredentialID: p.CredentialID}
		for _, t := range p.Transports {
			d.Transport = append(d.Transport, protocol.AuthenticatorTransport(t))
		}
		out = append(out, d)
	}
	return out
}

// credential is the go-webauthn record of a stored passkey.
func credential(p *auth.Passkey) webauthn.Credential {
	return webauthn.Credential{
		ID:              p.CredentialID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: p.UserVerified,
			BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
}

// BeginRegistration implements auth.WebAuthnRP.
func (rp *RP) BeginRegistration(u auth.PasskeyUser, exclude []auth.Passkey) (*auth.PasskeyOptions, error) {
	creation, session, err := rp.w.BeginRegistration(&user{u: u},
		webauthn.WithCredentialParameters(credParams),
		webauthn.WithExclusions(descriptors(exclude)),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		}))
	if err != nil {
		return nil, err
	}
	return options(creation.Response, creation.Response.Challenge, session)
}

// BeginLogin implements auth.WebAuthnRP.
func (rp *RP) BeginLogin(allow []auth.Passkey, userVerification string) (*auth.PasskeyOptions, error) {
	uv := protocol.VerificationRequired
	if userVerification == "preferred" {
		uv = protocol.VerificationPreferred
	}
	assertion, session, err := rp.w.BeginDiscoverableLogin(
		webauthn.WithUserVerification(uv),
		webauthn.WithAllowedCredentials(descriptors(allow)))
	if err != nil {
		return nil, err
	}
	// allowCredentials is always every passkey of one user, so WebAuthn L3
	// §7.2 step 5 is "the credential is that user's": the Service checks it
	// against the ceremony's user. go-webauthn's own check would need all
	// of the user's credentials at verification, where only the one used
	// is loaded.
	session.AllowedCredentialIDs = nil
	return options(assertion.Response, assertion.Response.Challenge, session)
}

func options(opts any, challenge []byte, session *webauthn.SessionData) (*auth.PasskeyOptions, error) {
	o, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	s, err := json.Marshal(session)
	if err != nil {
		return nil, err
	}
	return &auth.PasskeyOptions{Options: o, Challenge: bytes.Clone(challenge), Session: s}, nil
}

// ResponseChallenge implements auth.WebAuthnRP: it decodes only
// response.clientDataJSON.challenge.
func (rp *RP) ResponseChallenge(response []byte) ([]byte, error) {
	var r struct {
		Response struct {
			ClientDataJSON string `json:"clientDataJSON"`
		} `json:"response"`
	}
	if err := json.Unmarshal(response, &r); err != nil {
		return nil, err
	}
	raw, err := decodeB64(r.Response.ClientDataJSON)
	if err != nil {
		return nil, fmt.Errorf("clientDataJSON: %w", err)
	}
	var cd struct {
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(raw, &cd); err != nil {
		return nil, fmt.Errorf("clientDataJSON: %w", err)
	}
	c, err := decodeB64(cd.Challenge)
	if err != nil || len(c) == 0 {
		return nil, errors.New("clientDataJSON: no challenge")
	}
	return c, nil
}

// decodeB64 decodes base64url with or without padding (WebAuthn L3 JSON
// types are unpadded base64url; some clients pad).
func decodeB64(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}

func session(data []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	err := json.Unmarshal(data, &s)
	return s, err
}

// FinishRegistration implements auth.WebAuthnRP. go-webauthn checks the
// type webauthn.create, the challenge, the origin, the rpIdHash, UP, UV
// (required), BE=0 with BS=1, the algorithm and the attestation (WebAuthn
// L3 §7.1 steps 7 to 21); the credential id length (step 28) is checked
// here and again by the Service and the store.
func (rp *RP) FinishRegistration(u auth.PasskeyUser, sessionData, response []byte) (*auth.Passkey, error) {
	s, err := session(sessionData)
	if err != nil {
		return nil, fmt.Errorf("session data: %w", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, err
	}
	if len(parsed.RawID) > auth.MaxCredentialIDBytes {
		return nil, fmt.Errorf("credential id of %d bytes", len(parsed.RawID))
	}
	c, err := rp.w.CreateCredential(&user{u: u}, s, parsed)
	if err != nil {
		return nil, err
	}
	flags := parsed.Response.AttestationObject.AuthData.Flags
	if !flags.HasUserPresent() || !flags.HasUserVerified() {
		return nil, errors.New("user presence and verification are required")
	}
	p := &auth.Passkey{
		CredentialID:    c.ID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		AAGUID:          c.Authenticator.AAGUID,
		SignCount:       c.Authenticator.SignCount,
		BackupEligible:  flags.HasBackupEligible(),
		BackupState:     flags.HasBackupState(),
		UserVerified:    flags.HasUserVerified(),
	}
	for _, t := range c.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	return p, nil
}

// ParseAssertion implements auth.WebAuthnRP.
func (rp *RP) ParseAssertion(response []byte) (*auth.PasskeyAssertion, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, err
	}
	c, err := decodeB64(parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, fmt.Errorf("clientDataJSON: %w", err)
	}
	return &auth.PasskeyAssertion{
		CredentialID: parsed.RawID,
		UserHandle:   parsed.Response.UserHandle,
		Challenge:    c,
		Parsed:       parsed,
	}, nil
}

// VerifyAssertion implements auth.WebAuthnRP. go-webauthn checks the
// allowed credentials, the user handle, the type webauthn.get, the
// challenge, the origin, the rpIdHash, UP, UV when the ceremony required
// it, the signature, BE equal to the stored flag and BE=0 with BS=1
// (WebAuthn L3 §7.2 steps 5 to 21). The counter (step 22) is the
// Service's to judge.
func (rp *RP) VerifyAssertion(a *auth.PasskeyAssertion, sessionData, handle []byte, p *auth.Passkey) (*auth.PasskeyUse, error) {
	parsed, ok := a.Parsed.(*protocol.ParsedCredentialAssertionData)
	if !ok {
		return nil, errors.New("assertion not parsed by this relying party")
	}
	s, err := session(sessionData)
	if err != nil {
		return nil, fmt.Errorf("session data: %w", err)
	}
	u := &user{u: auth.PasskeyUser{Handle: handle}, creds: []webauthn.Credential{credential(p)}}
	if len(s.UserID) == 0 {
		_, err = rp.w.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			return u, nil
		}, s, parsed)
	} else {
		_, err = rp.w.ValidateLogin(u, s, parsed)
	}
	if err != nil {
		return nil, err
	}
	flags := parsed.Response.AuthenticatorData.Flags
	return &auth.PasskeyUse{
		SignCount:      parsed.Response.AuthenticatorData.Counter,
		UserVerified:   flags.HasUserVerified(),
		BackupEligible: flags.HasBackupEligible(),
		BackupState:    flags.HasBackupState(),
	}, nil
}

// ErrorDetail returns go-webauthn's description of a verification failure,
// for the log (never for a client).
func ErrorDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Details + ": " + pe.DevInfo
	}
	return err.Error()
}
