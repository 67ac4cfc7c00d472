package httpapi_test

// The passkey end-to-end harness: headless Chromium (Debian's chromium,
// driven by chromedp over the DevTools protocol) with a virtual CTAP2
// authenticator of the WebAuthn domain, on a page the test serves at
// http://localhost:<port> (a secure context, WebAuthn L3 §5: localhost is
// potentially trustworthy). The page runs navigator.credentials.create and
// .get with the options JSON Bulwark gave, and hands the JSON of the result
// back to the test, which posts it to Bulwark.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// testPage is the application page of the end-to-end tests. It uses the
// WebAuthn L3 JSON helpers (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON and toJSON) where the browser has them, and
// converts base64url by hand otherwise.
const testPage = `<!doctype html>
<meta charset="utf-8">
<title>Bulwark passkey test page</title>
<input id="username" autocomplete="username webauthn">
<script>
const b64 = {
  dec(s) { s = s.replace(/-/g, "+").replace(/_/g, "/"); while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer; },
  enc(buf) { let s = ""; for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); },
};
function creationOptions(o) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
  return { ...o, challenge: b64.dec(o.challenge), user: { ...o.user, id: b64.dec(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map(c => ({ ...c, id: b64.dec(c.id) })) };
}
function requestOptions(o) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
  return { ...o, challenge: b64.dec(o.challenge),
    allowCredentials: (o.allowCredentials || []).map(c => ({ ...c, id: b64.dec(c.id) })) };
}
function toJSON(c) {
  if (c.toJSON) return c.toJSON();
  const r = { id: c.id, rawId: b64.enc(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment,
    clientExtensionResults: c.getClientExtensionResults(), response: {} };
  for (const k of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"])
    if (c.response[k]) r.response[k] = b64.enc(c.response[k]);
  if (c.response.getTransports) r.response.transports = c.response.getTransports();
  return r;
}
// The answer of Bulwark's begin routes is {"publicKey": {...}}.
window.passkeyCreate = async (answer) => {
  const c = await navigator.credentials.create({ publicKey: creationOptions(answer.publicKey) });
  return JSON.stringify(toJSON(c));
};
window.passkeyGet = async (answer) => {
  const c = await navigator.credentials.get({ publicKey: requestOptions(answer.publicKey) });
  return JSON.stringify(toJSON(c));
};
// Conditional UI: the request waits on the username field's autofill.
window.passkeyConditional = async (answer) => {
  if (!(await PublicKeyCredential.isConditionalMediationAvailable?.())) return "unavailable";
  const p = navigator.credentials.get({ mediation: "conditional", publicKey: requestOptions(answer.publicKey) });
  document.getElementById("username").focus();
  const c = await p;
  return JSON.stringify(toJSON(c));
};
window.jsonHelpers = typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function";
</script>
`

// chromiumPath finds Debian's chromium. Without it the test skips loudly,
// except under CI=true, where it fails: CI installs chromium (.ci/run).
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed: the passkey end-to-end test needs Debian's chromium (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; under CI=true this is a failure, .ci/run installs it")
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// browser is one headless Chromium tab on the test page, with one virtual
// authenticator.
type browser struct {
	t      testing.TB
	ctx    context.Context
	authID cdpwebauthn.AuthenticatorID
	// Origin is the test page's origin, http://localhost:<port>: list it in
	// the WebAuthn origins (and the CORS origins) of the server under test.
	Origin string
}

// newBrowser serves the test page on 127.0.0.1:0, starts Chromium on it as
// http://localhost:<port> and adds a virtual authenticator: CTAP2,
// transport internal, resident keys and user verification (which succeeds).
func newBrowser(t testing.TB) *browser {
	t.Helper()
	execPath := chromiumPath(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	}), ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(ln)
	t.Cleanup(func() { page.Close() })
	origin := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, Origin: origin}
	if err := chromedp.Do(ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("start chromium and load the test page: %v", err)
	}
	_, err = chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
		if _, err := cdp.Call(ctx, tg, cdpwebauthn.Enable, cdpwebauthn.EnableParams{EnableUI: new(false)}); err != nil {
			return cdp.Empty{}, err
		}
		res, err := cdp.Call(ctx, tg, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
				Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		b.authID = res.AuthenticatorID
		return cdp.Empty{}, err
	})
	if err != nil {
		t.Fatalf("add the virtual authenticator: %v", err)
	}
	return b
}

