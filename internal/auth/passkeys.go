package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Passkeys (WebAuthn Level 3). A passkey is registered by a signed-in user
// who authenticated recently (OWASP ASVS 5.0 7.5.1), and then signs in alone
// (a discoverable credential with user verification: multi-factor, ASVS
// 6.3.3) or as the second factor after a password. The cryptography is the
// WebAuthnRP's (internal/passkey); the policy is here.

const (
	// CeremonyTTL is the lifetime of an issued challenge: the ceremony
	// timeout WebAuthn L3 §15.1 recommends with user verification.
	CeremonyTTL = 5 * time.Minute
	// ceremonyMaxFailures is how many failed finishes spend a challenge: a
	// failure leaves it usable (a user retries after a mistake), but not
	// forever.
	ceremonyMaxFailures = 5
	// maxPasskeyName bounds a passkey's name, in bytes.
	maxPasskeyName = 64
	// userHandleBytes is the size of a WebAuthn user handle: 64 random bytes,
	// the maximum (WebAuthn L3 §5.4.3; §14.6.1: no personal data).
	userHandleBytes = 64
)

// EventPasskeyCloneDetected is logged when an assertion's signature counter
// did not grow (WebAuthn L3 §6.1.1): two copies of the key may exist.
const EventPasskeyCloneDetected = "passkey_clone_detected"

// PasskeyOptionsJSON is the answer of a begin route: the options for
// navigator.credentials.create or .get, as JSON.
type PasskeyOptionsJSON []byte

func passkeysOff() *Error {
	return &Error{Code: CodeNotFound, Message: "Passkeys are not enabled on this server."}
}

func passkeyRejected() *Error {
	return &Error{Code: CodePasskeyRejected, Message: "The passkey could not be verified. Try again."}
}

// invalidPasskey is the one answer of every failed passkey sign-in: unknown
// credential, bad signature, wrong user handle, spent or foreign challenge.
func invalidPasskey() *Error {
	return &Error{Code: CodeInvalidCredentials, Message: "The passkey was not accepted."}
}

func challengeHash(c []byte) []byte {
	h := sha256.Sum256(c)
	return h[:]
}

// passkeysReady returns the store and relying party, or not_found when
// passkeys are off (no relying party configured).
func (s *Service) passkeysReady() (PasskeyStore, WebAuthnRP, error) {
	if s.passkeys == nil || s.rp == nil {
		return nil, nil, passkeysOff()
	}
	return s.passkeys, s.rp, nil
}

// PasskeysEnabled reports whether passkeys are configured.
func (s *Service) PasskeysEnabled() bool { return s.passkeys != nil && s.rp != nil }

func (s *Service) passkeyUser(ctx context.Context, u *User) (PasskeyUser, error) {
	candidate := make([]byte, userHandleBytes)
	if _, err := io.ReadFull(s.rand, candidate); err != nil {
		return PasskeyUser{}, storeErr("passkey user handle", err)
	}
	h, err := s.passkeys.WebAuthnUserHandle(ctx, u.ID, candidate)
	if err != nil {
		return PasskeyUser{}, storeErr("passkey user handle", err)
	}
	// user.name is what the authenticator lists for the account; the
	// handle, not the name, identifies the user (WebAuthn L3 §5.4.3).
	return PasskeyUser{Handle: h, Name: u.Email, DisplayName: u.Email}, nil
}

// BeginPasskeyRegistration starts a registration for the signed-in caller:
// a session older than the re-authentication window must give the
// password (RecentAuth). The challenge is stored, bound to the user, for
// CeremonyTTL.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, cl Client, cur *Current, password string) (PasskeyOptionsJSON, error) {
	ps, rp, err := s.passkeysReady()
	if err != nil {
		return nil, err
	}
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return nil, err
	}
	if err := s.RecentAuth(ctx, cl, cur, u, password); err != nil {
		return nil, err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	existing, err := ps.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, storeErr("list passkeys", err)
	}
	opts, err := rp.BeginRegistration(pu, existing)
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("begin registration: %w", err)}
	}
	if err := s.storeCeremony(ctx, CeremonyCreate, u.ID, nil, opts); err != nil {
		return nil, err
	}
	return PasskeyOptionsJSON(opts.Options), nil
}

