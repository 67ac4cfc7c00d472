package storetest

import (
	"testing"
	"time"

	"github.com/bulwarkauth/bulwark/internal/auth"
)

// The sign-up and verification rule: a verification token carries the
// password of its signup, verifying puts that password in force and voids
// every other verification token of the user, tokens issued out of order
// never revive a superseded one, and a proved address takes no more links.
var verificationTests = []testCase{
	{"VerifySetsTokenPasswordAndVoidsOthers", testVerifySetsPassword},
	{"VerifyRefusesVerifiedUserAndTokenWithoutPassword", testVerifyRefuses},
	{"OutOfOrderIssueIsSuperseded", testOneTimeOutOfOrder},
	{"MarkEmailVerifiedVoidsVerificationTokens", testMarkVerifiedVoids},
	{"NewestOneTimeToken", testNewestOneTimeToken},
}

func newVerifyToken(t *testing.T, s auth.Store, userID, pwHash string, createdAt time.Time) *auth.OneTimeToken {
	t.Helper()
	tok := &auth.OneTimeToken{
		Hash: randHash(t), Kind: auth.KindVerifyEmail, UserID: userID,
		CreatedAt: createdAt, ExpiresAt: createdAt.Add(time.Hour), PasswordHash: pwHash,
	}
	noErr(t, "CreateOneTimeToken", s.CreateOneTimeToken(ctx(t), tok))
	return tok
}

func testVerifySetsPassword(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	other := newUser(t, s)
	otherTok := newVerifyToken(t, s, other.ID, "$other", t0)
	older := newVerifyToken(t, s, u.ID, "$older", t0)
	// A later signup's link is issued; the older one is superseded...
	newer := newVerifyToken(t, s, u.ID, "$newer", t0.Add(time.Second))
	now := t0.Add(time.Minute)
	_, err := s.VerifyEmailWithPassword(ctx(t), older.Hash, now)
	wantErr(t, "VerifyEmailWithPassword of a superseded token", err, auth.ErrNotFound)

	got, err := s.VerifyEmailWithPassword(ctx(t), newer.Hash, now)
	noErr(t, "VerifyEmailWithPassword", err)
	want := *newer
	want.UsedAt = now
	check(t, "VerifyEmailWithPassword", got, &want)
	after, err := s.UserByID(ctx(t), u.ID)
	noErr(t, "UserByID", err)
	if after.PasswordHash != "$newer" || !after.EmailVerified {
		t.Errorf("after verification: hash %q verified %v, want the token's hash and verified", after.PasswordHash, after.EmailVerified)
	}
	// A new password is a new credential: logins that checked the one
	// before cannot create a session after this (see ReplacePassword).
	if after.CredentialVersion != u.CredentialVersion+1 {
		t.Errorf("credential version %d after verification, want %d", after.CredentialVersion, u.CredentialVersion+1)
	}
	_, err = s.VerifyEmailWithPassword(ctx(t), newer.Hash, now)
	wantErr(t, "VerifyEmailWithPassword twice", err, auth.ErrNotFound)
	// Another user's token and account are untouched.
	o, err := s.UserByID(ctx(t), other.ID)
	noErr(t, "UserByID other", err)
	check(t, "other user", o, other)
	_, err = s.OneTimeToken(ctx(t), auth.KindVerifyEmail, otherTok.Hash, now)
	noErr(t, "other user's token still live", err)
}