// run runs f against the tab with a time limit.
func (b *browser) run(f func(ctx context.Context, tg *chromedp.Target) error) error {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Func(f))
}

// ceremony runs passkeyCreate or passkeyGet on the page with the answer of
// a begin route, and returns the credential's JSON (RegistrationResponseJSON
// or AuthenticationResponseJSON) or the browser's error.
func (b *browser) ceremony(fn string, beginAnswer []byte) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](fn+"("+string(beginAnswer)+")", chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}

// create runs navigator.credentials.create with the answer of
// /v1/webauthn/register/begin.
func (b *browser) create(beginAnswer []byte) (json.RawMessage, error) {
	return b.ceremony("passkeyCreate", beginAnswer)
}

// get runs navigator.credentials.get with the answer of
// /v1/webauthn/login/begin.
func (b *browser) get(beginAnswer []byte) (json.RawMessage, error) {
	return b.ceremony("passkeyGet", beginAnswer)
}

// conditional runs navigator.credentials.get with mediation "conditional"
// (passkeys offered in the username field's autofill).
func (b *browser) conditional(beginAnswer []byte) (json.RawMessage, error) {
	return b.ceremony("passkeyConditional", beginAnswer)
}

// jsonHelpers reports whether the browser has the WebAuthn L3 JSON helpers.
func (b *browser) jsonHelpers() bool {
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("window.jsonHelpers"))
	if err != nil {
		b.t.Fatal(err)
	}
	return ok
}

// credentials returns the virtual authenticator's credentials.
func (b *browser) credentials() []*cdpwebauthn.Credential {
	b.t.Helper()
	var creds []*cdpwebauthn.Credential
	err := b.run(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: b.authID})
		creds = res.Credentials
		return err
	})
	if err != nil {
		b.t.Fatalf("get the authenticator's credentials: %v", err)
	}
	return creds
}

// addCredentialParams is WebAuthn.addCredential with only the fields this
// test sets: cdproto's Credential always sends
// generateCmtgKeyOnNextOperation, which Chromium refuses from an
// authenticator without the cmtgKey extension.
type addCredentialParams struct {
	AuthenticatorID cdpwebauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
		BackupEligibility    bool    `json:"backupEligibility"`
		BackupState          bool    `json:"backupState"`
	} `json:"credential"`
}

var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: cdpwebauthn.CommandAddCredential}

// addCredential puts c in the virtual authenticator (a copy of a key on
// another device, or the same key with another counter).
func (b *browser) addCredential(c *cdpwebauthn.Credential) {
	b.t.Helper()
	p := addCredentialParams{AuthenticatorID: b.authID}
	p.Credential.CredentialID, p.Credential.IsResidentCredential, p.Credential.RpID = c.CredentialID, c.IsResidentCredential, c.RpID
	p.Credential.PrivateKey, p.Credential.UserHandle, p.Credential.SignCount = c.PrivateKey, c.UserHandle, c.SignCount
	p.Credential.BackupEligibility, p.Credential.BackupState = c.BackupEligibility, c.BackupState
	err := b.run(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, addCredential, p)
		return err
	})
	if err != nil {
		b.t.Fatalf("add a credential: %v", err)
	}
}

// setSignCount replaces the credential with the same key and user handle at
// another signature counter: the next assertion reports n+1. Setting it
// below what the server saw makes the counter go backwards, as a cloned
// authenticator's would (WebAuthn L3 §6.1.1).
func (b *browser) setSignCount(c *cdpwebauthn.Credential, n float64) {
	b.t.Helper()
	err := b.run(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpwebauthn.RemoveCredential, cdpwebauthn.RemoveCredentialParams{AuthenticatorID: b.authID, CredentialID: c.CredentialID})
		return err
	})
	if err != nil {
		b.t.Fatalf("remove the credential: %v", err)
	}
	cp := *c
	cp.SignCount = n
	b.addCredential(&cp)
}