func (s *Service) storeCeremony(ctx context.Context, kind, userID string, mfaHash []byte, opts *PasskeyOptions) error {
	err := s.passkeys.CreateCeremony(ctx, &Ceremony{
		ChallengeHash: challengeHash(opts.Challenge),
		Kind:          kind,
		UserID:        userID,
		Data:          opts.Session,
		MFATokenHash:  mfaHash,
		ExpiresAt:     s.now().UTC().Add(CeremonyTTL),
	})
	if err != nil {
		return storeErr("store ceremony", err)
	}
	return nil
}

// NewPasskey is a registered passkey with the step-up that followed.
type NewPasskey struct {
	Passkey *Passkey
	Change  *FactorChange
}

// FinishPasskeyRegistration verifies a RegistrationResponseJSON against the
// caller's pending registration (found by the SHA-256 of the challenge in
// its clientDataJSON) and stores the passkey. A response that fails
// verification leaves the challenge usable for another try (up to
// ceremonyMaxFailures); only a success spends it, atomically, so of two
// concurrent finishes one wins. Then FactorAdded steps the account up.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, cl Client, cur *Current, name string, response []byte) (*NewPasskey, error) {
	ps, rp, err := s.passkeysReady()
	if err != nil {
		return nil, err
	}
	name, err = passkeyName(name)
	if err != nil {
		return nil, err
	}
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return nil, err
	}
	challenge, err := rp.ResponseChallenge(response)
	if err != nil {
		return nil, invalidField("credential", "is not a RegistrationResponseJSON with a clientDataJSON challenge")
	}
	hash := challengeHash(challenge)
	now := s.now().UTC()
	c, err := ps.Ceremony(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return nil, passkeyRejected()
	}
	if err != nil {
		return nil, storeErr("passkey ceremony", err)
	}
	if c.Kind != CeremonyCreate || c.UserID != u.ID {
		// Another user's registration, or a sign-in challenge: not the
		// caller's to spend or to count failures on.
		return nil, passkeyRejected()
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	p, err := rp.FinishRegistration(pu, c.Data, response)
	if err == nil && len(p.CredentialID) > MaxCredentialIDBytes {
		err = fmt.Errorf("credential id of %d bytes", len(p.CredentialID))
	}
	if err != nil {
		s.log.InfoContext(ctx, "passkey registration refused", "user_id", u.ID, "request_id", cl.RequestID, "error", err.Error())
		if _, ferr := ps.CeremonyFailed(ctx, hash, ceremonyMaxFailures); ferr != nil && !errors.Is(ferr, ErrNotFound) {
			return nil, storeErr("passkey ceremony", ferr)
		}
		return nil, passkeyRejected()
	}
	if _, err := ps.PasskeyByCredentialID(ctx, p.CredentialID); err == nil {
		return nil, passkeyExists()
	} else if !errors.Is(err, ErrNotFound) {
		return nil, storeErr("passkey lookup", err)
	}
	if _, err := ps.ConsumeCeremony(ctx, hash, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, passkeyRejected() // another finish won
		}
		return nil, storeErr("passkey ceremony", err)
	}
	if p.ID, err = newID(s.rand, "pk_"); err != nil {
		return nil, storeErr("new passkey", err)
	}
	p.UserID, p.Name, p.CreatedAt = u.ID, name, now
	if err := ps.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, passkeyExists()
		}
		return nil, storeErr("store passkey", err)
	}
	u.Passkeys++
	fc, err := s.FactorAdded(ctx, cl, cur, u, MethodPasskey, p.Name)
	if err != nil {
		return nil, err
	}
	return &NewPasskey{Passkey: p, Change: fc}, nil
}

func passkeyExists() *Error {
	return &Error{Code: CodePasskeyExists, Message: "This passkey is registered already."}
}

// passkeyName checks a passkey's name: valid UTF-8 without control
// characters, at most maxPasskeyName bytes; empty becomes "Passkey".
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(name) || len(name) > maxPasskeyName || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", invalidField("name", fmt.Sprintf("must be one line of at most %d bytes", maxPasskeyName))
	}
	return name, nil
}