func testVerifyRefuses(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	legacy := newVerifyToken(t, s, u.ID, "", t0)
	now := t0.Add(time.Minute)
	_, err := s.VerifyEmailWithPassword(ctx(t), legacy.Hash, now)
	wantErr(t, "VerifyEmailWithPassword of a token without password", err, auth.ErrNotFound)

	v := newUser(t, s)
	tok := newVerifyToken(t, s, v.ID, "$late", t0)
	noErr(t, "MarkEmailVerified", s.MarkEmailVerified(ctx(t), v.ID))
	// A token issued after the address was proved (a late signup) must not
	// set a password either.
	late := newVerifyToken(t, s, v.ID, "$later", t0.Add(time.Second))
	for _, h := range [][]byte{tok.Hash, late.Hash} {
		_, err = s.VerifyEmailWithPassword(ctx(t), h, now)
		wantErr(t, "VerifyEmailWithPassword for a verified user", err, auth.ErrNotFound)
	}
	after, err := s.UserByID(ctx(t), v.ID)
	noErr(t, "UserByID", err)
	if after.PasswordHash != v.PasswordHash {
		t.Errorf("password of a verified user changed to %q", after.PasswordHash)
	}
	// Expired.
	w := newUser(t, s)
	exp := newVerifyToken(t, s, w.ID, "$exp", t0)
	_, err = s.VerifyEmailWithPassword(ctx(t), exp.Hash, exp.ExpiresAt)
	wantErr(t, "VerifyEmailWithPassword at expiry", err, auth.ErrNotFound)
}

func testOneTimeOutOfOrder(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	newer := newVerifyToken(t, s, u.ID, "$newer", t0.Add(time.Second))
	// Issued later but for an earlier signup (resolved out of order).
	older := newVerifyToken(t, s, u.ID, "$older", t0)
	now := t0.Add(time.Minute)
	_, err := s.OneTimeToken(ctx(t), auth.KindVerifyEmail, older.Hash, now)
	wantErr(t, "token older than an existing one", err, auth.ErrNotFound)
	_, err = s.OneTimeToken(ctx(t), auth.KindVerifyEmail, newer.Hash, now)
	noErr(t, "the newer token stays live", err)
	// Same for reset tokens.
	rn := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0.Add(time.Second))
	ro := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0)
	_, err = s.OneTimeToken(ctx(t), auth.KindPasswordReset, ro.Hash, now)
	wantErr(t, "reset token older than an existing one", err, auth.ErrNotFound)
	_, err = s.OneTimeToken(ctx(t), auth.KindPasswordReset, rn.Hash, now)
	noErr(t, "the newer reset token stays live", err)
}

func testMarkVerifiedVoids(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	v := newVerifyToken(t, s, u.ID, "$pw", t0)
	r := newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0)
	noErr(t, "MarkEmailVerified", s.MarkEmailVerified(ctx(t), u.ID))
	now := t0.Add(time.Minute)
	_, err := s.OneTimeToken(ctx(t), auth.KindVerifyEmail, v.Hash, now)
	wantErr(t, "verification token after MarkEmailVerified", err, auth.ErrNotFound)
	_, err = s.OneTimeToken(ctx(t), auth.KindPasswordReset, r.Hash, now)
	noErr(t, "reset token after MarkEmailVerified", err)
	wantErr(t, "MarkEmailVerified of an unknown user", s.MarkEmailVerified(ctx(t), "usr_nobody"), auth.ErrNotFound)
}

func testNewestOneTimeToken(t *testing.T, s auth.Store) {
	u := newUser(t, s)
	_, err := s.NewestOneTimeToken(ctx(t), u.ID, auth.KindVerifyEmail)
	wantErr(t, "NewestOneTimeToken with none", err, auth.ErrNotFound)
	newVerifyToken(t, s, u.ID, "$a", t0)
	b := newVerifyToken(t, s, u.ID, "$b", t0.Add(time.Second))
	newOneTimeToken(t, s, u.ID, auth.KindPasswordReset, t0.Add(time.Hour))
	got, err := s.NewestOneTimeToken(ctx(t), u.ID, auth.KindVerifyEmail)
	noErr(t, "NewestOneTimeToken", err)
	check(t, "NewestOneTimeToken", got, b)
	// Used tokens count too.
	_, err = s.ConsumeOneTimeToken(ctx(t), auth.KindVerifyEmail, b.Hash, t0.Add(time.Minute))
	noErr(t, "ConsumeOneTimeToken", err)
	got, err = s.NewestOneTimeToken(ctx(t), u.ID, auth.KindVerifyEmail)
	noErr(t, "NewestOneTimeToken after use", err)
	if string(got.Hash) != string(b.Hash) {
		t.Error("NewestOneTimeToken skipped a used token")
	}
}
