package httpapi_test

import (
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

type harnessUser struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *harnessUser) WebAuthnID() []byte                         { return u.id }
func (u *harnessUser) WebAuthnName() string                       { return "harness" }
func (u *harnessUser) WebAuthnDisplayName() string                { return "harness" }
func (u *harnessUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// TestBrowserHarness checks the harness itself against go-webauthn alone:
// the virtual authenticator makes a discoverable, user-verified credential,
// signs an assertion with it, and a counter set lower through the DevTools
// protocol comes back lower.
func TestBrowserHarness(t *testing.T) {
	b := newBrowser(t)
	if !b.jsonHelpers() {
		t.Log("this chromium has no PublicKeyCredential.parseCreationOptionsFromJSON: the page converts base64url by hand")
	}
	rp, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Bulwark test", RPOrigins: []string{b.Origin}})
	if err != nil {
		t.Fatal(err)
	}
	user := &harnessUser{id: []byte("0123456789abcdef0123456789abcdef")}
	creation, session, err := rp.BeginRegistration(user,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired,
		}))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := json.Marshal(creation)
	resp, err := b.create(answer)
	if err != nil {
		t.Fatalf("navigator.credentials.create: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(resp)
	if err != nil {
		t.Fatalf("parse %s: %v", resp, err)
	}
	cred, err := rp.CreateCredential(user, *session, parsed)
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if !cred.Flags.UserPresent || !cred.Flags.UserVerified {
		t.Errorf("flags %+v, want UP and UV", cred.Flags)
	}
	user.creds = append(user.creds, *cred)

	vcreds := b.credentials()
	if len(vcreds) != 1 || !vcreds[0].IsResidentCredential || string(vcreds[0].UserHandle) != string(user.id) {
		t.Fatalf("virtual authenticator credentials: %+v", vcreds)
	}

	login := func() (*webauthn.Credential, error) {
		assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := json.Marshal(assertion)
		resp, err := b.get(answer)
		if err != nil {
			t.Fatalf("navigator.credentials.get: %v", err)
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(resp)
		if err != nil {
			t.Fatalf("parse %s: %v", resp, err)
		}
		return rp.ValidateDiscoverableLogin(func(rawID, handle []byte) (webauthn.User, error) { return user, nil }, *session, parsed)
	}
	got, err := login()
	if err != nil {
		t.Fatalf("ValidateDiscoverableLogin: %v", err)
	}
	if got.Authenticator.SignCount == 0 {
		t.Errorf("sign count 0 after an assertion; the virtual authenticator counts")
	}
	first := got.Authenticator.SignCount
	user.creds[0].Authenticator.SignCount = first

	b.setSignCount(vcreds[0], 0)
	got, err = login()
	if err != nil {
		t.Fatalf("login after the counter went back: %v", err)
	}
	// go-webauthn flags a counter that did not grow as a possible clone.
	if !got.Authenticator.CloneWarning {
		t.Fatalf("counter from %d back to 0: no clone warning", first)
	}
	if n := b.credentials()[0].SignCount; n != 1 {
		t.Fatalf("virtual authenticator's counter after one assertion from 0: %v, want 1", n)
	}
}