// Passkeys lists the caller's passkeys.
func (s *Service) Passkeys(ctx context.Context, cur *Current) ([]Passkey, error) {
	ps, _, err := s.passkeysReady()
	if err != nil {
		return nil, err
	}
	list, err := ps.Passkeys(ctx, cur.UserID)
	if err != nil {
		return nil, storeErr("list passkeys", err)
	}
	return list, nil
}

func passkeyNotFound() *Error {
	return &Error{Code: CodeNotFound, Message: "No such passkey."}
}

// RenamePasskey renames one of the caller's passkeys; another user's is
// not_found.
func (s *Service) RenamePasskey(ctx context.Context, cur *Current, id, name string) (*Passkey, error) {
	ps, _, err := s.passkeysReady()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(name) == "" {
		return nil, invalidField("name", "is required")
	}
	if name, err = passkeyName(name); err != nil {
		return nil, err
	}
	if err := ps.RenamePasskey(ctx, cur.UserID, id, name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, passkeyNotFound()
		}
		return nil, storeErr("rename passkey", err)
	}
	return s.ownPasskey(ctx, cur.UserID, id)
}

func (s *Service) ownPasskey(ctx context.Context, userID, id string) (*Passkey, error) {
	list, err := s.passkeys.Passkeys(ctx, userID)
	if err != nil {
		return nil, storeErr("list passkeys", err)
	}
	for i := range list {
		if list[i].ID == id {
			return &list[i], nil
		}
	}
	return nil, passkeyNotFound()
}

// DeletePasskey removes one of the caller's passkeys (another user's is
// not_found) after the re-authentication check; removing the last factor
// (no TOTP and no other passkey) always needs the password. Then
// FactorRemoved ends the user's other sessions; with the last factor gone
// the recovery codes go too.
func (s *Service) DeletePasskey(ctx context.Context, cl Client, cur *Current, id, password string) error {
	ps, _, err := s.passkeysReady()
	if err != nil {
		return err
	}
	u, err := s.User(ctx, cur.UserID)
	if err != nil {
		return err
	}
	p, err := s.ownPasskey(ctx, u.ID, id)
	if err != nil {
		return err
	}
	last := !u.TOTPEnabled && u.Passkeys <= 1
	if last && password == "" {
		return &Error{Code: CodeReauthRequired, Message: "Give your password (field password) to remove your last second factor."}
	}
	if err := s.RecentAuth(ctx, cl, cur, u, password); err != nil {
		return err
	}
	if err := ps.DeletePasskey(ctx, u.ID, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return passkeyNotFound()
		}
		return storeErr("delete passkey", err)
	}
	if last {
		if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return storeErr("delete recovery codes", err)
		}
	}
	return s.FactorRemoved(ctx, cl, cur, u, MethodPasskey, p.Name)
}

// BeginPasskeyLogin starts a sign-in. Without mfaToken it is a passkey
// alone: discoverable credentials (allowCredentials empty), user
// verification required; it names no account, so its answer is the same
// whoever asks (WebAuthn L3 §14.6.2, username enumeration). With mfaToken
// (a pending password login, not spent here) it is the second factor:
// allowCredentials are that user's passkeys, user verification preferred.
// Every call counts toward the per-IP token limit.
func (s *Service) BeginPasskeyLogin(ctx context.Context, cl Client, mfaToken string) (PasskeyOptionsJSON, error) {
	_, rp, err := s.passkeysReady()
	if err != nil {
		return nil, err
	}
	if err := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); err != nil {
		return nil, err
	}
	if mfaToken == "" {
		opts, err := rp.BeginLogin(nil, "required")
		if err != nil {
			return nil, &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("begin login: %w", err)}
		}
		if err := s.storeCeremony(ctx, CeremonyGet, "", nil, opts); err != nil {
			return nil, err
		}
		return PasskeyOptionsJSON(opts.Options), nil
	}
	u, err := s.PendingMFA(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	list, err := s.passkeys.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, storeErr("list passkeys", err)
	}
	if len(list) == 0 {
		return nil, &Error{Code: CodeInvalidRequest, Message: "This account has no passkey: use another second factor."}
	}
	opts, err := rp.BeginLogin(list, "preferred")
	if err != nil {
		return nil, &Error{Code: CodeInternal, Message: "Internal error.", Err: fmt.Errorf("begin login: %w", err)}
	}
	if err := s.storeCeremony(ctx, CeremonyGet, u.ID, HashToken(mfaToken), opts); err != nil {
		return nil, err
	}
	return PasskeyOptionsJSON(opts.Options), nil
}

// PasskeyLogin signs in with a passkey alone: the Login is established with
// the method passkey. Failures count toward the per-IP token limit.
func (s *Service) PasskeyLogin(ctx context.Context, cl Client, response []byte) (*Login, error) {
	if _, _, err := s.passkeysReady(); err != nil {
		return nil, err
	}
	u, err := s.verifyAssertion(ctx, cl, response, nil, "")
	if err != nil {
		if ErrorCode(err) == CodeInvalidCredentials {
			// Failures use the token limit (checked after, so a success
			// costs nothing and a flood of failures is stopped).
			if lerr := s.limit(ctx, cl, "token_ip", cl.IPKey, s.cfg.TokenPerIP, ""); lerr != nil {
				return nil, lerr
			}
		}
		return nil, err
	}
	if s.cfg.RequireVerification && !u.EmailVerified {
		return nil, &Error{Code: CodeEmailNotVerified, Message: "Verify your email address before signing in."}
	}
	methods := Methods{MethodPasskey}
	s.audit(ctx, cl, Event{Name: EventLoginSucceeded, UserID: u.ID, Email: u.Email, Methods: methods})
	return &Login{User: u, Methods: methods, DeviceToken: s.deviceToken(u.Email, u.CredentialVersion),
		NewDevice: !s.deviceValid(cl.DeviceToken, u.Email, u.CredentialVersion)}, nil
}

// PasskeySecondFactor completes the pending login mfaToken with a passkey
// assertion (CompleteMFA: limits, lockout, failures, and the mode the
// password login asked for).
func (s *Service) PasskeySecondFactor(ctx context.Context, cl Client, mfaToken string, response []byte) (*Login, LoginMode, error) {
	if _, _, err := s.passkeysReady(); err != nil {
		return nil, "", err
	}
	return s.CompleteMFA(ctx, cl, mfaToken, func(ctx context.Context, u *User) (Method, bool, error) {
		_, err := s.verifyAssertion(ctx, cl, response, u, mfaToken)
		if err == nil {
			return MethodPasskey, true, nil
		}
		if ErrorCode(err) == CodeInvalidCredentials {
			return MethodPasskey, false, nil
		}
		return MethodPasskey, false, err
	})
}

// verifyAssertion checks an AuthenticationResponseJSON: its challenge must
// be a live sign-in ceremony (of the pending login mfaToken when given, of
// none otherwise); the credential must be registered and its user the
// user of the handle (and pending's user for a second factor); go-webauthn
// verifies the rest (WebAuthn L3 §7.2). A passkey alone needs user
// verification. Then the counter (§6.1.1): where either the stored or the
// new value is not zero, the new one must be greater, or the key may have
// been cloned: refused, logged and told to the user. A success spends the
// challenge and moves the counter by compare-and-swap, so a replayed or
// racing assertion fails. Every refusal is the same invalid_credentials.
func (s *Service) verifyAssertion(ctx context.Context, cl Client, response []byte, pending *User, mfaToken string) (*User, error) {
	ps, rp := s.passkeys, s.rp
	fail := func(uid, reason string, cause error) error {
		return s.passkeyFailed(ctx, cl, uid, reason, cause, pending == nil)
	}
	a, err := rp.ParseAssertion(response)
	if err != nil {
		return nil, fail("", "malformed_assertion", err)
	}
	hash := challengeHash(a.Challenge)
	now := s.now().UTC()
	c, err := ps.Ceremony(ctx, hash, now)
	if errors.Is(err, ErrNotFound) {
		return nil, fail("", "unknown_challenge", nil)
	}
	if err != nil {
		return nil, storeErr("passkey ceremony", err)
	}
	switch {
	case c.Kind != CeremonyGet:
		return nil, fail("", "registration_challenge", nil)
	case pending == nil && (c.UserID != "" || c.MFATokenHash != nil):
		return nil, fail("", "second_factor_challenge", nil)
	case pending != nil && (c.UserID != pending.ID || !bytes.Equal(c.MFATokenHash, HashToken(mfaToken))):
		return nil, fail(pending.ID, "foreign_challenge", nil)
	}
	p, err := ps.PasskeyByCredentialID(ctx, a.CredentialID)
	if errors.Is(err, ErrNotFound) {
		return nil, fail(userID(pending), "unknown_credential", nil)
	}
	if err != nil {
		return nil, storeErr("passkey lookup", err)
	}
	if pending != nil && p.UserID != pending.ID {
		return nil, fail(pending.ID, "foreign_credential", nil)
	}
	handle := a.UserHandle
	if len(handle) > 0 {
		owner, err := ps.UserIDByWebAuthnHandle(ctx, handle)
		if errors.Is(err, ErrNotFound) || (err == nil && owner != p.UserID) {
			return nil, fail(p.UserID, "wrong_user_handle", nil)
		}
		if err != nil {
			return nil, storeErr("passkey lookup", err)
		}
	} else if pending == nil {
		// A sign-in with a passkey alone names its user by the handle.
		return nil, fail(p.UserID, "no_user_handle", nil)
	} else {
		u, err := s.passkeyUser(ctx, pending)
		if err != nil {
			return nil, err
		}
		handle = u.Handle
	}
	use, err := rp.VerifyAssertion(a, c.Data, handle, p)
	if err == nil && pending == nil && !use.UserVerified {
		err = errors.New("user verification is required for a passkey alone")
	}
	if err == nil && use.BackupEligible != p.BackupEligible {
		err = errors.New("backup eligibility changed")
	}
	if err != nil {
		if _, ferr := ps.CeremonyFailed(ctx, hash, ceremonyMaxFailures); ferr != nil && !errors.Is(ferr, ErrNotFound) {
			return nil, storeErr("passkey ceremony", ferr)
		}
		return nil, fail(p.UserID, "verification_failed", err)
	}
	u, err := s.store.UserByID(ctx, p.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, fail(p.UserID, "unknown_user", nil)
	}
	if err != nil {
		return nil, storeErr("passkey user", err)
	}
	if (use.SignCount != 0 || p.SignCount != 0) && use.SignCount <= p.SignCount {
		s.audit(ctx, cl, Event{Name: EventPasskeyCloneDetected, UserID: u.ID, Email: u.Email,
			Reason: "sign_count_not_increased", Methods: Methods{MethodPasskey}})
		s.log.WarnContext(ctx, "passkey signature counter did not increase", "request_id", cl.RequestID,
			"user_id", u.ID, "passkey_id", p.ID, "stored", p.SignCount, "received", use.SignCount)
		s.tell(ctx, cl, u, NoticePasskeyCloned, p.Name)
		if _, ferr := ps.CeremonyFailed(ctx, hash, ceremonyMaxFailures); ferr != nil && !errors.Is(ferr, ErrNotFound) {
			return nil, storeErr("passkey ceremony", ferr)
		}
		return nil, invalidPasskey()
	}
	if u.Disabled {
		return nil, fail(u.ID, "disabled", nil)
	}
	if _, err := ps.ConsumeCeremony(ctx, hash, now); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fail(u.ID, "challenge_spent", nil)
		}
		return nil, storeErr("passkey ceremony", err)
	}
	ok, err := ps.UsePasskey(ctx, p.ID, p.SignCount, use.SignCount, use.BackupState, now)
	if err != nil {
		return nil, storeErr("passkey use", err)
	}
	if !ok {
		// Another assertion of this key moved the counter first.
		return nil, fail(u.ID, "counter_raced", nil)
	}
	return u, nil
}

// passkeyFailed logs a refused passkey sign-in (the detail of a
// verification failure goes to the log only) and returns the one answer. A
// second factor's failure is audited by CompleteMFA (mfa_failed), a passkey
// alone's here (login_failed).
func (s *Service) passkeyFailed(ctx context.Context, cl Client, uid, reason string, cause error, alone bool) error {
	if alone {
		s.audit(ctx, cl, Event{Name: EventLoginFailed, UserID: uid, Reason: "passkey_" + reason, Methods: Methods{MethodPasskey}})
	}
	if cause != nil {
		s.log.InfoContext(ctx, "passkey assertion refused", "request_id", cl.RequestID, "reason", reason, "error", cause.Error())
	}
	return invalidPasskey()
}
